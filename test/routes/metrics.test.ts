import { RoomServiceClient } from 'livekit-server-sdk'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { freePort } from '../../scripts/livekit-server.js'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { waitFor, within } from '../clients.js'
import { bearer, build, buildWithLivekit, livekitConfig, startLivekit, userToken } from '../helper.js'
import { recordingProxy } from '../livekit-proxy.js'

/** Prometheus metrics scraped before and after known traffic, against a real livekit-server that sends webhooks. */

/** The value of one series in a scrape, 0 when it is not there yet. */
function valueOf (scrape: string, series: string): number {
  const line = scrape.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

async function scrape (app: FastifyInstance, headers: Record<string, string> = {}): Promise<string> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers })
  if (response.statusCode !== 200) throw new Error(`/metrics answered ${response.statusCode}`)
  return response.body
}

t.test('counts follow known traffic: starts by type, ends by reason, dispatches, webhooks, the live gauge, LiveKit calls and HTTP', async (t) => {
  // An agent name no worker serves: the dispatch made with the room is counted all the same.
  const { app, livekit } = await buildWithLivekit(t, { LIVEKIT_AGENT_NAMES: 'diet=diet-agent' })
  const alice = bearer(userToken(app, 'alice'))
  const before = await scrape(app)
  const start = async (agentType: string) => (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: alice, payload: { agent_type: agentType } })).json()
  const one = await start('diet')
  const two = await start('workout')
  const three = await start('workout')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${one.room_name}`, headers: alice })).statusCode, 200)
  // Closed behind the service's back: LiveKit's room_finished webhook says so.
  await new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret).deleteRoom(two.room_name)
  const after = await waitFor(async () => {
    const text = await scrape(app)
    return valueOf(text, 'voice_sessions_ended_total{reason="closed"}') >= 1 ? text : undefined
  })
  const delta = (series: string) => valueOf(after, series) - valueOf(before, series)
  t.equal(delta('voice_sessions_started_total{agent_type="diet"}'), 1)
  t.equal(delta('voice_sessions_started_total{agent_type="workout"}'), 2)
  t.equal(delta('voice_sessions_ended_total{reason="deleted"}'), 1)
  t.equal(delta('voice_sessions_ended_total{reason="closed"}'), 1)
  t.equal(valueOf(after, 'voice_sessions_live'), 1, `only ${three.room_name} lives`)
  t.equal(delta('agent_dispatches_total{outcome="with_room"}'), 1, 'the diet session\'s dispatch, made with its room')
  t.ok(delta('livekit_webhook_events_total{event="room_started",outcome="applied"}') >= 3)
  t.ok(delta('livekit_webhook_events_total{event="room_finished",outcome="applied"}') >= 1)
  t.ok(delta('livekit_request_duration_seconds_count{operation="CreateRoom",outcome="ok"}') >= 3)
  t.match(after, /http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/voice-sessions\/start",status_code="200"\} 3/, 'by route pattern')
  t.match(after, /http_request_duration_seconds_count\{method="DELETE",route="\/api\/v1\/voice-sessions\/:room_name",status_code="200"\} 1/)
  t.match(after, /process_cpu_user_seconds_total/, 'the default process metrics')
})

t.test('a DELETE is counted as deleted, not closed, when LiveKit\'s room_finished webhook reaches the index before its answer to DeleteRoom', async (t) => {
  const port = await freePort()
  const livekit = await startLivekit(t, { extraConfig: `webhook: { api_key: testkey, urls: ["http://127.0.0.1:${port}/api/v1/livekit/webhook"] }` })
  let heardClosed = false
  let closedHeard!: () => void
  const closed = new Promise<void>((resolve) => { closedHeard = resolve })
  // LiveKit's answer to DeleteRoom waits for the webhook to be applied (bounded: without it, the order is not shown and the test says so).
  const proxy = await recordingProxy(t, livekit.port, { holdAnswer: async (call) => { if (call === 'DeleteRoom') await within(closed, 10_000) } })
  const app = await build(t, { ...livekitConfig(livekit), LIVEKIT_URL: proxy.url })
  app.sessionIndex.on('closed', () => { heardClosed = true; closedHeard() })
  await app.listen({ host: '127.0.0.1', port })
  const jane = bearer(userToken(app, 'jane'))
  const before = await scrape(app)
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: jane })).json()
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${session.room_name}`, headers: jane })).statusCode, 200)
  t.ok(heardClosed, 'room_finished reached the index before the service heard DeleteRoom\'s answer')
  const after = await scrape(app)
  const delta = (series: string) => valueOf(after, series) - valueOf(before, series)
  t.equal(delta('voice_sessions_ended_total{reason="deleted"}'), 1)
  t.equal(delta('voice_sessions_ended_total{reason="closed"}'), 0)
  t.equal(valueOf(after, 'voice_sessions_live'), 0)
})

t.test('a session LiveKit closed without a webhook is counted as reconciled when a read or the reconcile finds it gone', async (t) => {
  const livekit = await startLivekit(t)
  const app = await build(t, { ...livekitConfig(livekit), RECONCILE_INTERVAL_MS: 1000 })
  const kate = bearer(userToken(app, 'kate'))
  const before = await scrape(app)
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: kate })).json()
  await new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret).deleteRoom(session.room_name)
  await waitFor(async () => {
    const answer = await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: kate })
    return answer.statusCode === 404 ? answer : undefined
  })
  const after = await scrape(app)
  const delta = (series: string) => valueOf(after, series) - valueOf(before, series)
  t.equal(delta('voice_sessions_ended_total{reason="reconciled"}'), 1)
  t.equal(delta('voice_sessions_ended_total{reason="closed"}'), 0, 'no webhook said so')
  t.equal(valueOf(after, 'voice_sessions_live'), 0)
})

t.test('refusals are counted: rate limits by route, caps by scope', async (t) => {
  const { app } = await buildWithLivekit(t, { START_RATE_LIMIT: '1/minute', MAX_SESSIONS_PER_USER: 1 })
  const bob = bearer(userToken(app, 'bob'))
  const carol = bearer(userToken(app, 'carol'))
  for (const headers of [bob, bob, carol]) await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })
  const text = await scrape(app)
  t.equal(valueOf(text, 'rate_limited_total{route="/api/v1/voice-sessions/start"}'), 1)
  const capped = await buildWithLivekit(t, { MAX_SESSIONS_PER_USER: 1 })
  const dave = bearer(userToken(capped.app, 'dave'))
  for (let i = 0; i < 2; i++) await capped.app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: dave })
  t.equal(valueOf(await scrape(capped.app), 'session_cap_refusals_total{scope="user"}'), 1)
})

t.test('with the session index away (Redis stopped), /metrics still answers: the live gauge is unknown (NaN), the rest as usual', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  const app = await build(t, { REDIS_URL: redis.url })
  t.equal(valueOf(await scrape(app), 'voice_sessions_live'), 0)
  await redis.stop()
  const text = await scrape(app)
  t.ok(Number.isNaN(valueOf(text, 'voice_sessions_live')), 'the gauge says it does not know')
  t.match(text, /process_cpu_user_seconds_total/)
})

t.test('METRICS_TOKEN guards /metrics', async (t) => {
  const { app } = await buildWithLivekit(t, { METRICS_TOKEN: 'scrape-me-please' })
  const refused = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(refused.statusCode, 401)
  t.same(refused.json(), { statusCode: 401, error: 'Unauthorized', message: 'Missing or wrong metrics token' }, 'the one error body')
  t.equal(refused.headers['www-authenticate'], 'Bearer')
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 401)
  t.match(await scrape(app, { authorization: 'Bearer scrape-me-please' }), /voice_sessions_live/)
  const documented = (await app.inject({ method: 'GET', url: '/api/docs/json' })).json().paths['/metrics'].get.responses
  t.same(Object.keys(documented).sort(), ['200', '401'], 'both answers are in the OpenAPI document')
  t.ok(documented['200'].content['text/plain'], 'the scrape as text')
  t.same(Object.keys(documented['401'].content['application/json'].schema.properties).sort(), ['error', 'message', 'statusCode'])
})
