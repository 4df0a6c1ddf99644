import fc from 'fast-check'
import t from 'tap'
import { exitCodeOf, formatReport, LatencyHistogram, ROUTES, RouteStats, summarize, type RouteKey, type RunFacts } from '../../scripts/loadtest-report.js'

/** The judging and the arithmetic of `npm run loadtest`'s report, apart from any service. */

/** The nearest-rank percentile of `values`: the smallest value with at least `fraction` of them at or below it. */
function exact (values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(1, Math.ceil(fraction * sorted.length)) - 1]!
}

t.test('property: a percentile is the exact one or at most 1 % above it, never above the largest latency', async (t) => {
  const latencies = fc.array(fc.double({ min: 0.001, max: 20_000, noNaN: true }), { minLength: 1, maxLength: 300 })
  fc.assert(fc.property(latencies, fc.constantFrom(0.5, 0.95, 0.99, 1), (values, fraction) => {
    const histogram = new LatencyHistogram()
    for (const value of values) histogram.record(value)
    const estimate = histogram.percentile(fraction)!
    const truth = exact(values, fraction)
    return estimate >= truth * (1 - 1e-9) && estimate <= Math.max(truth * 1.01, 0.01) && estimate <= Math.max(...values)
  }), { numRuns: 200 })
  t.equal(new LatencyHistogram().percentile(0.99), undefined, 'nothing recorded, no percentile')
})

function facts (overrides: Partial<RunFacts> = {}, fill: (stats: Record<RouteKey, RouteStats>) => void = () => {}): RunFacts {
  const stats = Object.fromEntries(Object.keys(ROUTES).map((key) => [key, new RouteStats()])) as Record<RouteKey, RouteStats>
  for (const key of ['start', 'status', 'active', 'end'] as const) {
    stats[key].requests = 10
    for (let i = 1; i <= 10; i++) stats[key].answered(200, i)
  }
  fill(stats)
  return {
    url: 'http://127.0.0.1:3000/',
    runId: 'abc123',
    users: 5,
    durationSeconds: 10,
    sessionSeconds: 10,
    pollSeconds: 2,
    maxP99Ms: 1000,
    loadSeconds: 10,
    interrupted: undefined,
    stats,
    sessions: { started: 10, endedByUsers: 10, endedByCleanup: 0, goneBeforeEnd: 0, foundByCheck: 0, leftBehind: [], usersChecked: 5, usersUnchecked: 0 },
    ...overrides
  }
}

t.test('the verdict: what fails a run and what does not', async (t) => {
  const clean = summarize(facts())
  t.same(clean.failures, [])
  t.equal(clean.exit_code, 0)
  t.match(formatReport(clean), /^PASS: /m)
  t.same(summarize(facts()).routes.find((r) => r.key === 'status')?.latency_ms, { p50: 5, p95: 10, p99: 10, max: 10 })

  const limited = summarize(facts({}, (stats) => { stats.start.requests++; stats.start.answered(429, 3) }))
  t.same(limited.failures, [], 'a 429 is no failure')
  t.match(formatReport(limited), /POST \/api\/v1\/voice-sessions\/start: 200 × 10, 429 × 1/, 'but it is reported')

  const cases: Array<[string, RunFacts, RegExp]> = [
    ['a 5xx', facts({}, (stats) => { stats.status.answered(503, 2) }), /^5xx answers: GET \/api\/v1\/voice-sessions\/\{room\}\/status: 503 × 1$/],
    ['a 5xx during the clean-up', facts({}, (stats) => { stats.cleanup_end.answered(500, 2) }), /^5xx answers: DELETE .* \(clean-up\): 500 × 1$/],
    ['a timeout', facts({}, (stats) => { stats.end.timeouts++ }), /^requests without an answer: DELETE .*: 0 connection errors, 1 timeouts$/],
    ['a connection error', facts({}, (stats) => { stats.active.connectionErrors++ }), /^requests without an answer: GET .*: 1 connection errors, 0 timeouts$/],
    ['an unexpected 4xx', facts({}, (stats) => { stats.status.answered(404, 2) }), /^unexpected answers: GET .*status: 404 × 1$/],
    ['a p99 over the bound', facts({ maxP99Ms: 9 }), /^p99 of POST \/api\/v1\/voice-sessions\/start is 10 ms, over the bound of 9 ms$/],
    ['no session started', facts({ sessions: { ...facts().sessions, started: 0 } }), /^no session was started$/],
    ['a session left behind', facts({ sessions: { ...facts().sessions, leftBehind: ['fitness-voice-x-1'] } }), /^1 sessions left behind: fitness-voice-x-1$/],
    ['a user not checked', facts({ sessions: { ...facts().sessions, usersUnchecked: 1 } }), /^1 users could not be shown/]
  ]
  for (const [name, run, reason] of cases) {
    const summary = summarize(run)
    t.equal(summary.exit_code, 1, `${name}: exit 1`)
    t.equal(summary.passed, false)
    t.ok(summary.failures.some((failure) => reason.test(failure)), `${name}: ${summary.failures.join(' | ')}`)
    t.match(formatReport(summary), /^FAIL \(exit 1\):/m)
  }
  t.same(summarize(facts({ maxP99Ms: 10 })).failures, [], 'a p99 at the bound is within it')
  t.same(summarize(facts({}, (stats) => { stats.check.answered(200, 5000) })).failures, [], 'the clean-up\'s latency is not bounded')
})

t.test('exit codes: 1 for a failure, 128 + the signal for an interruption that left nothing wrong, else 0', async (t) => {
  t.equal(exitCodeOf([], undefined), 0)
  t.equal(exitCodeOf([], 'SIGINT'), 130)
  t.equal(exitCodeOf([], 'SIGTERM'), 143)
  t.equal(exitCodeOf(['a 5xx'], 'SIGINT'), 1)
  const interrupted = summarize(facts({ interrupted: 'SIGINT', sessions: { ...facts().sessions, started: 0 } }))
  t.same(interrupted.failures, [], 'interrupted before any start: not a failure')
  t.equal(interrupted.exit_code, 130)
})
