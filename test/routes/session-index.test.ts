import { RoomServiceClient } from 'livekit-server-sdk'
import t from 'tap'
import { sessionMetadata } from '#sessions/metadata.js'
import { joinRoom, waitFor } from '../clients.js'
import { bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'
import { recordingProxy } from '../livekit-proxy.js'

/** The session index against a real livekit-server that sends no webhooks: the reconcile alone keeps it true. */

const livekit = await startLivekit(t)
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const INTERVAL = 1000

async function service (overrides: Record<string, unknown> = {}) {
  const proxy = await recordingProxy(t, livekit.port)
  const app = await build(t, { ...livekitConfig(livekit), LIVEKIT_URL: proxy.url, RECONCILE_INTERVAL_MS: INTERVAL, ...overrides })
  await app.sessionIndex.reconciler.whenRebuilt()
  return { app, calls: proxy.calls }
}

async function get (app: Awaited<ReturnType<typeof service>>['app'], url: string, sub: string) {
  return await app.inject({ method: 'GET', url, headers: bearer(userToken(app, sub)) })
}

t.test('without webhooks, a session LiveKit closed leaves answers within the reconcile interval', async (t) => {
  const { app } = await service()
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(app, 'erin')) })).json()
  t.equal((await get(app, '/api/v1/voice-sessions/active', 'erin')).json().sessions.length, 1)
  // Closed behind the service's back, as LiveKit's empty or departure timeout would.
  await rooms.deleteRoom(session.room_name)
  const gone = await waitFor(async () => {
    const listed = (await get(app, '/api/v1/voice-sessions/active', 'erin')).json()
    return listed.sessions.length === 0 ? listed : undefined
  }, { tries: 60, intervalMs: 100 })
  t.same(gone, { sessions: [] })
  t.equal((await get(app, `/api/v1/voice-sessions/${session.room_name}/status`, 'erin')).statusCode, 404)
})

t.test('without webhooks, a person who joined is counted within the reconcile interval', async (t) => {
  const { app } = await service()
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(app, 'finn')) })).json()
  // Straight to LiveKit: the recording proxy speaks the server API only.
  const client = await joinRoom(t, livekit.url, session.token)
  const joined = await waitFor(async () => {
    const status = (await get(app, `/api/v1/voice-sessions/${session.room_name}/status`, 'finn')).json()
    return status.participants === 1 ? status : undefined
  }, { tries: 60, intervalMs: 100 })
  t.match(joined, { active: true, participants: 1 })
  await client.room.disconnect()
  const left = await waitFor(async () => {
    const status = (await get(app, `/api/v1/voice-sessions/${session.room_name}/status`, 'finn')).json()
    return status.participants === 0 ? status : undefined
  }, { tries: 60, intervalMs: 100 })
  t.match(left, { active: false })
})

t.test('a restarted replica rebuilds its index from LiveKit once: sessions started before are still listed', async (t) => {
  const before = await service()
  const started = (await before.app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(before.app, 'gwen')) })).json()
  await before.app.close()
  const after = await service()
  const listed = (await get(after.app, '/api/v1/voice-sessions/active', 'gwen')).json()
  t.same(listed.sessions.map((s: { room_name: string }) => s.room_name), [started.room_name])
})

t.test('after a restart, people already in sessions are counted at once, and the index confirms them by itself', async (t) => {
  const before = await service({ RECONCILE_INTERVAL_MS: 600_000 })
  const startWithPerson = async (sub: string): Promise<{ room_name: string }> => {
    const session = (await before.app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(before.app, sub)) })).json()
    await joinRoom(t, livekit.url, session.token)
    await waitFor(async () => (await rooms.listParticipants(session.room_name)).length === 1 ? true : undefined)
    return session
  }
  const ivy = await startWithPerson('ivy')
  const jon = await startWithPerson('jon')
  await before.app.close()
  const after = await service({ RECONCILE_INTERVAL_MS: 600_000 })
  // Rebuilt, its people maybe not read yet: the answer is LiveKit's then.
  t.match((await get(after.app, `/api/v1/voice-sessions/${ivy.room_name}/status`, 'ivy')).json(), { active: true, participants: 1 })
  // Untouched by any request: the rebuild's own participant reads confirm it, and it is answered from the index.
  const confirmed = await waitFor(async () => {
    const entry = await after.app.sessionIndex.store.get(jon.room_name)
    return entry !== undefined && Date.now() - entry.checkedAtMs < 600_000 ? entry : undefined
  }, { tries: 50, intervalMs: 100 })
  t.equal(confirmed.participants.length, 1)
  after.calls.length = 0
  t.match((await get(after.app, `/api/v1/voice-sessions/${jon.room_name}/status`, 'jon')).json(), { active: true, participants: 1 })
  t.same(after.calls, [], 'from the index, with no LiveKit call')
})

t.test('active and status cost no LiveKit call while the index is current, however many other rooms LiveKit holds', async (t) => {
  // Long enough that no confirmation ages during the test.
  const { app, calls } = await service({ RECONCILE_INTERVAL_MS: 600_000 })
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(app, 'hana')) })).json()
  const readAll = async () => {
    calls.length = 0
    for (let i = 0; i < 5; i++) {
      t.equal((await get(app, '/api/v1/voice-sessions/active', 'hana')).json().sessions.length, 1)
      t.equal((await get(app, `/api/v1/voice-sessions/${session.room_name}/status`, 'hana')).statusCode, 200)
    }
    return [...calls]
  }
  // The agent watch is off (no agent configured), so only reads would call LiveKit.
  t.same(await readAll(), [], 'no call with LiveKit nearly empty')
  for (let i = 0; i < 200; i++) {
    await rooms.createRoom({ name: `fitness-voice-other-${i}-0000abcd`, metadata: JSON.stringify(sessionMetadata(`other-${i}`, 'general', new Date())) })
  }
  t.same(await readAll(), [], 'and none with 200 other users\' rooms in it')
})
