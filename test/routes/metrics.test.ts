import { RoomServiceClient } from 'livekit-server-sdk'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { waitFor } from '../clients.js'
import { bearer, buildWithLivekit, userToken } from '../helper.js'

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

t.test('METRICS_TOKEN guards /metrics', async (t) => {
  const { app } = await buildWithLivekit(t, { METRICS_TOKEN: 'scrape-me-please' })
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 401)
  t.match(await scrape(app, { authorization: 'Bearer scrape-me-please' }), /voice_sessions_live/)
})
