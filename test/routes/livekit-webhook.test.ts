import t from 'tap'
import { bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'
import { sessionRoom, signedDelivery, webhookEvent } from '../webhooks.js'

/**
 * The webhook route on the whole app, with the in-memory index. The deliveries are signed here, about
 * rooms LiveKit does not have; a real livekit-server is there for the reads (an empty room list).
 */
const livekit = await startLivekit(t)
const app = await build(t, { ...livekitConfig(livekit), RECONCILE_INTERVAL_MS: 3_600_000 })
const keys = { apiKey: app.config.LIVEKIT_API_KEY, apiSecret: app.config.LIVEKIT_API_SECRET }
const URL = '/api/v1/livekit/webhook'
const ROOM = 'fitness-voice-alice-0a1b2c3d'
const room = sessionRoom(ROOM, 'alice', 'diet')
const person = { sid: 'PA_alice', identity: 'alice', kind: 'STANDARD' }

async function deliver (event: Record<string, unknown>, tamper: (d: { body: string, headers: Record<string, string> }) => void = () => {}) {
  const delivery = await signedDelivery(event, keys)
  tamper(delivery)
  return await app.inject({ method: 'POST', url: URL, headers: delivery.headers, payload: delivery.body })
}

t.test('forged, tampered, unsigned or stale deliveries: 401 before anything is read or stored', async (t) => {
  const started = webhookEvent('room_started', room)
  const cases: Array<[string, (d: { body: string, headers: Record<string, string> }) => void]> = [
    ['no signature', (d) => { delete d.headers.authorization }],
    ['garbage signature', (d) => { d.headers.authorization = 'not-a-jwt' }],
    ['tampered body', (d) => { d.body = d.body.replace('diet', 'yoga') }],
    ['one byte more', (d) => { d.body = `${d.body} ` }]
  ]
  for (const [label, tamper] of cases) {
    const response = await deliver(started, tamper)
    t.equal(response.statusCode, 401, label)
    t.same(response.json(), { statusCode: 401, error: 'Unauthorized', message: 'Webhook signature is missing or invalid' })
  }
  const forged = await signedDelivery(started, { apiKey: keys.apiKey, apiSecret: 'another-secret-that-is-at-least-32-chars' })
  t.equal((await app.inject({ method: 'POST', url: URL, headers: forged.headers, payload: forged.body })).statusCode, 401, 'signed with another secret')
  const expired = await app.inject({ method: 'POST', url: URL, headers: { ...forged.headers, authorization: await staleToken(forged.body) }, payload: forged.body })
  t.equal(expired.statusCode, 401, 'a signature past its 5 minutes')
  t.equal(await app.sessionIndex.store.get(ROOM), undefined, 'nothing was stored')
})

async function staleToken (body: string): Promise<string> {
  const { AccessToken } = await import('livekit-server-sdk')
  const { createHash } = await import('node:crypto')
  const token = new AccessToken(keys.apiKey, keys.apiSecret, { ttl: -3600 })
  token.sha256 = createHash('sha256').update(body).digest('base64')
  return await token.toJwt()
}

t.test('a verified delivery is applied once; a replay is taken with 200 and changes nothing', async (t) => {
  const started = webhookEvent('room_started', room)
  const first = await deliver(started)
  t.equal(first.statusCode, 200)
  t.same(first.json(), { outcome: 'applied' })
  t.match(await app.sessionIndex.store.get(ROOM), { roomName: ROOM, userId: 'alice', agentType: 'diet', participants: [] })
  const joined = webhookEvent('participant_joined', room, { participant: person })
  t.same((await deliver(joined)).json(), { outcome: 'applied' })
  t.same((await deliver(joined)).json(), { outcome: 'duplicate' })
  t.equal((await app.sessionIndex.store.get(ROOM))?.participants.length, 1)
  const alice = bearer(userToken(app, 'alice'))
  const listed = await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })
  t.equal(listed.statusCode, 200)
  const createdAtMs = Number(room.creationTime) * 1000
  t.same(listed.json(), {
    sessions: [{
      room_name: ROOM,
      agent_type: 'diet',
      participants: 1,
      agent_state: 'none',
      created_at: new Date(createdAtMs).toISOString(),
      ends_at: new Date(createdAtMs + app.config.MAX_SESSION_SECONDS * 1000).toISOString()
    }]
  }, 'the user reads it as the webhooks told it: LiveKit has no such room')
})

t.test('re-ordered deliveries: a leave before its join, a start after the finish: what has gone stays gone', async (t) => {
  const other = { ...room, sid: 'RM_2', name: 'fitness-voice-bob-0a1b2c3d', metadata: room.metadata.replace('alice', 'bob') }
  await deliver(webhookEvent('room_started', other))
  t.same((await deliver(webhookEvent('participant_left', other, { participant: { ...person, sid: 'PA_bob' } }))).json(), { outcome: 'ignored' })
  await deliver(webhookEvent('participant_joined', other, { participant: { ...person, sid: 'PA_bob' } }))
  t.same((await app.sessionIndex.store.get(other.name))?.participants, [], 'the late join is ignored')
  await deliver(webhookEvent('room_finished', other))
  t.same((await deliver(webhookEvent('room_started', other))).json(), { outcome: 'ignored' })
  t.equal(await app.sessionIndex.store.get(other.name), undefined)
})

t.test('rooms and events the service does not know are taken with 200', async (t) => {
  const foreign = { sid: 'RM_x', name: 'someone-elses-room', metadata: '' }
  for (const event of [webhookEvent('room_started', foreign), webhookEvent('track_published', room), webhookEvent('egress_started', foreign), webhookEvent('room_finished', foreign)]) {
    const response = await deliver(event)
    t.equal(response.statusCode, 200, String(event.event))
    t.same(response.json(), { outcome: 'ignored' })
  }
})

t.test('a verified body that is not an event: 400; no user JWT is needed or taken', async (t) => {
  const response = await deliver(webhookEvent('room_started', room), (d) => { d.body = 'not json' })
  t.equal(response.statusCode, 401, 'a changed body fails the signature first')
  const { AccessToken } = await import('livekit-server-sdk')
  const { createHash } = await import('node:crypto')
  const token = new AccessToken(keys.apiKey, keys.apiSecret, { ttl: '5m' })
  token.sha256 = createHash('sha256').update('not json').digest('base64')
  const garbage = await app.inject({ method: 'POST', url: URL, headers: { authorization: await token.toJwt(), 'content-type': 'application/webhook+json' }, payload: 'not json' })
  t.equal(garbage.statusCode, 400)
  const userCall = await app.inject({ method: 'POST', url: URL, headers: { ...bearer(userToken(app, 'alice')), 'content-type': 'application/webhook+json' }, payload: '{}' })
  t.equal(userCall.statusCode, 401, 'a user JWT is not a LiveKit signature')
})
