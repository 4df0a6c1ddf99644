import { constants } from 'node:os'

/**
 * What `npm run loadtest` counts, how it judges a run, and how it says so: as a table for people
 * and as JSON (`--json`) for CI.
 */

/** The routes of the load mix, and the two the clean-up uses (counted apart, never bounded by p99). */
export const ROUTES = {
  start: { method: 'POST', path: '/api/v1/voice-sessions/start', phase: 'load' },
  status: { method: 'GET', path: '/api/v1/voice-sessions/{room}/status', phase: 'load' },
  active: { method: 'GET', path: '/api/v1/voice-sessions/active', phase: 'load' },
  end: { method: 'DELETE', path: '/api/v1/voice-sessions/{room}', phase: 'load' },
  cleanup_end: { method: 'DELETE', path: '/api/v1/voice-sessions/{room}', phase: 'clean-up' },
  check: { method: 'GET', path: '/api/v1/voice-sessions/active', phase: 'check' }
} as const

export type RouteKey = keyof typeof ROUTES

/** Relative width of a latency bucket: percentiles are exact to within 1 %. */
const BUCKET_PRECISION = 0.01
const LOG_STEP = Math.log1p(BUCKET_PRECISION)
/** Latencies at or below this (ms) share the first bucket. */
const SMALLEST_MS = 0.01

/**
 * Latencies in log-spaced buckets, so that memory stays bounded however long the run: a
 * percentile is the upper edge of its bucket (at most 1 % above the true value), never above
 * the largest latency seen.
 */
export class LatencyHistogram {
  private readonly buckets = new Map<number, number>()
  count = 0
  max = 0

  record (ms: number): void {
    const bucket = ms <= SMALLEST_MS ? 0 : Math.ceil(Math.log(ms / SMALLEST_MS) / LOG_STEP)
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + 1)
    this.count++
    if (ms > this.max) this.max = ms
  }

  /** The latency that `fraction` (0.99 for p99) of the recorded ones are at or below; undefined when none was recorded. */
  percentile (fraction: number): number | undefined {
    if (this.count === 0) return undefined
    const rank = Math.max(1, Math.ceil(fraction * this.count))
    let seen = 0
    for (const bucket of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(bucket) ?? 0
      if (seen >= rank) return Math.min(this.max, SMALLEST_MS * Math.exp(bucket * LOG_STEP))
    }
    return this.max
  }
}

/** How many failures of one route are kept, with their request ids, to look up in the service's log. */
const SAMPLES_KEPT = 5

/** One route's requests: what was sent, the answers by status and their latency, and what got no answer. */
export class RouteStats {
  requests = 0
  readonly latency = new LatencyHistogram()
  readonly statuses = new Map<number, number>()
  connectionErrors = 0
  timeouts = 0
  readonly samples: string[] = []

  answered (status: number, ms: number): void {
    this.latency.record(ms)
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1)
  }

  sample (line: string): void {
    if (this.samples.length < SAMPLES_KEPT) this.samples.push(line)
  }
}

/** An answer the load mix never expects: anything but 2xx and 429 (a limit, reported but not a failure). */
export function isUnexpected (status: number): boolean {
  return !(status >= 200 && status < 300) && status !== 429 && status < 500
}

export interface SessionCounts {
  /** Starts answered 2xx. */
  started: number
  /** Ended with a 2xx DELETE by the virtual users (the end of their session, or the end of the run). */
  endedByUsers: number
  /** Ended with a 2xx DELETE by the clean-up (after an interruption, or a DELETE that failed). */
  endedByCleanup: number
  /** Found gone (404) before the script ended them: the service ended them itself. */
  goneBeforeEnd: number
  /** Listed by GET /active although no start was answered for them (its answer was lost); the clean-up ended them. */
  foundByCheck: number
  /** Still live after the clean-up: listed by the last check, or started and never confirmed ended. */
  leftBehind: string[]
  /** Users that GET /active showed with no session left, at the end. */
  usersChecked: number
  /** Users never seen so: every check failed, or the rounds or the time of the clean-up ran out. */
  usersUnchecked: number
}

export interface RunFacts {
  url: string
  runId: string
  users: number
  durationSeconds: number
  sessionSeconds: number
  pollSeconds: number
  maxP99Ms: number
  /** Seconds from the first request to the last of the load (clean-up excluded). */
  loadSeconds: number
  interrupted: NodeJS.Signals | undefined
  stats: Record<RouteKey, RouteStats>
  sessions: SessionCounts
}

interface RouteSummary {
  key: RouteKey
  route: string
  phase: 'load' | 'clean-up' | 'check'
  requests: number
  answers: number
  throughput_rps: number
  latency_ms: { p50: number, p95: number, p99: number, max: number } | null
  statuses: Record<string, number>
  connection_errors: number
  timeouts: number
  failures_sample: string[]
}

/** The machine-readable summary that `--json` prints; the table is made from it too. */
export interface LoadTestSummary {
  url: string
  run_id: string
  users: number
  duration_s: number
  session_s: number
  poll_interval_s: number
  max_p99_ms: number
  interrupted: NodeJS.Signals | null
  load_s: number
  routes: RouteSummary[]
  sessions: {
    started: number
    ended: number
    ended_by_users: number
    ended_by_cleanup: number
    gone_before_end: number
    found_by_check: number
    left_behind: number
    left_behind_rooms: string[]
    users_checked: number
    users_unchecked: number
  }
  failures: string[]
  passed: boolean
  exit_code: number
}

const round = (value: number): number => Math.round(value * 10) / 10

function routeSummary (key: RouteKey, stats: RouteStats, loadSeconds: number): RouteSummary {
  const route = ROUTES[key]
  const answers = stats.latency.count
  const p = (fraction: number) => round(stats.latency.percentile(fraction) ?? 0)
  return {
    key,
    route: `${route.method} ${route.path}`,
    phase: route.phase,
    requests: stats.requests,
    answers,
    throughput_rps: route.phase === 'load' && loadSeconds > 0 ? round(answers / loadSeconds) : 0,
    latency_ms: answers === 0 ? null : { p50: p(0.5), p95: p(0.95), p99: p(0.99), max: round(stats.latency.max) },
    statuses: Object.fromEntries([...stats.statuses].sort(([a], [b]) => a - b).map(([status, count]) => [String(status), count])),
    connection_errors: stats.connectionErrors,
    timeouts: stats.timeouts,
    failures_sample: [...stats.samples]
  }
}

function countsOf (routes: RouteSummary[], which: (status: number) => boolean): string[] {
  const parts: string[] = []
  for (const route of routes) {
    for (const [status, count] of Object.entries(route.statuses)) {
      if (which(Number(status))) parts.push(`${route.route}${route.phase === 'load' ? '' : ` (${route.phase})`}: ${status} × ${count}`)
    }
  }
  return parts
}

/** Why the run failed, if it did: each reason one line. */
function failuresOf (facts: RunFacts, routes: RouteSummary[]): string[] {
  const failures: string[] = []
  const serverErrors = countsOf(routes, (status) => status >= 500)
  if (serverErrors.length > 0) failures.push(`5xx answers: ${serverErrors.join('; ')}`)
  const unanswered = routes.filter((route) => route.connection_errors + route.timeouts > 0)
  if (unanswered.length > 0) {
    failures.push(`requests without an answer: ${unanswered.map((route) => `${route.route}${route.phase === 'load' ? '' : ` (${route.phase})`}: ${route.connection_errors} connection errors, ${route.timeouts} timeouts`).join('; ')}`)
  }
  const unexpected = countsOf(routes, isUnexpected)
  if (unexpected.length > 0) failures.push(`unexpected answers: ${unexpected.join('; ')}`)
  for (const route of routes) {
    if (route.phase === 'load' && route.latency_ms !== null && route.latency_ms.p99 > facts.maxP99Ms) {
      failures.push(`p99 of ${route.route} is ${route.latency_ms.p99} ms, over the bound of ${facts.maxP99Ms} ms`)
    }
  }
  if (facts.sessions.started === 0 && facts.interrupted === undefined) failures.push('no session was started')
  if (facts.sessions.leftBehind.length > 0) failures.push(`${facts.sessions.leftBehind.length} sessions left behind: ${facts.sessions.leftBehind.join(', ')}`)
  if (facts.sessions.usersUnchecked > 0) failures.push(`${facts.sessions.usersUnchecked} users could not be shown by GET /active to have no session left`)
  return failures
}

/** The exit code of a run: 1 when it failed, 128 + the signal's number when it was interrupted, else 0. */
export function exitCodeOf (failures: readonly string[], interrupted: NodeJS.Signals | undefined): number {
  if (failures.length > 0) return 1
  if (interrupted !== undefined) return 128 + constants.signals[interrupted]
  return 0
}

export function summarize (facts: RunFacts): LoadTestSummary {
  const routes = (Object.keys(ROUTES) as RouteKey[]).map((key) => routeSummary(key, facts.stats[key], facts.loadSeconds))
  const failures = failuresOf(facts, routes)
  const { sessions } = facts
  return {
    url: facts.url,
    run_id: facts.runId,
    users: facts.users,
    duration_s: facts.durationSeconds,
    session_s: facts.sessionSeconds,
    poll_interval_s: facts.pollSeconds,
    max_p99_ms: facts.maxP99Ms,
    interrupted: facts.interrupted ?? null,
    load_s: round(facts.loadSeconds),
    routes,
    sessions: {
      started: sessions.started,
      ended: sessions.endedByUsers + sessions.endedByCleanup,
      ended_by_users: sessions.endedByUsers,
      ended_by_cleanup: sessions.endedByCleanup,
      gone_before_end: sessions.goneBeforeEnd,
      found_by_check: sessions.foundByCheck,
      left_behind: sessions.leftBehind.length,
      left_behind_rooms: [...sessions.leftBehind],
      users_checked: sessions.usersChecked,
      users_unchecked: sessions.usersUnchecked
    },
    failures,
    passed: failures.length === 0,
    exit_code: exitCodeOf(failures, facts.interrupted)
  }
}

const cell = (value: number | string | undefined, width: number): string =>
  (typeof value === 'number' ? value.toFixed(1) : value ?? '-').padStart(width)

/** The summary as people read it: a table of the routes, the answers by status, the sessions, the verdict. */
export function formatReport (summary: LoadTestSummary): string {
  const lines: string[] = []
  const interrupted = summary.interrupted === null ? '' : `, interrupted by ${summary.interrupted}`
  lines.push(`Load test of ${summary.url} (run ${summary.run_id}): ${summary.users} users for ${summary.duration_s} s${interrupted}.`)
  lines.push(`Each user starts a session, polls its status every ${summary.poll_interval_s} s, lists its active sessions, ends it after ` +
    `${summary.session_s} s and starts the next; the load ran ${summary.load_s} s.`)
  lines.push('Latency: from sending a request to the last byte of its answer.')
  lines.push('')
  const width = Math.max(...summary.routes.map((route) => route.route.length + (route.phase === 'load' ? 0 : route.phase.length + 3)))
  lines.push(`${'route'.padEnd(width)}  ${cell('requests', 8)}  ${cell('req/s', 7)}  ${cell('p50 ms', 8)}  ${cell('p95 ms', 8)}  ${cell('p99 ms', 8)}  ${cell('max ms', 8)}`)
  for (const route of summary.routes) {
    const [method, path] = route.route.split(' ') as [string, string]
    const name = `${method.padEnd(6)} ${path}${route.phase === 'load' ? '' : ` (${route.phase})`}`
    const latency = route.latency_ms
    lines.push(`${name.padEnd(width)}  ${cell(String(route.requests), 8)}  ${cell(route.phase === 'load' ? route.throughput_rps.toFixed(1) : '', 7)}  ` +
      `${cell(latency?.p50, 8)}  ${cell(latency?.p95, 8)}  ${cell(latency?.p99, 8)}  ${cell(latency?.max, 8)}`)
  }
  lines.push('')
  lines.push('Answers by status:')
  for (const route of summary.routes) {
    const statuses = Object.entries(route.statuses).map(([status, count]) => `${status} × ${count}`)
    if (route.connection_errors > 0) statuses.push(`connection errors × ${route.connection_errors}`)
    if (route.timeouts > 0) statuses.push(`timeouts × ${route.timeouts}`)
    if (statuses.length === 0) continue
    lines.push(`  ${route.route}${route.phase === 'load' ? '' : ` (${route.phase})`}: ${statuses.join(', ')}`)
    for (const sample of route.failures_sample) lines.push(`    ${sample}`)
  }
  const limited = countsOf(summary.routes, (status) => status === 429)
  if (limited.length > 0) lines.push(`429 (a per-user limit or a session cap reached; reported, not a failure): ${limited.join('; ')}`)
  const s = summary.sessions
  lines.push('')
  lines.push(`Sessions: ${s.started} started, ${s.ended} ended (${s.ended_by_users} by the users, ${s.ended_by_cleanup} by the clean-up), ` +
    `${s.gone_before_end} gone before their end, ${s.found_by_check} found only by the check, ${s.left_behind} left behind ` +
    `(GET /active lists none for ${s.users_checked} users${s.users_unchecked > 0 ? `; ${s.users_unchecked} could not be checked` : ''})`)
  if (s.left_behind > 0) lines.push(`Left behind: ${s.left_behind_rooms.join(', ')}`)
  lines.push('')
  if (summary.passed) {
    const verdict = `PASS: no 5xx, no request without an answer, no unexpected answer, every p99 within ${summary.max_p99_ms} ms, no session left behind`
    lines.push(summary.interrupted === null ? verdict : `${verdict}; interrupted (exit ${summary.exit_code})`)
  } else {
    lines.push(`FAIL (exit ${summary.exit_code}):`)
    for (const failure of summary.failures) lines.push(`  - ${failure}`)
  }
  return `${lines.join('\n')}\n`
}
