import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { describeMachine, loadAverage } from '../bench/report.js'
import { serverEntry } from '../bench/service.js'
import { mapLimited } from '#ops/map-limited.js'
import { ROOM_NAME_PREFIX } from '#sessions/room-name.js'
import { Balancer, PROBE_EVERY_MS, PROBE_FAILURES_OUT } from './chaos-balancer.js'
import { Checker } from './chaos-checker.js'
import { consoleSummary, FAULT_NAMES, markdown, phaseTitle, summarize, type ChaosFacts, type FaultName, type PhaseFacts, type PhaseName, type RoomRecord, type Settings } from './chaos-report.js'
import { Stack } from './chaos-stack.js'
import { livekitServerBin } from './livekit-server.js'
import { formatReport, summarize as summarizeLoad } from './loadtest-report.js'
import { LoadTest, POLL_INTERVAL_MS } from './loadtest-run.js'
import { findRedisServer } from './redis-server.js'
import { signHs256 } from './user-jwt.js'

/**
 * `npm run chaos`: the load-test mix against two replicas of the built service on one Redis, a
 * real livekit-server with webhooks and the reference agent worker, while faults come one after
 * another, each followed by a settle phase; writes RELIABILITY.md (or --out) and exits 1 when a
 * bound is broken. Knobs (flag, or environment): see USAGE.
 */

const USAGE = `usage: npm run chaos [-- options]   (after npm run build)
  --faults <list>               CHAOS_FAULTS               which faults, in this order (default: ${FAULT_NAMES.join(',')})
  --users <n>                   CHAOS_USERS                load-test users (default 10)
  --session-seconds <s>         CHAOS_SESSION_SECONDS      a load-test session's length (default 20)
  --witnesses <n>               CHAOS_WITNESSES            sessions per phase that live through its fault (default 3)
  --baseline-seconds <s>        CHAOS_BASELINE_SECONDS     the load before the first fault (default 20)
  --stall-seconds <s>           CHAOS_STALL_SECONDS        how long Redis and LiveKit are stalled (default 5)
  --webhooks-cut-seconds <s>    CHAOS_WEBHOOKS_CUT_SECONDS how long webhooks are dropped (default 30)
  --settle-seconds <s>          CHAOS_SETTLE_SECONDS       the load after each fault before the census (default 20)
  --out <file>                  CHAOS_OUT                  where the report goes (default RELIABILITY.md; empty: printed only)`

function usageError (message: string): never {
  console.error(`npm run chaos: ${message}\n${USAGE}`)
  process.exit(2)
}

const t0 = performance.now()
/** The run's clock: ms since it began. */
const now = (): number => performance.now() - t0

function say (line: string): void {
  process.stderr.write(`chaos: ${(now() / 1000).toFixed(1)} s: ${line}\n`)
}

const OPTIONS = {
  faults: 'CHAOS_FAULTS',
  users: 'CHAOS_USERS',
  'session-seconds': 'CHAOS_SESSION_SECONDS',
  witnesses: 'CHAOS_WITNESSES',
  'baseline-seconds': 'CHAOS_BASELINE_SECONDS',
  'stall-seconds': 'CHAOS_STALL_SECONDS',
  'webhooks-cut-seconds': 'CHAOS_WEBHOOKS_CUT_SECONDS',
  'settle-seconds': 'CHAOS_SETTLE_SECONDS',
  out: 'CHAOS_OUT'
} as const
type Option = keyof typeof OPTIONS

let flags: Partial<Record<Option, string>> & { help?: boolean }
try {
  ({ values: flags } = parseArgs({
    options: { ...Object.fromEntries(Object.keys(OPTIONS).map((name) => [name, { type: 'string' }])), help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false
  }) as { values: typeof flags })
} catch (err) {
  usageError((err as Error).message)
}
if (flags.help === true) {
  console.log(USAGE)
  process.exit(0)
}

/** The flag, else its environment variable, else undefined. */
const raw = (name: Option): string | undefined => flags[name] ?? process.env[OPTIONS[name]]

function whole (name: Option, fallback: number, min: number, max: number): number {
  const value = raw(name)
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) usageError(`--${name} (${OPTIONS[name]}) must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`)
  return Number(value)
}

const faults = (raw('faults') ?? FAULT_NAMES.join(',')).split(',').map((name) => name.trim()).filter((name) => name !== '')
for (const name of faults) if (!(FAULT_NAMES as readonly string[]).includes(name)) usageError(`--faults names ${JSON.stringify(name)}; the faults are ${FAULT_NAMES.join(', ')}`)
const sessionSeconds = whole('session-seconds', 20, POLL_INTERVAL_MS / 1000 + 1, 240)
const settings: Settings = {
  users: whole('users', 10, 1, 1000),
  sessionSeconds,
  witnesses: whole('witnesses', 3, 0, 50),
  baselineSeconds: whole('baseline-seconds', 20, 1, 3600),
  stallSeconds: whole('stall-seconds', 5, 1, 600),
  webhooksCutSeconds: whole('webhooks-cut-seconds', 30, 1, 3600),
  settleSeconds: whole('settle-seconds', 20, 1, 3600),
  checkEveryMs: 500,
  faults: faults as FaultName[],
  probe: `\`GET /ready\` of each replica every ${PROBE_EVERY_MS} ms; out of the rotation after ${PROBE_FAILURES_OUT} failed probes in a row, back after one that passed`,
  service: ''
}
const out = raw('out') ?? 'RELIABILITY.md'

if (!existsSync(serverEntry)) usageError(`${serverEntry} is missing: run \`npm run build\` first`)
if (findRedisServer() === undefined) usageError('redis-server is not installed (apt-get install redis-server, or npm run pretest as root)')

/** A phase's planned length, for the run's overall bound. */
function plannedSeconds (name: PhaseName): number {
  const fault = name === 'baseline' ? settings.baselineSeconds : name === 'webhooks-cut' ? settings.webhooksCutSeconds : name.endsWith('stall') ? settings.stallSeconds : 30
  return fault + (name === 'baseline' ? 0 : settings.settleSeconds) + 30
}
// Start-up, each phase with its witnesses and census, the load test's clean-up: past this, something hangs.
const boundSeconds = 240 + ['baseline' as const, ...settings.faults].reduce((sum, name) => sum + plannedSeconds(name), 0)
const watchdog = setTimeout(() => {
  say(`did not finish within ${boundSeconds} s; exiting (every process it started goes with it)`)
  process.exit(1)
}, boundSeconds * 1000)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    say(`${signal}: exiting; every process it started goes with it`)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  })
}

const startedAt = new Date()
const loadBefore = loadAverage()
const runId = randomBytes(3).toString('hex')
const jwtSecret = randomBytes(32).toString('hex')
const tokenFor = (sub: string): string => signHs256(jwtSecret, { sub, email: `${sub}@example.com`, exp: Math.floor(Date.now() / 1000) + 24 * 3600 })
const roomPrefix = `${ROOM_NAME_PREFIX}loadtest-${runId}-`

const balancer = new Balancer(now)
await balancer.listen()
say(`run ${runId}: starting redis-server, livekit-server, the agent worker and 2 replicas behind the balancer at ${balancer.url}`)
const stack = await Stack.start({
  balancer,
  jwtSecret,
  authorization: `Bearer ${tokenFor(`loadtest-${runId}-probe`)}`,
  // Every load session and witness at once, twice over (a job lingers a moment after its room ends).
  maxJobs: 2 * (settings.users + settings.witnesses) + 2,
  now
})
settings.service = stack.describeService()

const checker = new Checker({
  livekit: stack.livekit,
  serviceUrl: balancer.url,
  roomPrefix,
  tokenFor,
  started: balancer.started,
  ended: balancer.ended,
  now,
  everyMs: settings.checkEveryMs
})
const load = new LoadTest({ url: new URL(balancer.url), users: settings.users, durationMs: boundSeconds * 1000, sessionMs: sessionSeconds * 1000, runId, tokenFor })
const refusal = await load.preflight()
if (refusal !== undefined) {
  say(`the service refused the load before it began: ${refusal}`)
  await stack.stop()
  process.exit(1)
}
checker.start()
const loadRun = load.run()
const progress = setInterval(() => {
  say(`${load.progress(now())}; checker: ${checker.roundGapsMs.length} rounds, ${checker.clock.closed.length} disagreements closed; ${balancer.readyCount()} replicas ready`)
}, 10_000)
progress.unref()

let witnessRequests = 0
/** A witness's request through the balancer, tried until `done` accepts its status (at most `tries` times, 1 s apart). */
async function witnessCall (sub: string, method: string, path: string, done: (status: number) => boolean, tries = 15): Promise<{ status: number, body: unknown } | undefined> {
  for (let attempt = 0; attempt < tries; attempt++) {
    try {
      const response = await fetch(`${balancer.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${tokenFor(sub)}`, 'x-request-id': `chaos-witness-${++witnessRequests}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        body: method === 'POST' ? '{"agent_type":"general"}' : undefined,
        signal: AbortSignal.timeout(10_000)
      })
      const answer = { status: response.status, body: await response.json().catch(() => undefined) }
      if (done(answer.status)) return answer
    } catch {}
    await sleep(1000)
  }
  return undefined
}

/** Starts a phase's witness sessions, each for a user of its own; their rooms. */
async function startWitnesses (phase: number): Promise<Array<{ sub: string, room: string }>> {
  const started = await mapLimited(Array.from({ length: settings.witnesses }, (_, k) => `loadtest-${runId}-w${phase}-${k}`), 4, async (sub) => {
    const answer = await witnessCall(sub, 'POST', '/api/v1/voice-sessions/start', (status) => status === 200)
    const room = (answer?.body as { room_name?: string } | undefined)?.room_name
    return room === undefined ? undefined : { sub, room }
  })
  return started.filter((witness) => witness !== undefined)
}

async function endWitnesses (witnesses: Array<{ sub: string, room: string }>): Promise<void> {
  await mapLimited(witnesses, 4, async ({ sub, room }) => {
    await witnessCall(sub, 'DELETE', `/api/v1/voice-sessions/${encodeURIComponent(room)}`, (status) => status === 200 || status === 404)
  })
}

/** The longest a phase waits for its witnesses' agents before its fault: a fault should meet sessions with their agent in. */
const WITNESS_AGENT_WAIT_MS = 20_000

const phases: PhaseFacts[] = []
/** One phase: its witnesses start (and their agents join), the fault comes and goes, the load settles, the census, the witnesses end. */
async function runPhase (name: PhaseName, index: number): Promise<void> {
  const start = now()
  say(`${phaseTitle(name, settings)}: starting`)
  const witnesses = await startWitnesses(index)
  const joined = await stack.worker.joined(witnesses.map((w) => w.room), WITNESS_AGENT_WAIT_MS)
  say(`${witnesses.length} of ${settings.witnesses} witness sessions started; ${joined ? 'their agents joined' : `not every agent joined within ${WITNESS_AGENT_WAIT_MS / 1000} s; going on`}`)
  let faultFrom: number | undefined
  let faultTo: number | undefined
  if (name === 'baseline') {
    await sleep(settings.baselineSeconds * 1000)
  } else {
    faultFrom = now()
    await stack.apply(name, (name === 'webhooks-cut' ? settings.webhooksCutSeconds : settings.stallSeconds) * 1000)
    faultTo = now()
    say(`${name}: undone after ${((faultTo - faultFrom) / 1000).toFixed(1)} s; settling for ${settings.settleSeconds} s`)
    await sleep(settings.settleSeconds * 1000)
  }
  const census = await checker.census()
  await endWitnesses(witnesses)
  const away = name === 'redis-restart' || name === 'redis-stall' ? 'Redis' : name === 'livekit-stall' ? 'LiveKit' : undefined
  phases.push({ name, start, end: now(), faultFrom, faultTo, away, census })
  say(`${name}: census: ${census.lost.length} lost, ${census.outlived.length} outlived their end, ${census.orphans.length} orphans, ${census.ghosts.length} ghosts`)
  const died = stack.died()
  if (died !== undefined) throw new Error(`a process of the run died by itself: ${died}`)
}

let failure: Error | undefined
try {
  await runPhase('baseline', 0)
  for (const [i, fault] of settings.faults.entries()) await runPhase(fault, i + 1)
} catch (err) {
  failure = err as Error
}
load.interrupt('SIGTERM')
await loadRun
clearInterval(progress)
await checker.stop()
const leftInLivekit = [...(await checker.readLivekit())?.keys() ?? ['(LiveKit did not answer)']]

const rooms = new Map<string, RoomRecord>()
const room = (name: string): RoomRecord => {
  let record = rooms.get(name)
  if (record === undefined) {
    record = { room: name, startedAt: balancer.started.get(name), lastLiveAt: 0, jobs: 0, joins: stack.worker.joinsByRoom.get(name) ?? 0, agentJoinedAt: stack.worker.joinedAt.get(name) }
    record.lastLiveAt = Math.max(record.startedAt ?? 0, balancer.ended.get(name) ?? 0, checker.lastLive.get(name) ?? 0)
    rooms.set(name, record)
  }
  return record
}
for (const name of [...balancer.started.keys(), ...checker.lastLive.keys(), ...stack.worker.joinsByRoom.keys()]) if (name.startsWith(roomPrefix)) room(name)
let unnamedJobs = 0
for (const [sid, jobs] of stack.worker.jobsBySid) {
  const name = checker.sids.get(sid)
  if (name === undefined) unnamedJobs += jobs
  else room(name).jobs += jobs
}
await stack.stop()
await balancer.close()
clearTimeout(watchdog)

process.stderr.write(formatReport(summarizeLoad({
  url: balancer.url,
  runId,
  users: settings.users,
  durationSeconds: Math.round(now() / 1000),
  sessionSeconds,
  pollSeconds: POLL_INTERVAL_MS / 1000,
  maxP99Ms: Number.POSITIVE_INFINITY,
  loadSeconds: load.loadSeconds,
  interrupted: undefined,
  stats: load.stats,
  sessions: load.sessions
})))

if (failure !== undefined) {
  say(`the run broke off: ${failure.message}`)
  process.exit(1)
}

const facts: ChaosFacts = {
  startedAt,
  seconds: now() / 1000,
  loadBefore,
  loadAfter: loadAverage(),
  machine: describeMachine(livekitServerBin, findRedisServer()),
  settings,
  phases,
  answers: balancer.answers,
  webhooks: balancer.webhooks,
  disagreements: checker.clock.closed,
  roundGapsMs: checker.roundGapsMs,
  rooms: [...rooms.values()],
  unnamedJobs,
  leftBehind: load.sessions.leftBehind,
  leftInLivekit
}
const summary = summarize(facts)
process.stdout.write(consoleSummary(summary))
if (out !== '') {
  mkdirSync(dirname(resolve(out)), { recursive: true })
  writeFileSync(resolve(out), markdown(facts, summary))
  say(`written to ${out}`)
}
process.exit(summary.exitCode)
