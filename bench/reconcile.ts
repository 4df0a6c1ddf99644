import { resolve } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { RoomServiceClient, type Room } from 'livekit-server-sdk'
import type { MetricObjectWithValues, MetricValueWithName } from 'prom-client'
import { livekitServerBin, startLivekitServer } from '../scripts/livekit-server.js'
import { findRedisServer, startRedisServer, type RunningRedis } from '../scripts/redis-server.js'
import { loadConfig } from '../src/config.js'
import { createMemoryStore } from '#index/memory-store.js'
import { createReconciler, RECONCILE_READS_AT_ONCE, RECONCILE_REREADS_PER_PASS } from '#index/reconcile.js'
import { createRedisStore } from '#index/redis-store.js'
import type { NewSession, SessionStore } from '#index/session-store.js'
import { createLivekit } from '#livekit/livekit.js'
import { createdAtMsOf } from '#livekit/room-time.js'
import { mapLimited } from '#ops/map-limited.js'
import { createMetrics } from '#ops/metrics.js'
import { DEFAULT_KEY_PREFIX, redisKeys } from '#redis/keys.js'
import { parseSessionMetadata } from '#sessions/metadata.js'
import { writeSection } from './section.js'
import { otherLoadMeter, processSeconds } from './cpu.js'
import { benchKnobs } from './knobs.js'
import { describeMachine, loadAverage } from './report.js'
import { createOtherRooms } from './rooms.js'

/**
 * `npx tsx bench/reconcile.ts`: what one pass of the session index's reconcile (src/index/reconcile.ts)
 * costs, against a real livekit-server on loopback, with N session rooms (the service's metadata)
 * indexed in memory and in Redis: each pass with every session heard by webhook since the last pass,
 * and with none heard (webhooks silent: every session's people read again). For each: the pass's
 * duration, LiveKit calls by method (the service's own `livekit_request_duration_seconds`), the CPU
 * time this process spent (process.cpuUsage: the leading replica's cost), livekit-server's and
 * redis-server's; and from them LiveKit calls per second and the leading replica's CPU share at the
 * default RECONCILE_INTERVAL_MS. Prints a table and writes it as the "The reconcile" section of
 * BENCHMARKS.md, the rest of the file untouched.
 * Knobs (environment): BENCH_RECONCILE_SESSIONS (1000,10000), BENCH_RECONCILE_STORES (memory,redis),
 * BENCH_RECONCILE_ROUNDS (3: the median pass of these), BENCH_OUT (BENCHMARKS.md; empty: printed only).
 */

const { fail, integers, positive } = benchKnobs('bench/reconcile.ts')

const STORE_KINDS = ['memory', 'redis'] as const
type StoreKind = typeof STORE_KINDS[number]
type Mode = 'heard' | 'silent'
const MODE_LABELS: Record<Mode, string> = { heard: 'every session', silent: 'none (silent)' }

const SESSIONS = integers('BENCH_RECONCILE_SESSIONS', '1000,10000', 1)
const ROUNDS = positive('BENCH_RECONCILE_ROUNDS', 3, { integer: true })
const STORES = (process.env.BENCH_RECONCILE_STORES ?? STORE_KINDS.join(',')).split(',').map((name) => name.trim()) as StoreKind[]
for (const kind of STORES) if (!STORE_KINDS.includes(kind)) fail(`BENCH_RECONCILE_STORES must name some of ${STORE_KINDS.join(', ')} (got "${kind}")`)
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'
const HEADING = '## The reconcile'
/** Index writes in flight at once while the bench fills the index or marks sessions heard (not measured). */
const SETUP_WRITES_AT_ONCE = 64

if (STORES.includes('redis') && findRedisServer() === undefined) fail('BENCH_RECONCILE_STORES names redis and redis-server is not installed (apt-get install redis-server)')

interface Pass {
  sessions: number
  store: StoreKind
  mode: Mode
  durationMs: number
  /** LiveKit calls by operation (`ListRooms`, `ListParticipants`). */
  calls: Record<string, number>
  /** CPU seconds: this process (the leading replica), livekit-server, redis-server. */
  cpuS: number
  livekitCpuS: number
  redisCpuS: number
  /** Cores other work on the machine kept busy meanwhile, and the 1-minute load average after the pass (of several: their range). */
  otherCores: number
  load: string
}

const startedAt = new Date()
const loadBefore = loadAverage()
console.log(`bench/reconcile.ts: ${SESSIONS.join(', ')} sessions; ${STORES.join(', ')}; the median of ${ROUNDS} passes each. Load average ${loadBefore}.`)

const livekit = await startLivekitServer()
let redis: RunningRedis | undefined
// Service defaults (RECONCILE_INTERVAL_MS, LIVEKIT_REQUEST_TIMEOUT_MS, REDIS_COMMAND_TIMEOUT_MS), whatever the environment says.
const config = loadConfig({
  env: false,
  dotenv: false,
  data: { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: livekit.apiKey, LIVEKIT_API_SECRET: livekit.apiSecret, JWT_SECRET: 'bench-jwt-secret-of-at-least-thirty-two-bytes' }
})
const intervalMs = config.RECONCILE_INTERVAL_MS
const livekitPid = livekit.process.pid ?? 0
const sdk = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret, { requestTimeout: 120 })
const metrics = createMetrics()
const client = createLivekit(config, metrics)
const quiet = () => {}
const log = { trace: quiet, debug: quiet, info: quiet, warn: console.warn, error: console.error, fatal: console.error } as unknown as FastifyBaseLogger

/** LiveKit calls made so far through `client`, by operation; throws on any that failed (the pass would not be the one measured). */
async function livekitCalls (): Promise<Record<string, number>> {
  const histogram = await metrics.registry.getSingleMetric('livekit_request_duration_seconds')?.get() as MetricObjectWithValues<MetricValueWithName<string>> | undefined
  const counts: Record<string, number> = {}
  for (const { metricName, labels, value } of histogram?.values ?? []) {
    if (metricName !== 'livekit_request_duration_seconds_count' || value === 0) continue
    if (labels.outcome !== 'ok') throw new Error(`${value} LiveKit ${String(labels.operation)} calls failed (${String(labels.outcome)})`)
    counts[String(labels.operation)] = value
  }
  return counts
}

function difference (after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([operation, count]) => [operation, count - (before[operation] ?? 0)]).filter(([, count]) => count !== 0))
}

function sessionOf (room: Room): NewSession {
  const metadata = parseSessionMetadata(room.metadata)
  if (metadata === undefined) throw new Error(`room ${room.name} has no session metadata`)
  return { roomName: room.name, userId: metadata.user_id, agentType: metadata.agent_type, createdAtMs: createdAtMsOf(room) }
}

/** A new, empty store of `kind` (a flushed Redis), and how to let it go. */
async function emptyStore (kind: StoreKind): Promise<{ store: SessionStore, close: () => Promise<void> }> {
  if (kind === 'memory') return { store: createMemoryStore(), close: async () => {} }
  redis ??= await startRedisServer()
  // As plugins/app/redis.ts connects.
  const connection = new Redis(redis.url, { maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS })
  await connection.flushall()
  return { store: createRedisStore(connection, redisKeys(DEFAULT_KEY_PREFIX)), close: async () => { await connection.quit() } }
}

/** The processes other than this one whose CPU time the pass may spend. */
function ourProcesses (): number[] {
  return [livekitPid, redis?.server.process.pid].filter((pid) => pid !== undefined)
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number

/** One reconcile pass, measured; checks that it did what `mode` means for `sessions` live sessions. */
async function measurePass (reconciler: ReturnType<typeof createReconciler>, sessions: number, store: StoreKind, mode: Mode): Promise<Pass> {
  const callsBefore = await livekitCalls()
  const other = otherLoadMeter(ourProcesses)
  const livekitBefore = processSeconds(livekitPid)
  const redisPid = redis?.server.process.pid
  const redisBefore = redisPid === undefined ? 0 : processSeconds(redisPid)
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const result = await reconciler.reconcile().catch((err: unknown) => {
    // As in the service, one failed LiveKit call ends the pass (a LiveKit starved of CPU outlasts LIVEKIT_REQUEST_TIMEOUT_MS).
    throw new Error(`the pass (${sessions} sessions, ${store}, heard: ${MODE_LABELS[mode]}) failed after ${seconds(performance.now() - started)} s, load average ${loadAverage()}`, { cause: err })
  })
  const durationMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const pass: Pass = {
    sessions,
    store,
    mode,
    durationMs,
    calls: difference(await livekitCalls(), callsBefore),
    cpuS: (cpu.user + cpu.system) / 1e6,
    livekitCpuS: processSeconds(livekitPid) - livekitBefore,
    redisCpuS: redisPid === undefined || store !== 'redis' ? 0 : processSeconds(redisPid) - redisBefore,
    otherCores: other.stop(),
    load: loadAverage()
  }
  const reread = mode === 'silent' ? Math.min(sessions, RECONCILE_REREADS_PER_PASS) : 0
  if (result.checked !== sessions || result.closed !== 0 || result.reread !== reread) {
    throw new Error(`the pass did not do what was measured: ${JSON.stringify(result)}, expected ${sessions} checked, 0 closed, ${reread} re-read`)
  }
  console.log(`${sessions} sessions, ${store}, heard: ${MODE_LABELS[mode]}: ${(durationMs / 1000).toFixed(2)} s, ${JSON.stringify(pass.calls)}, CPU ${pass.cpuS.toFixed(2)} s (livekit-server ${pass.livekitCpuS.toFixed(2)} s, redis-server ${pass.redisCpuS.toFixed(2)} s), other work ${pass.otherCores.toFixed(2)} cores, load ${pass.load}`)
  return pass
}

/** The median of `passes` (alike but for their times): duration and CPU times each the median of theirs. */
function medianPass (passes: Pass[]): Pass {
  const first = passes[0] as Pass
  return {
    ...first,
    durationMs: median(passes.map((pass) => pass.durationMs)),
    cpuS: median(passes.map((pass) => pass.cpuS)),
    livekitCpuS: median(passes.map((pass) => pass.livekitCpuS)),
    redisCpuS: median(passes.map((pass) => pass.redisCpuS)),
    otherCores: median(passes.map((pass) => pass.otherCores)),
    load: [...new Set([Math.min, Math.max].map((pick) => pick(...passes.map((pass) => Number(pass.load))).toFixed(2)))].join('-')
  }
}

/**
 * Both kinds of pass over `rooms` indexed in a new store of `kind`: first an uncounted pass (JIT,
 * sockets, Redis's scripts), then ROUNDS silent passes (every session was indexed and never heard
 * of), then ROUNDS heard ones, every session marked heard just before each (as webhooks would have).
 */
async function measureStore (kind: StoreKind, rooms: Room[]): Promise<Pass[]> {
  const { store, close } = await emptyStore(kind)
  try {
    const sessions = rooms.map(sessionOf)
    await mapLimited(sessions, SETUP_WRITES_AT_ONCE, async (session) => await store.add(session, Date.now()))
    const reconciler = createReconciler({ store, livekit: client, intervalMs, log })
    await reconciler.reconcile()
    const silent: Pass[] = []
    for (let round = 0; round < ROUNDS; round++) silent.push(await measurePass(reconciler, rooms.length, kind, 'silent'))
    const heard: Pass[] = []
    for (let round = 0; round < ROUNDS; round++) {
      await mapLimited(sessions, SETUP_WRITES_AT_ONCE, async (session) => { await store.applyEvent({ event: 'room_started', session }, { id: '', atMs: Date.now() }) })
      heard.push(await measurePass(reconciler, rooms.length, kind, 'heard'))
    }
    return [medianPass(heard), medianPass(silent)]
  } finally {
    await close()
  }
}

const int = (value: number) => Math.round(value).toLocaleString('en-US')
const seconds = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1)
const perSecond = (value: number) => value < 10 ? value.toFixed(1) : int(value)
const ms = (value: number) => value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : int(value)
const share = (value: number) => `${(value * 100).toFixed(value < 0.01 ? 2 : 1)}%`
const totalCalls = (pass: Pass) => Object.values(pass.calls).reduce((sum, count) => sum + count, 0)

function table (passes: Pass[]): string {
  const header = ['sessions', 'index', 'heard by webhook since the last pass', 'pass (s)', '`ListRooms`', '`ListParticipants`',
    'LiveKit calls/s over the interval', 'LiveKit calls/s during the pass', 'CPU (s)', `CPU share at ${int(intervalMs / 1000)} s`,
    'livekit-server CPU (s)', 'redis-server CPU (s)', 'load average (1 min)', 'other work (cores)']
  const rows = passes.map((pass) => [
    int(pass.sessions), pass.store === 'memory' ? 'memory' : 'Redis', MODE_LABELS[pass.mode], seconds(pass.durationMs),
    int(pass.calls.ListRooms ?? 0), int(pass.calls.ListParticipants ?? 0),
    perSecond(totalCalls(pass) / (intervalMs / 1000)), perSecond(totalCalls(pass) / (pass.durationMs / 1000)),
    pass.cpuS.toFixed(2), share(pass.cpuS / (intervalMs / 1000)),
    pass.livekitCpuS.toFixed(2), pass.store === 'redis' ? pass.redisCpuS.toFixed(2) : '-', pass.load, pass.otherCores.toFixed(2)
  ])
  const align = header.map((_, i) => i < 3 ? '---' : '---:')
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/** The reading under the table: the replica's cost at the largest N, then LiveKit's, against the smallest N. */
function reading (passes: Pass[]): string {
  const counts = passes.map((pass) => pass.sessions)
  const [smallest, largest] = [Math.min(...counts), Math.max(...counts)]
  const store: StoreKind = passes.some((pass) => pass.store === 'redis') ? 'redis' : 'memory'
  const at = (sessions: number, mode: Mode) => passes.find((pass) => pass.sessions === sessions && pass.store === store && pass.mode === mode)
  const heard = at(largest, 'heard')
  const silent = at(largest, 'silent')
  const heardSmall = at(smallest, 'heard')
  if (heard === undefined || silent === undefined || heardSmall === undefined) return ''
  const intervalS = intervalMs / 1000
  const rate = (pass: Pass) => perSecond(totalCalls(pass) / intervalS)
  const listRoomsMs = (pass: Pass) => ms(pass.livekitCpuS * 1000 / (pass.calls.ListRooms ?? 1))
  const longest = passes.reduce((most, pass) => pass.durationMs > most.durationMs ? pass : most)
  const replica = `At ${int(largest)} sessions on ${store === 'redis' ? 'Redis' : 'memory'}, a pass while webhooks arrive makes ${int(heard.calls.ListRooms ?? 0)} \`ListRooms\` ` +
    `(every room) and ${int(heard.calls.ListParticipants ?? 0)} \`ListParticipants\` (${rate(heard)} LiveKit calls/s; ${share(heard.cpuS / intervalS)} of one core ` +
    `in the leading replica), and with webhooks silent ${int(totalCalls(silent))} (${rate(silent)} calls/s; ${share(silent.cpuS / intervalS)} of a core: ${int(RECONCILE_REREADS_PER_PASS)} quiet sessions re-read a pass at most, taking turns); ` +
    `the longest pass took ${seconds(longest.durationMs)} s, ${longest.durationMs < intervalMs ? 'inside' : '**longer than**'} the ${int(intervalS)} s interval.`
  const livekitCost = `LiveKit's cost: ${heard.livekitCpuS.toFixed(2)} s of livekit-server CPU a pass while webhooks arrive (${share(heard.livekitCpuS / intervalS)} of a core), ` +
    `${listRoomsMs(heard)} ms of it per \`ListRooms\` at ${int(largest)} sessions against ${listRoomsMs(heardSmall)} ms at ${int(smallest)}. A livekit-server without Redis finds ` +
    'named rooms by scanning all of its rooms (`LocalStore.ListRooms`), so reading sessions by name in chunks of 100 (the pass before this one) cost it in proportion to the square of the sessions: 7.8 s of CPU a pass at 10,000; one full list costs it in proportion to the rooms.'
  return `${replica}\n${livekitCost}`
}

function section (passes: Pass[], runSeconds: number, loadAfter: string): string {
  const machine = describeMachine(livekitServerBin, STORES.includes('redis') ? findRedisServer() : undefined)
  return `${HEADING}

Written by \`npx tsx bench/reconcile.ts\` (BENCH_RECONCILE_SESSIONS=${SESSIONS.join(',')} BENCH_RECONCILE_STORES=${STORES.join(',')} BENCH_RECONCILE_ROUNDS=${ROUNDS}).
Started ${startedAt.toISOString()}; the run took ${Math.round(runSeconds)} s. ${machine.cpu}, ${machine.cores} cores;
Node ${machine.node}, livekit-server ${machine.livekitServer}, redis-server ${machine.redisServer}; ${machine.packages}; commit ${machine.commit}.
Load average (1 min) before the run ${loadBefore}, after it ${loadAfter}: the machine was shared with other work (the "other work" column: cores it took during each pass, out of ${machine.cores}).

One pass of the session index's reconcile (\`src/index/reconcile.ts\`, called directly as its periodic job calls
it, with \`RECONCILE_INTERVAL_MS\` at its default, ${int(intervalMs)} ms) against one livekit-server on loopback
(\`room.auto_create: false\`) holding N session rooms made as the service's start makes them, each indexed
in a new store: the process's memory, or a throwaway redis-server (as \`plugins/app/redis.ts\` connects).
The pass lists LiveKit's rooms once (\`ListRooms()\`), confirms each indexed session LiveKit has (one index
write each), and reads the people (\`ListParticipants\`, ${RECONCILE_READS_AT_ONCE} at a time, ${int(RECONCILE_REREADS_PER_PASS)} a pass at most)
only of sessions no webhook spoke of since the last pass: "every session" had each marked heard
(\`store.heard\`) just before the pass, as arriving webhooks would; "none (silent)" had none. Each row is the
median of ${ROUNDS} passes, after an uncounted one; calls are counted by the service's own
\`livekit_request_duration_seconds\`, CPU is this process's (\`process.cpuUsage\`: what the leading replica
spends) and the servers' (\`/proc\`). A replica's pass starts an interval after its last one finished and
leads for one interval, so passes come at most once per interval: "over the interval" is the calls of one
pass over ${int(intervalMs / 1000)} s, an upper bound, and "CPU share" this process's CPU time over the same, of one core.

${table(passes)}

${reading(passes)}
`
}

const passes: Pass[] = []
let finished = false
try {
  const rooms: Room[] = []
  for (const sessions of SESSIONS) {
    const making = performance.now()
    rooms.push(...await createOtherRooms(sdk, rooms.length, sessions))
    // A pass judges the sessions LiveKit made more than its clock margin (2 s) before its list.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    console.log(`\n${int(sessions)} session rooms in LiveKit (${((performance.now() - making) / 1000).toFixed(1)} s to make them)`)
    for (const kind of STORES) passes.push(...await measureStore(kind, rooms))
  }
  finished = true
} finally {
  await client.close()
  await livekit.stop()
  await redis?.stop()
}

if (finished) {
  const text = section(passes, (Date.now() - startedAt.getTime()) / 1000, loadAverage())
  console.log(`\n${text}`)
  if (OUT !== '') {
    writeSection(resolve(OUT), HEADING, text)
    console.log(`Written to ${OUT} (its "${HEADING.slice(3)}" section).`)
  }
}
