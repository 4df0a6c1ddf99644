import { DisconnectReason } from '@livekit/rtc-node'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { joinRoom, waitFor, within } from '../clients.js'
import { bearer, build, buildWithLivekit, livekitConfig, userToken } from '../helper.js'

/** Limits against a real livekit-server (and a real redis-server for replicas). */

const start = async (app: FastifyInstance, headers: Record<string, string>) => await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })
const tokenSource = async (app: FastifyInstance, headers: Record<string, string>) => await app.inject({ method: 'POST', url: '/api/v1/livekit/token', headers, payload: {} })

t.test('START_RATE_LIMIT: start and /livekit/token share one bucket per user; over it, 429 with Retry-After in whole seconds', async (t) => {
  const { app } = await buildWithLivekit(t, { START_RATE_LIMIT: '3/minute', MAX_SESSIONS_PER_USER: 100 })
  const alice = bearer(userToken(app, 'alice'))
  t.same([(await start(app, alice)).statusCode, (await tokenSource(app, alice)).statusCode, (await start(app, alice)).statusCode], [200, 201, 200])
  for (const refused of [await start(app, alice), await tokenSource(app, alice)]) {
    t.equal(refused.statusCode, 429)
    t.match(refused.headers['retry-after'], /^[1-9][0-9]*$/, 'whole seconds')
    t.ok(Number(refused.headers['retry-after']) <= 60)
    t.match(refused.json(), { statusCode: 429, error: 'Too Many Requests', message: /^Rate limit exceeded \(3 per minute\); retry in \d+ s$/ })
  }
  t.equal((await start(app, bearer(userToken(app, 'bob')))).statusCode, 200, 'another user has a bucket of their own')
  for (let i = 0; i < 10; i++) {
    t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
    t.not((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 429)
  }
})

t.test('API_RATE_LIMIT: a looser per-user limit on every other authenticated route', async (t) => {
  const { app } = await buildWithLivekit(t, { API_RATE_LIMIT: '4/minute' })
  const carol = bearer(userToken(app, 'carol'))
  const session = (await start(app, carol)).json()
  const statuses: number[] = []
  for (const url of ['/api/v1/voice-sessions/active', `/api/v1/voice-sessions/${session.room_name}/status`, '/api/v1/voice-sessions/active', `/api/v1/voice-sessions/${session.room_name}/status`, '/api/v1/voice-sessions/active']) {
    statuses.push((await app.inject({ method: 'GET', url, headers: carol })).statusCode)
  }
  t.same(statuses, [200, 200, 200, 200, 429])
  t.equal((await start(app, carol)).statusCode, 200, 'starting has its own bucket')
})

t.test('session caps: per user (MAX_SESSIONS_PER_USER) and for the service (MAX_LIVE_SESSIONS): 429 naming the cap, no Retry-After', async (t) => {
  const { app } = await buildWithLivekit(t, { MAX_SESSIONS_PER_USER: 2, MAX_LIVE_SESSIONS: 3 })
  const dave = bearer(userToken(app, 'dave'))
  const first = (await start(app, dave)).json()
  t.equal((await tokenSource(app, dave)).statusCode, 201, '/livekit/token counts too')
  const third = await start(app, dave)
  t.equal(third.statusCode, 429)
  t.equal(third.headers['retry-after'], undefined)
  t.match(third.json().message, /MAX_SESSIONS_PER_USER = 2/)
  t.equal((await tokenSource(app, dave)).statusCode, 429)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${first.room_name}`, headers: dave })).statusCode, 200)
  t.equal((await start(app, dave)).statusCode, 200, 'ending one frees a place')

  const erin = bearer(userToken(app, 'erin'))
  t.equal((await start(app, erin)).statusCode, 200, 'the third live session of the service')
  const full = await start(app, bearer(userToken(app, 'finn')))
  t.equal(full.statusCode, 429)
  t.equal(full.headers['retry-after'], undefined)
  t.match(full.json().message, /cap of 3 live sessions \(MAX_LIVE_SESSIONS\)/)
})

t.test('MAX_SESSION_SECONDS: start and status say when the session ends; then the service ends it and a connected client sees ROOM_DELETED', async (t) => {
  const { app } = await buildWithLivekit(t, { MAX_SESSION_SECONDS: 10 })
  const gwen = bearer(userToken(app, 'gwen'))
  const session = (await start(app, gwen)).json()
  const createdAt = (await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: gwen })).json()
  t.equal(new Date(session.ends_at).getTime() - new Date(createdAt.created_at).getTime(), 10_000, 'ends_at = created_at + 10 s')
  t.equal(createdAt.ends_at, session.ends_at, 'status says the same')
  const client = await joinRoom(t, session.livekit_url, session.token)
  t.equal(await within(client.disconnected, 30_000), DisconnectReason.ROOM_DELETED, 'the client sees the room deleted')
  // The client hears of the deletion before LiveKit answers the service's DeleteRoom: the index follows at once after.
  const gone = await waitFor(async () => {
    const answer = await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: gwen })
    return answer.statusCode === 404 ? answer : undefined
  }, { tries: 50, intervalMs: 100 })
  t.equal(gone.statusCode, 404)
  t.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /voice_sessions_ended_total\{reason="max_length"\} 1/, 'counted as max_length')
})

t.test('with Redis, two replicas keep one limit: the same user through both', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  const shared = { REDIS_URL: redis.url, START_RATE_LIMIT: '3/minute', MAX_SESSIONS_PER_USER: 100 }
  const { app: one, livekit } = await buildWithLivekit(t, shared)
  const two = await build(t, { ...livekitConfig(livekit), ...shared })
  const hana = bearer(userToken(one, 'hana'))
  t.same([(await start(one, hana)).statusCode, (await start(two, hana)).statusCode, (await tokenSource(one, hana)).statusCode], [200, 200, 201])
  t.equal((await start(two, hana)).statusCode, 429, 'the fourth, through the other replica, is over the one limit')
  t.equal((await start(one, hana)).statusCode, 429)

  const capped = { REDIS_URL: redis.url, MAX_SESSIONS_PER_USER: 2 }
  const three = await build(t, { ...livekitConfig(livekit), ...capped })
  const four = await build(t, { ...livekitConfig(livekit), ...capped })
  const ivan = bearer(userToken(three, 'ivan'))
  t.same([(await start(three, ivan)).statusCode, (await start(four, ivan)).statusCode, (await start(three, ivan)).statusCode], [200, 200, 429], 'the per-user cap across replicas')
})
