import { AgentDispatchClient, RoomServiceClient, TokenVerifier } from 'livekit-server-sdk'
import t from 'tap'
import { parseSessionMetadata } from '#sessions/metadata.js'
import { joinRoom } from '../clients.js'
import { bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'

const livekit = await startLivekit(t)
const app = await build(t, { ...livekitConfig(livekit), LIVEKIT_AGENT_NAME: 'voice-agent', LIVEKIT_AGENT_NAMES: 'workout=coach-agent' })
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const dispatches = new AgentDispatchClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const verifier = new TokenVerifier(livekit.apiKey, livekit.apiSecret)
const alice = bearer(userToken(app, 'alice', 'alice@example.com'))
const bob = bearer(userToken(app, 'bob'))

async function start (headers: Record<string, string>, payload: object = {}) {
  return (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers, payload })).json()
}

t.test('start puts the agent for the session\'s type into the room, with the session in its metadata', async (t) => {
  for (const [agentType, agentName] of [['workout', 'coach-agent'], ['diet', 'voice-agent']] as const) {
    const session = await start(alice, { agent_type: agentType })
    const [dispatch] = await dispatches.listDispatch(session.room_name)
    t.equal(dispatch?.agentName, agentName, agentType)
    t.same(JSON.parse(dispatch?.metadata ?? ''), { user_id: 'alice', agent_type: agentType, room_name: session.room_name })
  }
})

t.test('token refresh: a new token for the owner, which a client really reconnects with', async (t) => {
  const session = await start(alice)
  const first = await joinRoom(t, livekit.url, session.token)
  await first.room.disconnect()

  const response = await app.inject({ method: 'POST', url: `/api/v1/voice-sessions/${session.room_name}/token`, headers: alice })
  t.equal(response.statusCode, 200)
  const refreshed = response.json()
  t.same(Object.keys(refreshed).sort(), ['expires_at', 'livekit_url', 'room_name', 'token'])
  t.equal(refreshed.room_name, session.room_name)
  t.equal(refreshed.livekit_url, livekit.url)
  const claims = await verifier.verify(refreshed.token)
  t.equal(claims.sub, 'alice')
  t.equal(claims.video?.room, session.room_name)
  t.equal(new Date(refreshed.expires_at).getTime(), (claims.exp ?? 0) * 1000)

  const again = await joinRoom(t, livekit.url, refreshed.token)
  t.equal(again.room.localParticipant?.identity, 'alice', 'the client is back in the room')
})

t.test('token refresh follows the status rules: 401, 403, 404, 400', async (t) => {
  const session = await start(alice)
  const url = `/api/v1/voice-sessions/${session.room_name}/token`
  t.equal((await app.inject({ method: 'POST', url })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url, headers: bob })).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/fitness-voice-alice-00000000/token', headers: alice })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: `/api/v1/voice-sessions/${'x'.repeat(300)}/token`, headers: alice })).statusCode, 400)
  await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${session.room_name}`, headers: alice })
  t.equal((await app.inject({ method: 'POST', url, headers: alice })).statusCode, 404, 'no token for an ended session')
})

t.test('LiveKit\'s token endpoint: 201 { server_url, participant_token }, a session exactly as start makes it', async (t) => {
  const response = await app.inject({ method: 'POST', url: '/api/v1/livekit/token', headers: alice, payload: {} })
  t.equal(response.statusCode, 201)
  const body = response.json()
  t.match(body, { server_url: livekit.url, participant_token: String, room_name: /^fitness-voice-alice-[0-9a-f]{8}$/, participant_name: 'alice@example.com' })
  const [room] = await rooms.listRooms([body.room_name])
  t.match(parseSessionMetadata(room?.metadata), { user_id: 'alice', agent_type: 'general' })
  t.equal(room?.maxParticipants, 2)
  const client = await joinRoom(t, body.server_url, body.participant_token)
  t.equal(client.room.localParticipant?.identity, 'alice')
  const listed = (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })).json()
  t.ok(listed.sessions.some((s: { room_name: string }) => s.room_name === body.room_name), 'it is one of the user\'s sessions')
})

t.test('LiveKit\'s token endpoint: the client\'s room, identity and name are ignored; a configured agent name picks the agent', async (t) => {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/livekit/token',
    headers: alice,
    payload: {
      room_name: 'fitness-voice-bob-0a1b2c3d',
      participant_identity: 'bob',
      participant_name: 'Bob',
      participant_metadata: '{"admin":true}',
      participant_attributes: { role: 'admin' },
      room_config: { agents: [{ agent_name: 'coach-agent', metadata: '{"user_id":"bob"}' }] },
      some_future_field: 1
    }
  })
  t.equal(response.statusCode, 201)
  const body = response.json()
  t.match(body.room_name, /^fitness-voice-alice-/)
  const claims = await verifier.verify(body.participant_token)
  t.equal(claims.sub, 'alice')
  t.equal(claims.name, 'alice@example.com')
  t.notOk(claims.metadata)
  t.same(claims.attributes ?? {}, {})
  const [room] = await rooms.listRooms([body.room_name])
  t.equal(parseSessionMetadata(room?.metadata)?.agent_type, 'workout')
  const [dispatch] = await dispatches.listDispatch(body.room_name)
  t.equal(dispatch?.agentName, 'coach-agent')
  t.equal(JSON.parse(dispatch?.metadata ?? '').user_id, 'alice')
})

t.test('LiveKit\'s token endpoint: an agent this service does not dispatch, or bad fields, are 400; no JWT is 401', async (t) => {
  const cases = [
    { room_config: { agents: [{ agent_name: 'someone-else' }] } },
    { room_config: { agents: [{ agent_name: 'a' }, { agent_name: 'b' }] } },
    { room_name: 42 },
    { participant_attributes: { a: 1 } },
    { room_config: 'x' }
  ]
  for (const payload of cases) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/livekit/token', headers: alice, payload })
    t.equal(response.statusCode, 400, JSON.stringify(payload))
    t.same(Object.keys(response.json()).sort(), ['error', 'message', 'statusCode'])
  }
  t.match((await app.inject({ method: 'POST', url: '/api/v1/livekit/token', headers: alice, payload: cases[0] })).json().message, 'someone-else')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/livekit/token', payload: {} })).statusCode, 401)
})
