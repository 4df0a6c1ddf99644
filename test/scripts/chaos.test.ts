import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Balancer, routeOf, sourceOf } from '../../scripts/chaos-balancer.js'
import { compare, DisagreementClock, ownerOf, type LivekitRoom, type LivekitView, type SessionAnswer } from '../../scripts/chaos-checker.js'
import {
  AGENT_DUE_MS,
  DISAGREEMENT_BOUNDS,
  LIVE_BOUND_MS,
  judge,
  markdown,
  RECOVERY_GRACE_MS,
  summarize,
  type AnswerRecord,
  type ChaosFacts,
  type PhaseFacts
} from '../../scripts/chaos-report.js'

/**
 * `npm run chaos`'s judgement, on recorded facts: which answers are failures, how a disagreement
 * with LiveKit is found and timed, the verdicts per fault and the exit code; and its balancer,
 * against stand-in replicas (a replica SIGKILLed mid-request cannot be had on demand from the
 * real service). The whole run, on the real processes, is .ci/run's chaos step.
 */

const noCensus = { lost: [], outlived: [], orphans: [], ghosts: [] }

function answer (overrides: Partial<AnswerRecord> = {}): AnswerRecord {
  return { sentAt: 1000, doneAt: 1010, source: 'load', route: 'GET /api/v1/voice-sessions/{room}/status', outcome: 'answered', status: 200, ...overrides }
}

function phase (overrides: Partial<PhaseFacts> = {}): PhaseFacts {
  return { name: 'baseline', start: 0, end: 100_000, census: noCensus, ...overrides }
}

function facts (overrides: Partial<ChaosFacts> = {}): ChaosFacts {
  return {
    startedAt: new Date(0),
    seconds: 100,
    loadBefore: '0.10',
    loadAfter: '0.20',
    machine: { cpu: 'test cpu', cores: 2, ramGiB: 1, node: 'v0', livekitServer: '0', redisServer: '0', packages: '', commit: 'abc' },
    settings: {
      users: 1,
      sessionSeconds: 10,
      witnesses: 1,
      baselineSeconds: 5,
      stallSeconds: 5,
      webhooksCutSeconds: 30,
      settleSeconds: 10,
      checkEveryMs: 500,
      faults: ['redis-stall'],
      probe: 'probe',
      service: 'service'
    },
    phases: [phase()],
    answers: [answer()],
    webhooks: [],
    disagreements: [],
    roundGapsMs: [500],
    rooms: [{ room: 'fitness-voice-u-00000000', startedAt: 1000, lastLiveAt: 30_000, jobs: 1, joins: 1, agentJoinedAt: 2000 }],
    unnamedJobs: 0,
    leftBehind: [],
    leftInLivekit: [],
    ...overrides
  }
}

t.test('judge: what a fault may answer', async (t) => {
  const stall = phase({ name: 'redis-stall', faultFrom: 10_000, faultTo: 15_000, away: 'Redis' })
  const away = { status: 503, retryAfter: true, message: 'The session index is unavailable', sentAt: 12_000, doneAt: 12_010 }
  for (const status of [200, 201, 404, 429]) t.equal(judge(answer({ status }), phase()), 'ok', `${status} is an answer`)
  t.equal(judge(answer(away), stall), 'dependency away', 'a documented 503 with Retry-After while Redis is stalled')
  t.equal(judge(answer({ ...away, status: 504 }), stall), 'dependency away', 'a 504 likewise')
  t.equal(judge(answer({ ...away, retryAfter: false }), stall), 'failure', 'without Retry-After')
  t.equal(judge(answer({ ...away, message: 'Internal Server Error' }), stall), 'failure', 'a masked 5xx is not a documented one')
  t.equal(judge(answer({ ...away, message: undefined }), stall), 'failure', 'without the error body')
  t.equal(judge(answer({ ...away, status: 500 }), stall), 'failure', 'a 500')
  t.equal(judge(answer({ ...away, status: 502 }), stall), 'failure', 'a 502')
  t.equal(judge(answer(away), phase({ name: 'webhooks-cut', faultFrom: 10_000, faultTo: 15_000 })), 'failure', 'no dependency was away')
  t.equal(judge(answer({ ...away, sentAt: 14_000, doneAt: 19_000 }), stall), 'dependency away', 'sent while away, answered after')
  t.equal(judge(answer({ ...away, sentAt: 15_000 + RECOVERY_GRACE_MS - 1, doneAt: 15_000 + RECOVERY_GRACE_MS + 5 }), stall), 'dependency away', 'within the grace after the return')
  t.equal(judge(answer({ ...away, sentAt: 15_000 + RECOVERY_GRACE_MS + 1, doneAt: 15_000 + RECOVERY_GRACE_MS + 5 }), stall), 'failure', 'past the grace')
  t.equal(judge(answer({ ...away, sentAt: 5000, doneAt: 9000 }), stall), 'failure', 'before the fault')
  for (const status of [400, 401, 403, 409]) t.equal(judge(answer({ status }), stall), 'failure', `${status}`)
  t.equal(judge(answer({ outcome: 'cut', status: undefined }), stall), 'cut by the kill')
  for (const outcome of ['no-replica', 'upstream-error', 'abandoned'] as const) {
    t.equal(judge(answer({ outcome, status: undefined }), stall), 'failure', outcome)
  }
})

const room = (people: number, agent: boolean): LivekitRoom => ({ sid: 'RM_x', people, agent })
const view = (entries: Array<[string, LivekitRoom]>): LivekitView => new Map(entries)

t.test('compare: an answer agrees when it matches LiveKit before or after it', async (t) => {
  const r = 'fitness-voice-u-00000001'
  const status = (agent: boolean, people = 0): SessionAnswer => ({ via: 'status', room: r, exists: true, people, agent, at: 5 })
  const verdicts = (answers: SessionAnswer[], before: LivekitView, after: LivekitView) =>
    Object.fromEntries(compare(answers, before, after).map((c) => [c.what, c.agrees]))

  t.same(verdicts([status(false)], view([[r, room(0, true)]]), view([[r, room(0, true)]])),
    { 'status: session': true, 'status: participants': true, 'status: agent_connected': false }, 'the agent in both reads, not in the answer')
  t.same(verdicts([status(false)], view([[r, room(0, false)]]), view([[r, room(0, true)]])),
    { 'status: session': true, 'status: participants': true, 'status: agent_connected': true }, 'the agent came between the reads')
  t.same(verdicts([status(true, 2)], view([[r, room(1, true)]]), view([[r, room(1, true)]])),
    { 'status: session': true, 'status: participants': false, 'status: agent_connected': true }, 'a person too many')
  t.same(verdicts([{ via: 'status', room: r, exists: false, at: 5 }], view([[r, room(0, false)]]), view([[r, room(0, false)]])),
    { 'status: session': false }, 'a 404 for a room LiveKit holds throughout')
  t.same(verdicts([{ via: 'status', room: r, exists: false, at: 5 }], view([[r, room(0, false)]]), view([])),
    { 'status: session': true }, 'a 404 for a room deleted between the reads')
  t.same(verdicts([status(false)], view([]), view([])), { 'status: session': false }, 'a session LiveKit does not hold')
  t.same(verdicts([status(false)], view([]), view([[r, room(1, true)]])),
    { 'status: session': true, 'status: participants': true, 'status: agent_connected': true }, 'a room created, then joined, between the reads: an answer from before the joins')
  t.same(verdicts([status(true, 1)], view([[r, room(1, true)]]), view([])),
    { 'status: session': true, 'status: participants': true, 'status: agent_connected': true }, 'a room gone after the answer: an answer from before it went')
  t.same(verdicts([status(true, 1)], view([]), view([[r, room(0, false)]])),
    { 'status: session': true, 'status: participants': false, 'status: agent_connected': false }, 'people and an agent LiveKit never had')
  t.same(verdicts([{ via: 'active', room: r, exists: false, at: 5 }], view([[r, room(0, false)]]), view([[r, room(0, false)]])),
    { 'active: session': false }, 'a live room missing from active')
  t.same(verdicts([{ via: 'active', room: r, exists: true, people: 0, agent: false, at: 5 }], view([[r, room(0, true)]]), view([[r, room(0, true)]])),
    { 'active: session': true, 'active: participants': true, 'active: agent_state': false }, 'active says the agent is not connected')
  t.equal(compare([status(true)], view([[r, room(0, true)]]), view([[r, room(0, true)]]))[0]?.at, 5, 'timed by the answer')
  t.equal(ownerOf(r), 'u')
  t.equal(ownerOf('fitness-voice-loadtest-abc123-w1-0-0123abcd'), 'loadtest-abc123-w1-0')
})

t.test('DisagreementClock: from the first answer that disagreed to the first that agreed again', async (t) => {
  const clock = new DisagreementClock()
  const seen = (room: string, agrees: boolean, at: number) => clock.observe([{ key: `${room}|status:agent_connected`, what: 'status: agent_connected', room, agrees, at }])
  seen('a', true, 0)
  seen('a', false, 1000)
  seen('a', false, 1500)
  seen('b', false, 1500)
  seen('a', true, 2200)
  seen('a', true, 2700)
  clock.finish(9000)
  t.same(clock.closed, [
    { what: 'status: agent_connected', room: 'a', from: 1000, to: 2200, open: false },
    { what: 'status: agent_connected', room: 'b', from: 1500, to: 9000, open: true }
  ])

  // The room is gone (its status a 404, as LiveKit says): its agent cannot disagree any more.
  const gone = new DisagreementClock()
  gone.observe([{ key: 'r|status:agent_connected', what: 'status: agent_connected', room: 'r', agrees: false, at: 1000 }])
  gone.observe([{ key: 'r|active:session', what: 'active: session', room: 'r', agrees: true, at: 1500 }])
  gone.observe([{ key: 'r|status:session', what: 'status: session', room: 'r', agrees: true, at: 2000 }])
  gone.finish(9000)
  t.same(gone.closed, [{ what: 'status: agent_connected', room: 'r', from: 1000, to: 2000, open: false }], 'closed by the next status of the room, not by its active')

  // Ended and gone from LiveKit: no longer asked about, so no longer disagreeing.
  const ended = new DisagreementClock()
  ended.observe([{ key: 'r|status:agent_connected', what: 'status: agent_connected', room: 'r', agrees: false, at: 1000 }])
  ended.forget(new Set(['r', 's']), 1500)
  ended.forget(new Set(['s']), 2500)
  ended.finish(9000)
  t.same(ended.closed, [{ what: 'status: agent_connected', room: 'r', from: 1000, to: 2500, open: false }], 'closed by the first round without the room')
})

t.test('summarize: each bound broken fails its phase and the run', async (t) => {
  const passed = summarize(facts())
  t.equal(passed.passed, true)
  t.equal(passed.exitCode, 0)
  t.same(passed.phases[0]?.requests, { load: 1, check: 0, witness: 0 })
  t.same(passed.phases[0]?.agentJoinMs, { median: 1000, max: 1000 })

  const broken: Record<string, Partial<ChaosFacts>> = {
    'a 500': { answers: [answer(), answer({ status: 500, message: 'Internal Server Error' })] },
    'a request without an answer': { answers: [answer({ outcome: 'abandoned', status: undefined })] },
    'a session lost': { phases: [phase({ census: { ...noCensus, lost: ['fitness-voice-u-00000000'] } })] },
    'a room that outlived its end': { phases: [phase({ census: { ...noCensus, outlived: ['fitness-voice-u-00000000'] } })] },
    'a disagreement past the bound': { disagreements: [{ what: 'active: session', room: 'r', from: 1000, to: 1001 + LIVE_BOUND_MS, open: false }] },
    'a room with two jobs': { rooms: [{ room: 'r', startedAt: 1000, lastLiveAt: 5000, jobs: 2, joins: 1 }] },
    'two agents joined': { rooms: [{ room: 'r', startedAt: 1000, lastLiveAt: 5000, jobs: 1, joins: 2 }] },
    'a long session without its agent': { rooms: [{ room: 'r', startedAt: 1000, lastLiveAt: 1000 + AGENT_DUE_MS, jobs: 0, joins: 0 }] },
    'a session left behind': { leftBehind: ['r'] },
    'a room left in LiveKit': { leftInLivekit: ['r'] }
  }
  for (const [what, overrides] of Object.entries(broken)) {
    const summary = summarize(facts(overrides))
    t.equal(summary.passed, false, what)
    t.equal(summary.exitCode, 1, `${what}: exit 1`)
  }

  const fine: Record<string, Partial<ChaosFacts>> = {
    'a disagreement within the bound': { disagreements: [{ what: 'active: session', room: 'r', from: 1000, to: 1000 + LIVE_BOUND_MS, open: false }] },
    'a short session without its agent': { rooms: [{ room: 'r', startedAt: 1000, lastLiveAt: 999 + AGENT_DUE_MS, jobs: 0, joins: 0 }] },
    'a 500 in another phase': { answers: [answer(), answer({ sentAt: 100_000, status: 500 })] },
    'a disagreement in another phase': { disagreements: [{ what: 'active: session', room: 'r', from: 100_001, to: 200_000, open: false }] }
  }
  for (const [what, overrides] of Object.entries(fine)) t.equal(summarize(facts(overrides)).phases[0]?.passed, true, what)

  // Each fault is held to what the README promises for the situation it makes.
  const tenSeconds = { disagreements: [{ what: 'status: agent_connected', room: 'r', from: 20_000, to: 30_000, open: false }] }
  for (const name of ['baseline', 'redis-restart', 'livekit-stall', 'replica-kill'] as const) {
    t.equal(summarize(facts({ ...tenSeconds, phases: [phase({ name })] })).passed, false, `10 s is too long in ${name}`)
  }
  for (const name of ['redis-stall', 'webhooks-cut'] as const) {
    t.equal(summarize(facts({ ...tenSeconds, phases: [phase({ name })] })).passed, true, `10 s is within ${name}'s ${DISAGREEMENT_BOUNDS[name].ms} ms`)
  }
})

t.test('markdown: the figures and the verdicts, said plainly', async (t) => {
  const broken = facts({
    phases: [phase({ name: 'livekit-stall', faultFrom: 10_000, faultTo: 15_000, away: 'LiveKit' })],
    answers: [answer(), answer({ status: 503, retryAfter: false, message: 'Service Unavailable', sentAt: 12_000 })],
    disagreements: [{ what: 'active: session', room: 'fitness-voice-u-00000002', from: 1000, to: 8000, open: true }]
  })
  const text = markdown(broken, summarize(broken))
  t.match(text, /\*\*Verdict: bounds broken/)
  t.match(text, /### LiveKit stalled \(SIGSTOP\) for 5 s: FAIL/)
  t.match(text, /\| 503 without Retry-After: Service Unavailable \| 1 \| failure \|/)
  t.match(text, /\| an answer disagrees with LiveKit for at most 3\.0 s \(webhooks arriving: milliseconds\) \| 7\.0 s \(active: session, still at the end\) \| \*\*FAIL\*\* \|/)
  t.match(text, /\| LiveKit stalled \(SIGSTOP\) for 5 s \| 2 \| 1 \| 0 \| 7\.0 s \| 0 more, 0 none \| \*\*FAIL\*\* \|/)
  const passed = facts()
  t.match(markdown(passed, summarize(passed)), /\*\*Verdict: every bound held\.\*\*/)
})

t.test('the balancer\'s names for routes and senders', async (t) => {
  t.equal(routeOf('GET', '/api/v1/voice-sessions/fitness-voice-u-00000000/status'), 'GET /api/v1/voice-sessions/{room}/status')
  t.equal(routeOf('DELETE', '/api/v1/voice-sessions/fitness-voice-u-00000000'), 'DELETE /api/v1/voice-sessions/{room}')
  t.equal(routeOf('GET', '/api/v1/voice-sessions/active?x=1'), 'GET /api/v1/voice-sessions/active')
  t.equal(routeOf('POST', '/api/v1/voice-sessions/start'), 'POST /api/v1/voice-sessions/start')
  t.equal(sourceOf('chaos-check-3'), 'check')
  t.equal(sourceOf('chaos-witness-1'), 'witness')
  t.equal(sourceOf('loadtest-abc-1-2'), 'load')
  t.equal(sourceOf(undefined), 'load')
})

/** A stand-in replica on loopback: answers with `handle`, counts what it got; closed with the test. */
async function replica (t: Test, handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ origin: string, got: string[], close: () => void }> {
  const got: string[] = []
  const server = createServer((request, response) => {
    got.push(`${request.method} ${request.url}`)
    if (request.url === '/ready') { response.end('{}'); return }
    handle(request, response)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const close = () => { server.closeAllConnections(); server.close() }
  t.teardown(close)
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, close }
}

async function balancer (t: Test): Promise<Balancer> {
  let clock = 0
  const lb = new Balancer(() => ++clock)
  await lb.listen()
  t.teardown(() => lb.close())
  return lb
}

const json = (status: number, body: object, headers: Record<string, string> = {}) => (_: IncomingMessage, response: ServerResponse) => {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
}

t.test('balancer: round robin, the answers recorded with their Retry-After and message, sessions started and ended', async (t) => {
  const a = await replica(t, json(200, { room_name: 'fitness-voice-u-0000000a' }))
  const b = await replica(t, json(503, { statusCode: 503, error: 'Service Unavailable', message: 'LiveKit is unavailable' }, { 'retry-after': '5' }))
  const lb = await balancer(t)
  lb.setReplica(0, a.origin)
  lb.setReplica(1, b.origin)
  const first = await fetch(`${lb.url}/api/v1/voice-sessions/start`, { method: 'POST', headers: { 'x-request-id': 'loadtest-x-0-1' } })
  t.same(await first.json(), { room_name: 'fitness-voice-u-0000000a' })
  const second = await fetch(`${lb.url}/api/v1/voice-sessions/start`, { method: 'POST', headers: { 'x-request-id': 'chaos-check-1' } })
  t.equal(second.status, 503)
  t.equal(second.headers.get('retry-after'), '5', 'headers passed on')
  await (await fetch(`${lb.url}/api/v1/voice-sessions/fitness-voice-u-0000000a`, { method: 'DELETE' })).text()
  t.same(lb.answers.map(({ source, route, outcome, status, retryAfter, message }) => ({ source, route, outcome, status, retryAfter, message })), [
    { source: 'load', route: 'POST /api/v1/voice-sessions/start', outcome: 'answered', status: 200, retryAfter: false, message: undefined },
    { source: 'check', route: 'POST /api/v1/voice-sessions/start', outcome: 'answered', status: 503, retryAfter: true, message: 'LiveKit is unavailable' },
    { source: 'load', route: 'DELETE /api/v1/voice-sessions/{room}', outcome: 'answered', status: 200, retryAfter: false, message: undefined }
  ])
  t.same([...lb.started.keys()], ['fitness-voice-u-0000000a'])
  t.same([...lb.ended.keys()], ['fitness-voice-u-0000000a'])
  t.same(a.got.filter((line) => line !== 'GET /ready'), ['POST /api/v1/voice-sessions/start', 'DELETE /api/v1/voice-sessions/fitness-voice-u-0000000a'], 'the first and third to one replica')
})

t.test('balancer: a refused connection goes to the other replica; none left is a 502 of its own', async (t) => {
  // No keep-alive: each request opens a connection, which a closed replica refuses.
  const a = await replica(t, json(200, {}, { connection: 'close' }))
  const b = await replica(t, json(200, {}, { connection: 'close' }))
  const lb = await balancer(t)
  lb.setReplica(0, a.origin)
  lb.setReplica(1, b.origin)
  b.close()
  for (let i = 0; i < 3; i++) t.equal((await fetch(`${lb.url}/api/v1/voice-sessions/start`, { method: 'POST' })).status, 200)
  t.equal(lb.readyCount(), 1, 'the refusing replica left the rotation')
  a.close()
  const none = await fetch(`${lb.url}/api/v1/voice-sessions/active`)
  t.equal(none.status, 502)
  t.equal(none.headers.get('x-chaos-balancer'), '1')
  t.same(lb.answers.map((record) => record.outcome), ['answered', 'answered', 'answered', 'no-replica'])
})

t.test('balancer: a POST in flight on a killed replica is cut, a GET goes to the other one', async (t) => {
  let hang: ServerResponse[] = []
  const a = await replica(t, (_, response) => { hang.push(response) })
  const b = await replica(t, json(200, { sessions: [] }))
  const lb = await balancer(t)
  lb.setReplica(0, a.origin)
  lb.setReplica(1, b.origin)
  const post = fetch(`${lb.url}/api/v1/voice-sessions/start`, { method: 'POST' })
  await (await fetch(`${lb.url}/api/v1/voice-sessions/active`)).text()
  const get = fetch(`${lb.url}/api/v1/voice-sessions/active`)
  while (hang.length < 2) await new Promise((resolve) => setTimeout(resolve, 10))
  lb.killed(0)
  a.close()
  hang = []
  t.equal((await post).status, 502, 'the POST is not sent twice')
  t.equal((await get).status, 200, 'the GET is answered by the other replica')
  t.same(lb.answers.map((record) => record.outcome).sort(), ['answered', 'answered', 'cut'])
})

t.test('balancer: webhooks go to a replica, or are dropped and answered 200 while cut', async (t) => {
  const a = await replica(t, json(200, {}))
  const lb = await balancer(t)
  lb.setReplica(0, a.origin)
  t.equal((await fetch(`${lb.url}/api/v1/livekit/webhook`, { method: 'POST', body: '{}' })).status, 200)
  lb.webhooksCut = true
  t.equal((await fetch(`${lb.url}/api/v1/livekit/webhook`, { method: 'POST', body: '{}' })).status, 200)
  t.same(a.got.filter((line) => line !== 'GET /ready'), ['POST /api/v1/livekit/webhook'], 'the cut one never arrived')
  t.same(lb.webhooks.map(({ dropped, status }) => ({ dropped, status })), [{ dropped: false, status: 200 }, { dropped: true, status: undefined }])
  t.same(lb.answers, [], 'webhooks are not counted as answers')
})
