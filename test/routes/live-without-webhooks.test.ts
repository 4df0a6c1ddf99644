import { Writable } from 'node:stream'
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk'
import t from 'tap'
import { joinRoom, waitFor } from '../clients.js'
import { bearer, build, buildWithLivekit, livekitConfig, startLivekit, userToken } from '../helper.js'

/**
 * The truth without webhooks (the seed plan's own deployment, or a mistyped webhook URL or key):
 * every answer about a session is LiveKit's, within a few seconds, though the reconcile is an hour
 * away; and the service says webhooks are not arriving.
 */

const livekit = await startLivekit(t)
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
/** Far longer than the test: only live reads can show what happens in it. */
const HOUR = 3_600_000
/** The bound the README promises without webhooks (3 s), in polls 100 ms apart. */
const WITHIN_3_S = { tries: 30, intervalMs: 100 }

function logLines () {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done() } })
  return { lines, stream }
}

async function agentJoins (roomName: string) {
  const token = new AccessToken(livekit.apiKey, livekit.apiSecret, { identity: 'agent-test' })
  token.kind = 'agent'
  token.addGrant({ roomJoin: true, room: roomName, agent: true, canPublish: true, canSubscribe: true })
  return await joinRoom(t, livekit.url, await token.toJwt())
}

t.test('without webhooks, a join, an agent, a leave and a room deleted behind the service show within 3 s', async (t) => {
  const app = await build(t, { ...livekitConfig(livekit), RECONCILE_INTERVAL_MS: HOUR })
  const headers = bearer(userToken(app, 'ivy'))
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })).json()
  const status = async () => (await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers }))
  t.match((await status()).json(), { participants: 0, active: false, agent_connected: false })

  const person = await joinRoom(t, livekit.url, session.token)
  t.match(await waitFor(async () => { const s = (await status()).json(); return s.participants === 1 ? s : undefined }, WITHIN_3_S), { active: true })
  const listed = await waitFor(async () => {
    const active = (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers })).json()
    return active.sessions[0]?.participants === 1 ? active : undefined
  }, WITHIN_3_S)
  t.equal(listed.sessions.length, 1, 'active says so too')

  const agent = await agentJoins(session.room_name)
  t.match(await waitFor(async () => { const s = (await status()).json(); return s.agent_connected === true ? s : undefined }, WITHIN_3_S), { agent_state: 'connected', participants: 1 })
  await agent.room.disconnect()
  await person.room.disconnect()
  t.match(await waitFor(async () => { const s = (await status()).json(); return s.participants === 0 && !s.agent_connected ? s : undefined }, WITHIN_3_S), { active: false })

  await rooms.deleteRoom(session.room_name)
  t.equal((await waitFor(async () => { const r = await status(); return r.statusCode === 404 ? r : undefined }, WITHIN_3_S)).statusCode, 404)
})

t.test('without webhooks, the service says so: once in the log and in a gauge', async (t) => {
  const { lines, stream } = logLines()
  const app = await build(t, { ...livekitConfig(livekit), RECONCILE_INTERVAL_MS: HOUR, LOG_LEVEL: 'info' }, stream)
  const headers = bearer(userToken(app, 'jude'))
  for (let i = 0; i < 2; i++) await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })
  // Each room's room_started is given CONFIRM_WITHIN_MS (5 s) to come.
  await waitFor(() => app.sessionIndex.webhooks.state() === 'silent' ? true : undefined, { tries: 150, intervalMs: 100 })
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^livekit_webhooks_silent 1$/m)
  const said = lines.filter((line) => String(line.msg).startsWith('LiveKit webhooks are not arriving'))
  t.equal(said.length, 1, 'said once')
  t.match(said[0]?.msg, /webhook\.urls.*webhook\.api_key/, 'naming the likely causes')
})

t.test('with webhooks, they are seen arriving, and the index answers a status without asking LiveKit', async (t) => {
  const { app, livekit: own } = await buildWithLivekit(t, { RECONCILE_INTERVAL_MS: HOUR })
  const headers = bearer(userToken(app, 'kai'))
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })).json()
  await waitFor(async () => ((await app.sessionIndex.store.get(session.room_name))?.heardAtMs ?? 0) > 0 ? true : undefined, { tries: 50, intervalMs: 100 })
  const person = await joinRoom(t, own.url, session.token)
  const joined = await waitFor(async () => {
    const s = (await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers })).json()
    return s.participants === 1 ? s : undefined
  }, WITHIN_3_S)
  t.match(joined, { active: true })
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const reads = (text: string) => Number(/livekit_request_duration_seconds_count\{operation="ListRooms",outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0)
  const before = reads(metrics)
  for (let i = 0; i < 5; i++) await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers })
  t.equal(reads((await app.inject({ method: 'GET', url: '/metrics' })).body), before, 'five statuses, no ListRooms: the webhooks keep the index true')
  await person.room.disconnect()
})

t.test('without webhooks, a user at the cap whose room LiveKit closed behind the service starts again within 3 s', async (t) => {
  const app = await build(t, { ...livekitConfig(livekit), RECONCILE_INTERVAL_MS: HOUR, MAX_SESSIONS_PER_USER: 1 })
  const uma = bearer(userToken(app, 'uma'))
  const start = async () => await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: uma })
  const first = await start()
  t.equal(first.statusCode, 200)
  t.equal((await start()).statusCode, 429, 'at the cap')
  await rooms.deleteRoom(first.json().room_name)
  // A live read is reused for 1 s; after it, the start at the cap checks the user's room with LiveKit.
  const again = await waitFor(async () => { const answer = await start(); return answer.statusCode === 200 ? answer : undefined }, WITHIN_3_S)
  t.equal(again.statusCode, 200, 'the closed room was checked with LiveKit and its place freed')
  t.equal((await start()).statusCode, 429, 'the cap holds with the new session')
})
