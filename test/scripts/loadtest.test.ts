import { request as httpRequest, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { RoomServiceClient } from 'livekit-server-sdk'
import t, { type Test } from 'tap'
import type { LoadTestSummary } from '../../scripts/loadtest-report.js'
import { pollUntil } from '../clients.js'
import { build, buildWithLivekit, livekitConfig } from '../helper.js'
import { httpServer } from '../livekit-proxy.js'
import { loadtest, scriptFolder, SECRET } from './loadtest-runner.js'
import { scriptEnv, startScript, tsxArgs } from './run-script.js'

/**
 * `npm run loadtest` run as a child process against the service listening on loopback, with a
 * real livekit-server that sends it webhooks, at the service's default limits. What the script
 * reports is checked against what the service counted (its /metrics) and what LiveKit holds.
 */

// The service's own defaults (the test helper lifts them): the mix must stay within them.
const DEFAULT_LIMITS = { START_RATE_LIMIT: '10/minute', API_RATE_LIMIT: '600/minute', MAX_SESSIONS_PER_USER: 3 }
// Latency is not what these tests judge: a busy test machine must not fail them (the bound has a test of its own).
const ANY_LATENCY = ['--max-p99-ms', '600000']

const { app, livekit } = await buildWithLivekit(t, { JWT_SECRET: SECRET, ...DEFAULT_LIMITS })
const serviceUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)

/** The LiveKit rooms of one run's users. */
async function roomsOf (runId: string): Promise<string[]> {
  return (await rooms.listRooms()).map((room) => room.name).filter((name) => name.startsWith(`fitness-voice-loadtest-${runId}-`))
}

/** The value of one series in a /metrics scrape, 0 when absent. */
function valueOf (scrape: string, series: string): number {
  const line = scrape.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

async function scrape (service: FastifyInstance): Promise<string> {
  return (await service.inject({ method: 'GET', url: '/metrics' })).body
}

/** What the proxy in front of the service does with a request: pass it on, never answer it, pass it on and lose the answer, or answer it itself. */
type ProxyAction = 'forward' | 'hold' | 'lose-answer' | { status: number }

/** A proxy on loopback in front of the service, for faults the service cannot be made to produce; its URL and the responses it holds. */
async function faultyProxy (t: Test, decide: (method: string, url: string) => ProxyAction): Promise<{ url: string, held: ServerResponse[] }> {
  const held: ServerResponse[] = []
  const port = (app.server.address() as AddressInfo).port
  const url = (await httpServer(t, (request, response) => {
    const action = decide(request.method ?? '', request.url ?? '')
    if (action === 'hold') { held.push(response); request.resume(); return }
    if (typeof action === 'object') {
      request.resume()
      response.writeHead(action.status, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ statusCode: action.status, error: 'Injected', message: 'injected by the test proxy' }))
      return
    }
    const upstream = httpRequest({ host: '127.0.0.1', port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      if (action === 'lose-answer') {
        // The service did the work; its answer never reaches the script.
        answer.resume()
        answer.on('end', () => { request.socket.destroy() })
        return
      }
      response.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(response)
    })
    upstream.on('error', () => { response.destroy() })
    request.pipe(upstream)
  })).replace('ws://', 'http://')
  t.teardown(() => { for (const response of held) response.destroy() })
  return { url, held }
}

const http200 = (method: string, route: string) => `http_request_duration_seconds_count{method="${method}",route="${route}",status_code="200"}`

function route (summary: LoadTestSummary, key: string) {
  const found = summary.routes.find((r) => r.key === key)
  if (found === undefined) throw new Error(`no route ${key} in the summary`)
  return found
}

t.test('a short run at the default limits: every route answered 200, the counts agree with the service\'s, nothing left, exit 0', async (t) => {
  const before = await scrape(app)
  const run = await loadtest(t, ['--url', serviceUrl, '--duration', '4', '--users', '5', '--session-seconds', '3', '--json', ...ANY_LATENCY])
  t.equal(run.code, 0, run.stderr)
  const summary = JSON.parse(run.stdout) as LoadTestSummary
  t.same(summary.failures, [])
  t.equal(summary.passed, true)
  t.equal(summary.users, 5)
  t.equal(summary.interrupted, null)
  for (const key of ['start', 'status', 'active', 'end']) {
    const stats = route(summary, key)
    t.ok(stats.requests >= 1, `${key}: requests sent`)
    t.same(stats.statuses, { 200: stats.requests }, `${key}: every one answered 200 (no 429 at the default limits)`)
    t.equal(stats.connection_errors + stats.timeouts, 0)
    t.ok(stats.latency_ms !== null && stats.latency_ms.p50 > 0 && stats.latency_ms.p50 <= stats.latency_ms.p95 &&
      stats.latency_ms.p95 <= stats.latency_ms.p99 && stats.latency_ms.p99 <= stats.latency_ms.max, `${key}: percentiles in order`)
    t.ok(stats.throughput_rps > 0)
  }
  const { sessions } = summary
  t.ok(sessions.started >= 1, 'sessions started')
  t.equal(route(summary, 'start').requests, sessions.started, 'one session per start')
  t.equal(sessions.ended, sessions.started, 'every one ended')
  t.equal(sessions.ended_by_users, sessions.started, 'by its user, at the end of its length or of the run')
  t.equal(route(summary, 'end').requests, sessions.started, 'one DELETE each')
  t.equal(route(summary, 'cleanup_end').requests, 0, 'nothing for the clean-up to end')
  t.equal(sessions.left_behind, 0)
  t.equal(sessions.users_unchecked, 0)
  t.equal(sessions.users_checked, route(summary, 'check').requests, 'each user that started checked once, and found with none')
  t.same(await roomsOf(summary.run_id), [], 'LiveKit holds none of its rooms')

  // The service counted the same traffic (the script's first GET /active, before the load, is not in its report).
  const after = await scrape(app)
  const delta = (series: string) => valueOf(after, series) - valueOf(before, series)
  t.equal(delta('voice_sessions_started_total{agent_type="general"}'), sessions.started)
  t.equal(delta('voice_sessions_ended_total{reason="deleted"}'), sessions.ended)
  t.equal(delta(http200('POST', '/api/v1/voice-sessions/start')), route(summary, 'start').requests)
  t.equal(delta(http200('GET', '/api/v1/voice-sessions/:room_name/status')), route(summary, 'status').requests)
  t.equal(delta(http200('GET', '/api/v1/voice-sessions/active')), route(summary, 'active').requests + route(summary, 'check').requests + 1)
  t.equal(delta(http200('DELETE', '/api/v1/voice-sessions/:room_name')), route(summary, 'end').requests)
  t.equal(valueOf(after, 'voice_sessions_live'), 0)
})

t.test('SIGINT mid-run (twice, as npm and tsx pass one Ctrl-C on): the load stops, the clean-up ends every session, exit 130', async (t) => {
  const script = startScript(t, process.execPath, tsxArgs('scripts/loadtest.ts', ['--url', serviceUrl, '--duration', '120', '--users', '4', '--session-seconds', '8', '--json', ...ANY_LATENCY]), {
    env: scriptEnv({ JWT_SECRET: SECRET }),
    cwd: await scriptFolder(t),
    name: 'npm run loadtest'
  })
  const runId = (await pollUntil(async () => /run ([0-9a-f]{6}):/.exec(script.stderr())?.[1], (id) => id !== undefined, { tries: 300 }))
  if (runId === undefined) throw new Error(`no run id in ${script.stderr()}`)
  const live = await pollUntil(async () => await roomsOf(runId), (names) => names.length >= 3, { tries: 300 })
  t.ok(live.length >= 3, `sessions live mid-run: ${live.join(', ')}`)
  const users = live.map((name) => /^fitness-voice-(loadtest-[0-9a-f]{6}-\d+)-[0-9a-f]{8}$/.exec(name)?.[1])
  t.equal(new Set(users).size, live.length, `each session another user: ${users.join(', ')}`)
  script.child.signal('SIGINT')
  script.child.signal('SIGINT')
  t.equal(await script.child.exited, 130, script.stderr())
  t.match(script.stderr(), /SIGINT: stopping the load/)
  t.notMatch(script.stderr(), /exiting at once/, 'the repeated signal is the same Ctrl-C')
  const summary = JSON.parse(script.stdout()) as LoadTestSummary
  t.equal(summary.interrupted, 'SIGINT')
  t.same(summary.failures, [])
  t.ok(summary.sessions.started >= live.length)
  t.ok(summary.sessions.ended_by_cleanup >= 1, 'the clean-up ended the sessions the users held')
  t.equal(summary.sessions.ended, summary.sessions.started)
  t.equal(summary.sessions.left_behind, 0)
  t.equal(summary.sessions.users_unchecked, 0)
  t.same(await roomsOf(runId), [], 'LiveKit holds none of its rooms')
  t.ok(summary.load_s < 60, 'the load stopped long before its 120 s')
})

t.test('a second Ctrl-C during the clean-up exits at once, naming the sessions that may be left', async (t) => {
  // Every DELETE is held unanswered, so that the script is still ending sessions.
  const { url: proxy, held } = await faultyProxy(t, (method) => method === 'DELETE' ? 'hold' : 'forward')
  const script = startScript(t, process.execPath, tsxArgs('scripts/loadtest.ts', ['--url', proxy, '--duration', '120', '--users', '3', '--session-seconds', '8', ...ANY_LATENCY]), {
    env: scriptEnv({ JWT_SECRET: SECRET }),
    cwd: await scriptFolder(t),
    name: 'npm run loadtest'
  })
  const runId = (await pollUntil(async () => /run ([0-9a-f]{6}):/.exec(script.stderr())?.[1], (id) => id !== undefined, { tries: 300 }))
  if (runId === undefined) throw new Error(`no run id in ${script.stderr()}`)
  const live = await pollUntil(async () => await roomsOf(runId), (names) => names.length >= 2, { tries: 300 })
  t.ok(live.length >= 2)
  script.child.signal('SIGINT')
  await pollUntil(async () => held.length, (count) => count >= 1, { tries: 300 })
  t.ok(held.length >= 1, 'it is ending sessions')
  // A second Ctrl-C is one that comes a second or more after the first.
  await sleep(1100)
  script.child.signal('SIGINT')
  t.equal(await script.child.exited, 1, script.stderr())
  t.equal(script.stdout(), '', 'no report: it did not wait for one')
  const named = /(\d+) sessions may be left behind: (.*)$/m.exec(script.stderr())
  t.ok(named, script.stderr())
  const left = await roomsOf(runId)
  t.same(named?.[2]?.split(', ').sort(), left.sort(), 'the sessions it names are those LiveKit still holds')
  t.equal(Number(named?.[1]), left.length)
  await Promise.all(left.map(async (name) => await rooms.deleteRoom(name)))
})

t.test('a start whose answer is lost (its room found by the check and ended) and a 503: exit 1, naming both; nothing left', async (t) => {
  let starts = 0
  let polls = 0
  const { url } = await faultyProxy(t, (method, path) => {
    if (method === 'POST' && path.endsWith('/start') && ++starts === 1) return 'lose-answer'
    if (method === 'GET' && path.endsWith('/status') && ++polls === 1) return { status: 503 }
    return 'forward'
  })
  const run = await loadtest(t, ['--url', url, '--duration', '4', '--users', '2', '--session-seconds', '3', '--json', ...ANY_LATENCY])
  t.equal(run.code, 1, run.stderr)
  const summary = JSON.parse(run.stdout) as LoadTestSummary
  t.same(summary.failures.sort(), [
    'requests without an answer: POST /api/v1/voice-sessions/start: 1 connection errors, 0 timeouts',
    '5xx answers: GET /api/v1/voice-sessions/{room}/status: 503 × 1'
  ].sort())
  const { sessions } = summary
  t.equal(sessions.found_by_check, 1, 'the lost start\'s session, found by GET /active')
  t.equal(sessions.ended_by_cleanup, 1, 'and ended by the clean-up')
  t.equal(sessions.left_behind, 0)
  t.equal(sessions.started + sessions.found_by_check, sessions.ended + sessions.gone_before_end + sessions.left_behind)
  t.match(route(summary, 'start').failures_sample, [/^no answer to loadtest-[0-9a-f]{6}-\d+-1: /])
  t.same(await roomsOf(summary.run_id), [], 'LiveKit holds none of its rooms')
})

t.test('a p99 over --max-p99-ms fails the run (exit 1), which still ends every session', async (t) => {
  const run = await loadtest(t, ['--url', serviceUrl, '--duration', '3', '--users', '2', '--session-seconds', '3', '--json', '--max-p99-ms', '0'])
  t.equal(run.code, 1, run.stderr)
  const summary = JSON.parse(run.stdout) as LoadTestSummary
  t.equal(summary.passed, false)
  t.equal(summary.max_p99_ms, 0)
  t.ok(summary.failures.length >= 1)
  for (const failure of summary.failures) t.match(failure, /^p99 of (POST|GET|DELETE) \/api\/v1\/voice-sessions\/\S+ is [\d.]+ ms, over the bound of 0 ms$/, 'the bound is the only reason')
  t.equal(summary.sessions.left_behind, 0)
  t.equal(summary.sessions.ended, summary.sessions.started)
  t.same(await roomsOf(summary.run_id), [])
})

t.test('a 429 (here START_RATE_LIMIT at 1/minute) is reported by route and status, and is not a failure', async (t) => {
  const limited = await build(t, { ...livekitConfig(livekit), JWT_SECRET: SECRET, ...DEFAULT_LIMITS, START_RATE_LIMIT: '1/minute' })
  const url = await limited.listen({ host: '127.0.0.1', port: 0 })
  const run = await loadtest(t, ['--url', url, '--duration', '5', '--users', '2', '--session-seconds', '3', ...ANY_LATENCY])
  t.equal(run.code, 0, run.stderr)
  const line = /^ {2}POST \/api\/v1\/voice-sessions\/start: (.*)$/m.exec(run.stdout)?.[1] ?? ''
  t.match(line, /^200 × [12], 429 × \d+$/, `the starts by status: ${run.stdout}`)
  t.match(run.stdout, /^429 \(a per-user limit or a session cap reached; reported, not a failure\): POST \/api\/v1\/voice-sessions\/start: 429 × \d+$/m)
  t.match(run.stdout, /^Sessions: [12] started, [12] ended .* 0 left behind/m)
  t.match(run.stdout, /^PASS: /m)
})

t.test('JWT_AUDIENCE and JWT_ISSUER: its JWTs carry them when set, as a service that checks them needs', async (t) => {
  const claims = { JWT_AUDIENCE: 'voice-app', JWT_ISSUER: 'https://auth.example.com' }
  const checking = await build(t, { ...livekitConfig(livekit), JWT_SECRET: SECRET, ...DEFAULT_LIMITS, ...claims })
  const url = await checking.listen({ host: '127.0.0.1', port: 0 })
  const args = ['--url', url, '--duration', '3', '--users', '1', '--session-seconds', '3', '--json', ...ANY_LATENCY]
  const [carrying, without] = await Promise.all([loadtest(t, args, { JWT_SECRET: SECRET, ...claims }), loadtest(t, args)])
  t.equal(carrying.code, 0, carrying.stderr)
  const summary = JSON.parse(carrying.stdout) as LoadTestSummary
  t.ok(summary.sessions.started >= 1)
  t.same(summary.failures, [])
  t.equal(without.code, 1, 'without them: refused before any load')
  t.match(without.stderr, /refused the script's user JWT \(401/)
})
