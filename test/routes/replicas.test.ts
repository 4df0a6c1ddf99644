import t from 'tap'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { joinRoom, waitFor } from '../clients.js'
import { bearer, build, buildWithLivekit, livekitConfig, userToken } from '../helper.js'
import { listsEveryRoom, recordingProxy } from '../livekit-proxy.js'
import { ONE_AGENT_CONFIG, oneAgentPerRoom } from '../one-agent-per-room.js'

/**
 * Replicas sharing one real redis-server, behind no sticky routing, next to a real livekit-server
 * whose webhooks go to the first replica only: every replica answers the same.
 */
t.test('replicas on one Redis behave as one', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  const shared = { REDIS_URL: redis.url, ...ONE_AGENT_CONFIG }
  const { app: one, livekit } = await buildWithLivekit(t, shared)
  const two = await build(t, { ...livekitConfig(livekit), ...shared })

  t.test('a session started on one is listed, read, refreshed and ended through the other', async (t) => {
    const alice = bearer(userToken(one, 'alice-r'))
    const session = (await one.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: alice })).json()
    t.same((await two.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })).json().sessions.map((s: { room_name: string }) => s.room_name), [session.room_name])
    t.equal((await two.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: alice })).statusCode, 200)
    t.equal((await two.inject({ method: 'POST', url: `/api/v1/voice-sessions/${session.room_name}/token`, headers: alice })).statusCode, 200)

    // The join reaches the first replica as a webhook; the second answers from the same index.
    const client = await joinRoom(t, session.livekit_url, session.token)
    const seen = await waitFor(async () => {
      const status = (await two.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: alice })).json()
      return status.participants === 1 ? status : undefined
    })
    t.match(seen, { active: true, participants: 1 })
    await client.room.disconnect()

    t.equal((await two.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${session.room_name}`, headers: alice })).statusCode, 200)
    t.equal((await one.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: alice })).statusCode, 404)
    t.same((await one.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })).json(), { sessions: [] })
  })

  t.test('a replica that goes away loses nothing: a new one answers from the shared index, not from LiveKit\'s room list', async (t) => {
    // A Redis of their own, whose rebuild lead (RECONCILE_INTERVAL_MS long) the first of them takes: without a
    // shared index, the new replica could know the session only by reading LiveKit's whole room list.
    const ownRedis = await startRedisServer()
    t.teardown(ownRedis.stop)
    const pair = { ...livekitConfig(livekit), ...ONE_AGENT_CONFIG, REDIS_URL: ownRedis.url, RECONCILE_INTERVAL_MS: 3_600_000 }
    const leaving = await build(t, pair)
    await leaving.sessionIndex.reconciler.whenRebuilt()
    const bob = bearer(userToken(leaving, 'bob-r'))
    const started = await leaving.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bob })
    t.equal(started.statusCode, 200)
    await leaving.close()

    const proxy = await recordingProxy(t, livekit.port)
    const next = await build(t, { ...pair, LIVEKIT_URL: proxy.url })
    const listed = await next.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: bob })
    t.equal(listed.statusCode, 200)
    t.same(listed.json().sessions.map((s: { room_name: string }) => s.room_name), [started.json().room_name])
    t.equal((await next.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
    t.ok(proxy.twirp.some((call) => call.method === 'ListRooms'), 'its LiveKit calls go through the proxy (the readiness probe did)')
    t.same(proxy.twirp.filter(listsEveryRoom), [], 'no full ListRooms: the session came from the shared index')
  })

  t.test('exactly one agent job per room with status polled through both replicas', async (t) => {
    await oneAgentPerRoom(t, livekit, [one, two])
  })
})
