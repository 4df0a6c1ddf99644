import t from 'tap'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { joinRoom, waitFor } from '../clients.js'
import { bearer, build, buildWithLivekit, livekitConfig, userToken } from '../helper.js'
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

  t.test('a replica that goes away loses nothing: a new one answers from the shared index', async (t) => {
    const bob = bearer(userToken(one, 'bob-r'))
    const session = (await two.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bob })).json()
    const three = await build(t, { ...livekitConfig(livekit), ...shared })
    t.same((await three.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: bob })).json().sessions.map((s: { room_name: string }) => s.room_name), [session.room_name])
  })

  t.test('exactly one agent job per room with status polled through both replicas', async (t) => {
    await oneAgentPerRoom(t, livekit, [one, two])
  })
})
