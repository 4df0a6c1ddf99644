import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import type { Measured } from './load.js'
import { imageNodeOptions } from './service.js'

/** What `npm run bench` prints and writes to BENCHMARKS.md: the machine, the figures and the targets. */

const root = join(import.meta.dirname, '..')

export const ENDPOINTS = ['start', 'status', 'active', 'end'] as const
export type Endpoint = typeof ENDPOINTS[number]

export const ROUTES: Record<Endpoint, string> = {
  start: 'POST /voice-sessions/start',
  status: 'GET /voice-sessions/{room}/status',
  active: 'GET /voice-sessions/active',
  end: 'DELETE /voice-sessions/{room}'
}

/** The bare SDK calls each endpoint is set beside: what the seed plan's design makes per request. */
export const FLOORS: Record<Endpoint, string> = {
  start: 'createRoom + AccessToken.toJwt()',
  status: 'listRooms([name])',
  active: 'listRooms()',
  end: 'deleteRoom(name)'
}

/** The least share of the floor's req/s each endpoint should reach (end has no target). */
export const RATIO_TARGETS: Partial<Record<Endpoint, number>> = { status: 10, active: 10, start: 1.0 }
/** status and active p50 at the most other rooms, at most this many times their p50 at 0 rooms. */
export const P50_GROWTH_TARGET = 1.5
/** status and active p99 at the most other rooms, at most this many times their p99 at 0 rooms (issue "close to the floor"). */
export const P99_GROWTH_TARGET = 2
/** start's p99 at the most other rooms, in every setup (issue "close to the floor"). */
export const START_P99_TARGET_MS = 100
export const RSS_TARGET_BYTES = 200 * 1024 * 1024
export const READY_TARGET_MS = 1000

export interface Measurement {
  otherRooms: number
  setup: string
  endpoint: Endpoint
  service: Measured
  floor: Measured
}

export interface SetupRun {
  otherRooms: number
  setup: string
  /** Per replica: spawn to the first 200 of /api/docs/json, and of /active (after the index's rebuild). */
  listeningMs: number[]
  indexedMs: number[]
  /** Per replica, VmRSS once ready, and the largest sampled while its endpoints were under load. */
  idleRssBytes: number[]
  rssBytes: number[]
  /** Cores that work other than this run's kept busy on average during the setup (src: bench/cpu.ts). */
  otherCores: number
  /** `status` req/s in each slice of the settle after the start (the index confirming the other rooms' people, LiveKit's webhook backlog): empty when there was none. */
  settlingPerSecond: number[]
  /** What one start cost each part of the machine, the service's and the floor's, over their turns. */
  startCpuMs: { service: StartCpu, floor: StartCpu }
}

/** The parts of the machine a start goes through. */
export const START_CPU_PARTS = ['livekit', 'replicas', 'redis', 'caller'] as const
/**
 * Milliseconds of CPU per successful start, by part: livekit-server, the service's replicas (the
 * floor's too: they apply its rooms' webhooks), redis-server, and the caller (the bench process:
 * autocannon for the service, the SDK for the floor).
 */
export type StartCpu = Record<typeof START_CPU_PARTS[number], number>

export interface Machine {
  cpu: string
  cores: number
  ramGiB: number
  node: string
  livekitServer: string
  redisServer: string
  packages: string
  commit: string
}

function firstLine (command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: root })
  return result.status === 0 ? result.stdout.trim().split('\n')[0] ?? '' : 'unknown'
}

function packageVersion (name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

export function describeMachine (livekitServerBin: string, redisServerBin: string | undefined): Machine {
  // The report itself aside: it is rewritten by every run.
  const dirty = firstLine('git', ['status', '--porcelain', '--', '.', ':(exclude)BENCHMARKS.md']) !== ''
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    ramGiB: totalmem() / 1024 ** 3,
    node: process.version,
    livekitServer: firstLine(livekitServerBin, ['--version']).replace(/^livekit-server version /, ''),
    redisServer: redisServerBin === undefined ? 'not used' : (/v=(\S+)/.exec(firstLine(redisServerBin, ['--version']))?.[1] ?? 'unknown'),
    packages: ['fastify', 'livekit-server-sdk', 'undici', 'ioredis', 'autocannon'].map((name) => `${name} ${packageVersion(name)}`).join(', '),
    commit: `${firstLine('git', ['rev-parse', '--short', 'HEAD'])}${dirty ? ' (with uncommitted changes)' : ''}`
  }
}

/** The 1-minute load average, as `uptime` shows it. */
export function loadAverage (): string {
  return (loadavg()[0] ?? 0).toFixed(2)
}

const int = (value: number) => Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-'
const ms = (value: number) => Number.isFinite(value) ? (value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US')) : '-'
const times = (value: number) => Number.isFinite(value) ? (value >= 100 ? `${Math.round(value).toLocaleString('en-US')}x` : `${value.toFixed(2)}x`) : '-'
const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`

export function ratioOf (row: Measurement): number {
  return row.floor.perSecond > 0 ? row.service.perSecond / row.floor.perSecond : Number.NaN
}

function failures (measured: Measured): string {
  return measured.failed === 0 ? '' : ` (${measured.failed} failed: ${measured.firstFailure ?? '?'})`
}

interface Verdict {
  target: string
  measured: string
  met: boolean
}

/** Each target, judged on every measurement it applies to. */
export function verdicts (rows: Measurement[], setups: SetupRun[]): Verdict[] {
  const result: Verdict[] = []
  for (const endpoint of ['status', 'active', 'start'] as const) {
    const target = RATIO_TARGETS[endpoint] as number
    const ratios = rows.filter((row) => row.endpoint === endpoint).map(ratioOf)
    if (ratios.length === 0) continue
    result.push({
      target: `${endpoint} req/s >= ${target}x \`${FLOORS[endpoint]}\``,
      measured: `${times(Math.min(...ratios))} to ${times(Math.max(...ratios))}`,
      met: ratios.every((ratio) => ratio >= target)
    })
  }
  const levels = [...new Set(rows.map((row) => row.otherRooms))].sort((a, b) => a - b)
  const [fewest, most] = [levels[0], levels.at(-1)]
  if (fewest !== undefined && most !== undefined && most > fewest) {
    for (const endpoint of ['status', 'active'] as const) {
      for (const [quantile, target] of [['p50Ms', P50_GROWTH_TARGET], ['p99Ms', P99_GROWTH_TARGET]] as const) {
        const growths = [...new Set(rows.map((row) => row.setup))].flatMap((setup) => {
          const at = (rooms: number) => rows.find((row) => row.setup === setup && row.endpoint === endpoint && row.otherRooms === rooms)
          const [low, high] = [at(fewest), at(most)]
          return low === undefined || high === undefined ? [] : [high.service[quantile] / low.service[quantile]]
        })
        if (growths.length === 0) continue
        const name = quantile.slice(0, 3)
        result.push({
          target: `${endpoint} ${name} at ${int(most)} other rooms <= ${target}x its ${name} at ${int(fewest)}`,
          measured: `${times(Math.min(...growths))} to ${times(Math.max(...growths))}`,
          met: growths.every((growth) => growth <= target)
        })
      }
    }
  }
  const starts = rows.filter((row) => row.endpoint === 'start' && row.otherRooms === most)
  if (starts.length > 0) {
    const worst = Math.max(...starts.map((row) => row.service.p99Ms))
    result.push({ target: `start p99 at ${int(most ?? 0)} other rooms < ${START_P99_TARGET_MS} ms`, measured: `at most ${ms(worst)} ms`, met: worst < START_P99_TARGET_MS })
  }
  if (setups.length > 0) {
    const rss = Math.max(...setups.flatMap((run) => run.rssBytes))
    result.push({ target: `RSS under load < ${mib(RSS_TARGET_BYTES)}`, measured: `at most ${mib(rss)}`, met: rss < RSS_TARGET_BYTES })
    const listening = Math.max(...setups.flatMap((run) => run.listeningMs))
    const indexed = Math.max(...setups.flatMap((run) => run.indexedMs))
    result.push({ target: `ready (serving) in < ${READY_TARGET_MS / 1000} s`, measured: `at most ${int(listening)} ms`, met: listening < READY_TARGET_MS })
    result.push({ target: `ready (index rebuilt: active answers) in < ${READY_TARGET_MS / 1000} s`, measured: `at most ${int(indexed)} ms`, met: indexed < READY_TARGET_MS })
  }
  return result
}

/** A Markdown table; the columns in `text` are left-aligned, the others (figures) right-aligned. */
function markdownTable (header: string[], rows: string[][], text: number[]): string {
  const align = header.map((_, i) => text.includes(i) ? '---' : '---:')
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

export function measurementTable (rows: Measurement[]): string {
  return markdownTable(
    ['other rooms', 'service', 'endpoint', 'req/s', 'p50 ms', 'p99 ms', 'bare SDK floor', 'floor req/s', 'floor p50 ms', 'floor p99 ms', 'ratio', 'target'],
    rows.map((row) => {
      const target = RATIO_TARGETS[row.endpoint]
      const ratio = ratioOf(row)
      return [
        int(row.otherRooms), row.setup, `\`${ROUTES[row.endpoint]}\`${failures(row.service)}`,
        int(row.service.perSecond), ms(row.service.p50Ms), ms(row.service.p99Ms),
        `\`${FLOORS[row.endpoint]}\`${failures(row.floor)}`,
        int(row.floor.perSecond), ms(row.floor.p50Ms), ms(row.floor.p99Ms),
        times(ratio), target === undefined ? '' : `>= ${target}x ${ratio >= target ? 'met' : '**not met**'}`
      ]
    }),
    [0, 1, 2, 6, 11]
  )
}

export function setupTable (setups: SetupRun[]): string {
  const each = (values: number[], format: (value: number) => string) => values.map(format).join(' / ')
  return markdownTable(
    ['other rooms', 'service', 'ready: serving (ms)', 'ready: index rebuilt (ms)', 'RSS when ready', 'max RSS under load', 'other work (cores)', 'status req/s in each 2 s after ready'],
    setups.map((run) => [
      int(run.otherRooms), run.setup, each(run.listeningMs, int), each(run.indexedMs, int),
      each(run.idleRssBytes, mib), each(run.rssBytes, mib), run.otherCores.toFixed(2),
      run.settlingPerSecond.length === 0 ? '-' : run.settlingPerSecond.map(int).join(', ')
    ]),
    [0, 1, 7]
  )
}

/** CPU per start by part of the machine, the service's path beside the floor's. */
export function startCpuTable (setups: SetupRun[]): string {
  const total = (cpu: StartCpu) => START_CPU_PARTS.reduce((sum, part) => sum + cpu[part], 0)
  const cells = (cpu: StartCpu) => [...START_CPU_PARTS.map((part) => cpu[part].toFixed(2)), total(cpu).toFixed(2)]
  return markdownTable(
    ['other rooms', 'service', 'start', 'livekit-server', 'replicas', 'redis-server', 'caller (the bench)', 'total'],
    setups.flatMap((run) => [
      [int(run.otherRooms), run.setup, 'the service (autocannon)', ...cells(run.startCpuMs.service)],
      [int(run.otherRooms), run.setup, 'the floor (the SDK)', ...cells(run.startCpuMs.floor)]
    ]),
    [0, 1, 2]
  )
}

export function verdictTable (list: Verdict[]): string {
  return markdownTable(['target', 'measured', ''], list.map((v) => [v.target, v.measured, v.met ? 'met' : '**not met**']), [0, 1, 2])
}

export interface Report {
  machine: Machine
  settings: string
  startedAt: Date
  seconds: number
  loadBefore: string
  loadAfter: string
  rows: Measurement[]
  setups: SetupRun[]
}

export function markdown (report: Report): string {
  const { machine } = report
  return `# Benchmarks

Written by \`npm run bench\` (\`bench/run.ts\`) with ${report.settings}.
Started ${report.startedAt.toISOString()}; the run took ${Math.round(report.seconds)} s.

## Machine

- CPU: ${machine.cpu}, ${machine.cores} cores; RAM ${machine.ramGiB.toFixed(1)} GiB
- Load average (1 min) before the run ${report.loadBefore}, after it ${report.loadAfter} (the run's own
  processes included); what other work used during each setup is in its "other work" column
- Node ${machine.node} (the bench and the service), livekit-server ${machine.livekitServer}, redis-server ${machine.redisServer}
- ${machine.packages}
- The service at commit ${machine.commit}

## How it is measured

Everything runs on this machine, on loopback: one livekit-server (\`room.auto_create: false\`,
its webhooks sent to the first replica), one redis-server for the Redis setups, and the built
service (\`node dist/src/server.js\`, as \`npm start\` runs it, with the container image's \`NODE_OPTIONS="${imageNodeOptions}"\`, configured by environment variables
only, \`LOG_LEVEL=warn\`, no agent configured so no agent dispatch). Other users' rooms (session
metadata naming other users) are made with the SDK before the service starts, so that its
start-up rebuild indexes them. "1 replica, memory" keeps the session index in the process;
"2 replicas, Redis" are two processes on one Redis, the load spread over both.

For each setup: the replicas are started and timed until ready (from spawning the process to
the first 200 of \`GET /api/docs/json\`, and to the first 200 of \`GET /active\`, which waits for
the index's rebuild from LiveKit, in the replica that leads it); the bench user starts a few
sessions; beside other rooms, the replicas settle (\`BENCH_SETTLE_SECONDS\`: they read the people of
every session they rebuilt, and LiveKit's webhook backlog arrives), \`status\` measured meanwhile in
2 s slices (the last column of the setups' table: what a start beside those sessions costs, and
how long); then each floor is measured and right after it the service (status, active, then
start, then end), each for the same seconds at the same concurrency after a warm-up that is not
counted (each replica's in each setup, the bench's SDK client once per run: 1 s, or a quarter of
the rooms for \`end\`). The two starts take turns of 1 s, the floor's then the service's, until each
had its seconds, so that both meet LiveKit at the same moments: beside 10,000 rooms its CPU per
\`createRoom\` swings several-fold from one few seconds to the next ("Start beside 10,000 rooms" below). The service is
loaded by autocannon: \`status\` and \`active\` as the bench user (with \`API_RATE_LIMIT\` raised for
that one user; the limiter still counts every call), \`start\` as a new user each time (as
starts come from many users, within the default \`START_RATE_LIMIT\` and
\`MAX_SESSIONS_PER_USER\`), and \`end\` by the owner of each room \`start\` made, each deleted once.
The floor is the bare \`livekit-server-sdk\` (\`RoomServiceClient\`, \`AccessToken\`) making the
calls that the seed plan's design makes per request, from the bench process, against the same
LiveKit holding the same rooms (its \`end\` deletes the rooms its \`start\` made). req/s counts successful calls; p50 and p99 are of successful calls only;
"ratio" is the service's req/s over its floor's. RSS is each replica's VmRSS once ready, and the
largest sampled every 50 ms while its endpoints were under load. "other work" is the machine's
busy CPU time less that of the bench and the processes it started, over the setup's time: the
cores other users of the machine took meanwhile (out of ${machine.cores}).

## Results

${measurementTable(report.rows)}

${setupTable(report.setups)}

What a start cost each part of the machine (ms of CPU per successful start, from \`/proc/<pid>/stat\`
and the bench's own \`process.cpuUsage()\` around each turn): the service's path against the floor's.
The replicas apply the \`room_started\` webhook of every room, the floor's included; the caller is the
bench process, autocannon for the service and the SDK for the floor.

${startCpuTable(report.setups)}

## Targets

${verdictTable(verdicts(report.rows, report.setups))}

How to read them. Every process (the bench, its load generator, livekit-server, Redis and the
replicas) shares the same cores, so a ratio is that of two ways of using one machine, not of a
service with a machine to itself. With LiveKit nearly empty its \`listRooms\` answers from memory
in a few milliseconds: ten times its rate (34,000-36,000 req/s) is more than Fastify serves on
these cores while only verifying a user JWT (25,000-28,000 req/s on 2 cores, "Reads beside the
Fastify floor" below), so the read targets can be met only where LiveKit's cost grows with its
rooms, which is what the index is for. \`start\` must call
\`createRoom\`, and LiveKit then sends the service a \`room_started\` webhook to verify and apply:
the service's floor is LiveKit's own cost per room, on the cores the service uses too. RSS counts
the code of every library the service loads: "RSS when ready" above, before any request.
`
}

/** A plain-text table for the terminal. */
export function consoleTable (rows: Measurement[]): string {
  const header = ['rooms', 'service', 'endpoint', 'req/s', 'p50', 'p99', 'floor', 'req/s', 'p50', 'p99', 'ratio', 'failed']
  const lines = rows.map((row) => [
    int(row.otherRooms), row.setup, row.endpoint,
    int(row.service.perSecond), ms(row.service.p50Ms), ms(row.service.p99Ms),
    FLOORS[row.endpoint], int(row.floor.perSecond), ms(row.floor.p50Ms), ms(row.floor.p99Ms), times(ratioOf(row)),
    row.service.failed + row.floor.failed === 0 ? '' : `${row.service.failed} / ${row.floor.failed}: ${row.service.firstFailure ?? row.floor.firstFailure ?? ''}`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => (line[i] ?? '').length)))
  const left = new Set([1, 2, 6, 11])
  return [header, ...lines].map((cells) => cells.map((cell, i) => left.has(i) ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)).join('  ').trimEnd()).join('\n')
}
