import { ParticipantKind } from '@livekit/rtc-node'
import { AccessToken, RoomServiceClient, TokenVerifier } from 'livekit-server-sdk'
import fc from 'fast-check'
import t from 'tap'
import { parseSessionMetadata } from '#sessions/metadata.js'
import { isUsableUserId } from '#sessions/user-id.js'
import { joinRoom, waitFor } from '../clients.js'
import { bearer, buildWithLivekit, userToken } from '../helper.js'

// LiveKit's webhooks keep the service's session index current, as in production.
const { app, livekit } = await buildWithLivekit(t)
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const alice = bearer(userToken(app, 'alice', 'alice@example.com'))
const bob = bearer(userToken(app, 'bob', 'bob@example.com'))

async function start (headers: Record<string, string>, payload?: object) {
  const response = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers, ...(payload === undefined ? {} : { payload }) })
  return { response, body: response.json() }
}

async function status (headers: Record<string, string>, roomName: string) {
  return await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${encodeURIComponent(roomName)}/status`, headers })
}

t.test('8.1 start creates a session: a room in LiveKit and a token for it', async (t) => {
  const { response, body } = await start(alice, { agent_type: 'workout' })
  t.equal(response.statusCode, 200)
  t.match(body, { room_name: /^fitness-voice-alice-[0-9a-f]{8}$/, token: String, livekit_url: livekit.url, agent_type: 'workout', expires_at: String })

  const [room] = await rooms.listRooms([body.room_name])
  t.ok(room, 'the room exists in LiveKit')
  t.equal(room?.emptyTimeout, 300)
  t.equal(room?.maxParticipants, 2)
  t.equal(room?.departureTimeout, 20)
  t.match(parseSessionMetadata(room?.metadata), { user_id: 'alice', agent_type: 'workout', mode: 'voice' })

  const claims = await new TokenVerifier(livekit.apiKey, livekit.apiSecret).verify(body.token)
  t.equal(claims.sub, 'alice')
  t.equal(claims.name, 'alice@example.com')
  t.equal(claims.video?.room, body.room_name)
  t.equal(new Date(body.expires_at).getTime(), (claims.exp ?? 0) * 1000)
  t.equal((claims.exp ?? 0) - (claims.nbf ?? 0), 21600)
})

t.test('start without a body, or with an empty object, is a general session', async (t) => {
  for (const payload of [undefined, {}]) {
    const { response, body } = await start(alice, payload)
    t.equal(response.statusCode, 200)
    t.equal(body.agent_type, 'general')
  }
})

t.test('8.2 status of a new session: nobody in it yet', async (t) => {
  const { body } = await start(alice, { agent_type: 'diet' })
  const response = await status(alice, body.room_name)
  t.equal(response.statusCode, 200)
  const [room] = await rooms.listRooms([body.room_name])
  t.same(response.json(), {
    room_name: body.room_name,
    active: false,
    participants: 0,
    agent_connected: false,
    agent_state: 'none',
    created_at: new Date(Number(room?.creationTimeMs)).toISOString(),
    ends_at: new Date(Number(room?.creationTimeMs) + 3600 * 1000).toISOString()
  })
  t.equal(body.ends_at, response.json().ends_at, 'start said the same: MAX_SESSION_SECONDS after creation')
})

t.test('a real client joining with the issued token makes the session active', async (t) => {
  const { body } = await start(alice)
  const { room } = await joinRoom(t, body.livekit_url, body.token)
  t.equal(room.localParticipant?.identity, 'alice')
  const active = await waitFor(async () => {
    const json = (await status(alice, body.room_name)).json()
    return json.active === true ? json : undefined
  })
  t.match(active, { active: true, participants: 1, agent_connected: false })
  const listed = (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })).json()
  t.match(listed.sessions.find((s: { room_name: string }) => s.room_name === body.room_name), { participants: 1 })
})

t.test('an agent in the room is reported as connected, and not counted as a person', async (t) => {
  const { body } = await start(alice)
  const agentToken = await livekitAgentToken(body.room_name)
  const { room } = await joinRoom(t, body.livekit_url, agentToken)
  t.equal(room.localParticipant?.kind, ParticipantKind.AGENT)
  const json = await waitFor(async () => {
    const json = (await status(alice, body.room_name)).json()
    return json.agent_connected === true ? json : undefined
  })
  t.match(json, { active: false, participants: 0, agent_connected: true })
})

async function livekitAgentToken (roomName: string): Promise<string> {
  const token = new AccessToken(livekit.apiKey, livekit.apiSecret, { identity: 'agent-1' })
  token.kind = 'agent'
  token.addGrant({ roomJoin: true, room: roomName, agent: true })
  return await token.toJwt()
}

t.test('8.3 end deletes the room; the session is then not found', async (t) => {
  const { body } = await start(alice)
  const response = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${body.room_name}`, headers: alice })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'ended', room_name: body.room_name })
  t.same(await rooms.listRooms([body.room_name]), [])
  const after = await status(alice, body.room_name)
  t.equal(after.statusCode, 404)
  t.equal(after.json().message, 'Session not found')
  const again = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${body.room_name}`, headers: alice })
  t.equal(again.statusCode, 404)
})

t.test('8.4 active lists exactly the caller\'s live sessions', async (t) => {
  const carol = bearer(userToken(app, 'carol'))
  const dave = bearer(userToken(app, 'dave'))
  const first = (await start(carol, { agent_type: 'workout' })).body
  const second = (await start(carol, { agent_type: 'scheduler' })).body
  await start(dave)
  const response = await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: carol })
  t.equal(response.statusCode, 200)
  const sessions = response.json().sessions as Array<Record<string, unknown>>
  t.equal(sessions.length, 2)
  t.same(new Set(sessions.map((s) => s.room_name)), new Set([first.room_name, second.room_name]))
  for (const session of sessions) {
    t.match(session, { room_name: String, agent_type: /^(workout|scheduler)$/, participants: 0, created_at: String })
  }
  t.equal(sessions.find((s) => s.room_name === first.room_name)?.agent_type, 'workout')
})

t.test('8.5 without a JWT: 401 on every route', async (t) => {
  const routes = [
    ['POST', '/api/v1/voice-sessions/start'],
    ['GET', '/api/v1/voice-sessions/active'],
    ['GET', '/api/v1/voice-sessions/fitness-voice-alice-00000000/status'],
    ['DELETE', '/api/v1/voice-sessions/fitness-voice-alice-00000000']
  ] as const
  for (const [method, url] of routes) {
    const response = await app.inject({ method, url })
    t.equal(response.statusCode, 401, `${method} ${url}`)
    t.same(response.json(), { statusCode: 401, error: 'Unauthorized', message: 'Missing bearer token' })
    t.equal(response.headers['www-authenticate'], 'Bearer')
  }
})

t.test('8.6 another user\'s session: 403, and it is left alone', async (t) => {
  const { body } = await start(alice)
  const read = await status(bob, body.room_name)
  t.equal(read.statusCode, 403)
  t.same(read.json(), { statusCode: 403, error: 'Forbidden', message: 'Not your session' })
  const remove = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${body.room_name}`, headers: bob })
  t.equal(remove.statusCode, 403)
  t.equal((await rooms.listRooms([body.room_name])).length, 1, 'the room still exists')
  const listed = (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: bob })).json()
  t.notOk(listed.sessions.some((s: { room_name: string }) => s.room_name === body.room_name))
})

t.test('8.7 unknown room: 404 Session not found', async (t) => {
  for (const name of ['nonexistent-room', 'fitness-voice-alice-00000000']) {
    const response = await status(alice, name)
    t.equal(response.statusCode, 404, name)
    t.same(response.json(), { statusCode: 404, error: 'Not Found', message: 'Session not found' })
    const remove = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${name}`, headers: alice })
    t.equal(remove.statusCode, 404, name)
  }
})

t.test('a room made outside the service, with metadata that is missing, not JSON or foreign, is nobody\'s session', async (t) => {
  const cases = { missing: '', garbage: 'not json{', foreign: JSON.stringify({ owner: 'alice' }) }
  for (const [label, metadata] of Object.entries(cases)) {
    const name = `fitness-voice-alice-${label === 'missing' ? 'aaaaaaaa' : label === 'garbage' ? 'bbbbbbbb' : 'cccccccc'}`
    await rooms.createRoom({ name, metadata })
    const read = await status(alice, name)
    t.equal(read.statusCode, 403, label)
    const remove = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${name}`, headers: alice })
    t.equal(remove.statusCode, 403, label)
    t.equal((await rooms.listRooms([name])).length, 1, `${label}: the room is not deleted`)
  }
  const listed = (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })).json()
  t.notOk(listed.sessions.some((s: { room_name: string }) => s.room_name.endsWith('aaaaaaaa') || s.room_name.endsWith('bbbbbbbb')))
})

/** Every route a user has, for one user and one session: what each answered. */
async function everyRoute (user: Record<string, string>) {
  const { response, body } = await start(user)
  const room = encodeURIComponent(body.room_name)
  const read = await status(user, body.room_name)
  const refreshed = await app.inject({ method: 'POST', url: `/api/v1/voice-sessions/${room}/token`, headers: user })
  const tokenSource = await app.inject({ method: 'POST', url: '/api/v1/livekit/token', headers: user, payload: {} })
  const listed = await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: user })
  const ended = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${room}`, headers: user })
  const endedToo = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${encodeURIComponent(tokenSource.json().room_name)}`, headers: user })
  return { started: response, body, read, refreshed, listed, tokenSource, ended, endedToo }
}

t.test('user ids up to the byte limit in any script work end to end, with a real client joining', async (t) => {
  const subs = [
    'Jane Doe',
    'auth0|5f/7c?x#y%z',
    'a'.repeat(233), // 233 bytes: the longest
    '語'.repeat(77), // 231 bytes
    '😀'.repeat(58), // 232 bytes
    'مرحبا بالعالم '.repeat(9).slice(0, 100), // right-to-left text, no bidi controls
    'e\u0301'.repeat(77) // combining marks: 231 bytes
  ]
  for (const sub of subs) {
    const user = bearer(userToken(app, sub))
    const { started, body, read, refreshed, listed, tokenSource, ended, endedToo } = await everyRoute(user)
    t.equal(started.statusCode, 200, `start: ${sub.slice(0, 12)}`)
    t.ok(body.room_name.startsWith(`fitness-voice-${sub}-`))
    t.equal(read.statusCode, 200)
    t.equal(refreshed.statusCode, 200)
    t.same(listed.json().sessions.map((s: { room_name: string }) => s.room_name).sort(), [body.room_name, tokenSource.json().room_name].sort())
    t.equal(tokenSource.statusCode, 201)
    t.equal(ended.statusCode, 200)
    t.equal(endedToo.statusCode, 200)

    const again = (await start(user)).body
    const client = await joinRoom(t, again.livekit_url, again.token)
    t.equal(client.room.localParticipant?.identity, sub, 'LiveKit knows the user by the same id')
    const joined = await waitFor(async () => {
      const s = (await status(user, again.room_name)).json()
      return s.participants === 1 ? s : undefined
    })
    t.equal(joined.active, true)
    await client.room.disconnect()
  }
})

t.test('property: any usable user id, drawn from all of Unicode, works on every route against LiveKit', async (t) => {
  const anyId = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 240 }))
  await fc.assert(fc.asyncProperty(anyId.filter(isUsableUserId), async (sub) => {
    const results = await everyRoute(bearer(userToken(app, sub)))
    return results.started.statusCode === 200 && results.read.statusCode === 200 && results.refreshed.statusCode === 200 &&
      results.listed.json().sessions.length === 2 && results.tokenSource.statusCode === 201 &&
      results.ended.statusCode === 200 && results.endedToo.statusCode === 200
  }), { numRuns: 30 })
})
