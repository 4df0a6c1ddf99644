import { once } from 'node:events'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { AgentDispatch, ParticipantInfo, ParticipantInfo_Kind as Kind, Room } from '@livekit/protocol'
import { AccessToken, AgentDispatchClient, RoomAgentDispatch, RoomServiceClient, ServerError, TokenVerifier } from 'livekit-server-sdk'
import t, { type Test } from 'tap'
import { freePort } from '../../scripts/livekit-server.js'
import { API_TOKEN_RENEW_AFTER_MS, API_TOKEN_TTL_SECONDS, apiOrigin, createLivekitApi, type LivekitApi, type LivekitApiOptions } from '#livekit/api.js'
import { httpAnswerOf } from '#http/domain-errors.js'
import { isRoomNotFound, toLivekitError } from '#livekit/errors.js'
import { joinRoom } from '../clients.js'
import { startLivekit } from '../helper.js'

const livekit = await startLivekit(t, { logLevel: 'error' })
const sdk = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const sdkDispatch = new AgentDispatchClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const verifier = new TokenVerifier(livekit.apiKey, livekit.apiSecret)

/** The client under test, closed when the test ends. */
function client (t: Test, overrides: Partial<LivekitApiOptions> = {}): LivekitApi {
  const api = createLivekitApi({ url: livekit.url, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret, requestTimeoutMs: 5000, ...overrides })
  t.teardown(api.close)
  return api
}

/** Every call the client makes, each on room `room`. */
function everyCall (api: LivekitApi, room: string): Array<[string, () => Promise<unknown>]> {
  return [
    ['createRoom', () => api.rooms.createRoom({ name: room })],
    ['listRooms', () => api.rooms.listRooms([room])],
    ['deleteRoom', () => api.rooms.deleteRoom(room)],
    ['listParticipants', () => api.rooms.listParticipants(room)],
    ['createDispatch', () => api.agentDispatch.createDispatch(room, 'agent', { metadata: '{}' })],
    ['listDispatch', () => api.agentDispatch.listDispatch(room)]
  ]
}

async function failure (promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  throw new Error('the call succeeded')
}

function mapped (err: unknown, timeoutMs = 5000) {
  return { ...httpAnswerOf(toLivekitError(err, timeoutMs, 'read the room')) }
}

function sameServerError (t: Test, actual: Error, expected: Error, message: string): void {
  t.ok(actual instanceof ServerError, `${message}: a ServerError`)
  const fields = (err: Error) => {
    const { name, status, code, metadata } = err as ServerError
    return { name, status, code, metadata }
  }
  t.same(fields(actual), fields(expected), `${message}: as the SDK throws it`)
}

async function listen (server: Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

/** An HTTP server on loopback, closed when the test ends; its URL in LiveKit's `ws://` form. */
async function httpServer (t: Test, handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handle)
  const port = await listen(server)
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `ws://127.0.0.1:${port}`
}

/** A proxy in front of the real livekit-server that records the method, Authorization and content type of each call. */
async function recordingProxy (t: Test): Promise<{ url: string, calls: Array<{ method: string, authorization: string, contentType: string }> }> {
  const calls: Array<{ method: string, authorization: string, contentType: string }> = []
  const url = await httpServer(t, (request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const authorization = request.headers.authorization ?? ''
      calls.push({ method: request.url?.split('/').pop() ?? '', authorization, contentType: request.headers['content-type'] ?? '' })
      fetch(`http://127.0.0.1:${livekit.port}${request.url}`, { method: 'POST', headers: { authorization, 'content-type': request.headers['content-type'] ?? '' }, body: Buffer.concat(chunks) })
        .then(async (answer) => { response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' }).end(Buffer.from(await answer.arrayBuffer())) })
        .catch(() => { response.writeHead(502).end() })
    })
  })
  return { url, calls }
}

t.test('every call round-trips through a real livekit-server, with the SDK\'s types and answers', async (t) => {
  const api = client(t)
  const name = 'api-round-trip'
  const other = 'api-round-trip-other'
  await sdk.createRoom({ name: other })

  const room = await api.rooms.createRoom({
    name,
    metadata: '{"user_id":"alice"}',
    emptyTimeout: 120,
    departureTimeout: 15,
    maxParticipants: 3,
    agents: [new RoomAgentDispatch({ agentName: 'test-agent', metadata: '{"job":1}' })]
  })
  t.ok(room instanceof Room)
  t.match(room, { name, metadata: '{"user_id":"alice"}', emptyTimeout: 120, departureTimeout: 15, maxParticipants: 3 })
  t.match(room.sid, /^RM_/)
  t.equal(typeof room.creationTime, 'bigint')

  const listed = await api.rooms.listRooms([name, 'api-round-trip-missing'])
  t.same(listed.map((r) => r.sid), [room.sid], 'by name: only the rooms that exist')
  t.same(listed.map((r) => r.toJson()), (await sdk.listRooms([name, 'api-round-trip-missing'])).map((r) => r.toJson()), 'as the SDK reads them')
  t.same(await api.rooms.listRooms(['api-round-trip-missing']), [])
  for (const all of [await api.rooms.listRooms(), await api.rooms.listRooms([])]) {
    t.same(all.map((r) => r.name).sort(), [name, other], 'no names: every room')
  }

  const [dispatch] = await api.agentDispatch.listDispatch(name)
  t.ok(dispatch instanceof AgentDispatch)
  t.match(dispatch, { room: name, agentName: 'test-agent', metadata: '{"job":1}' }, 'the dispatch made with the room')
  const created = await api.agentDispatch.createDispatch(name, 'other-agent', { metadata: '{"job":2}' })
  t.ok(created instanceof AgentDispatch)
  t.match(created, { room: name, agentName: 'other-agent', metadata: '{"job":2}', id: /^AD_/ })
  const dispatches = await api.agentDispatch.listDispatch(name)
  t.same(dispatches.map((d) => d.agentName).sort(), ['other-agent', 'test-agent'])
  // LiveKit lists dispatches in no particular order.
  const sorted = (list: AgentDispatch[]) => list.map((d) => d.toJson()).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
  t.same(sorted(dispatches), sorted(await sdkDispatch.listDispatch(name)), 'as the SDK reads them')

  t.same(await api.rooms.listParticipants(name), [], 'nobody yet')
  const token = new AccessToken(livekit.apiKey, livekit.apiSecret, { identity: 'user-1' })
  token.addGrant({ roomJoin: true, room: name })
  await joinRoom(t, livekit.url, await token.toJwt())
  const participants = await api.rooms.listParticipants(name)
  t.equal(participants.length, 1)
  t.ok(participants[0] instanceof ParticipantInfo)
  t.match(participants[0], { identity: 'user-1', kind: Kind.STANDARD })
  t.same(participants.map((p) => p.sid), (await sdk.listParticipants(name)).map((p) => p.sid), 'as the SDK reads them')
  t.same(await api.rooms.listParticipants('api-round-trip-missing'), [], 'a missing room has nobody, no error')

  t.equal(await api.rooms.deleteRoom(name), undefined)
  t.same(await api.rooms.listRooms([name]), [], 'deleted')
  const missing = await failure(api.rooms.deleteRoom(name))
  t.match(missing, { status: 404, code: 'not_found' })
  t.ok(isRoomNotFound(missing), 'the service sees LiveKit\'s own not_found')
  sameServerError(t, missing, await failure(sdk.deleteRoom(name)), 'deleting a missing room')
  t.equal(missing.message, (await failure(sdk.deleteRoom(name))).message)
})

t.test('a path in LIVEKIT_URL is ignored and http:// works too, as with the SDK', async (t) => {
  t.equal(apiOrigin('ws://127.0.0.1:7880/some/path?x=1'), 'http://127.0.0.1:7880')
  t.equal(apiOrigin('wss://example.livekit.cloud/rtc'), 'https://example.livekit.cloud')
  t.equal(apiOrigin('https://example.livekit.cloud:8443'), 'https://example.livekit.cloud:8443')
  t.equal(apiOrigin('http://127.0.0.1:7880/'), 'http://127.0.0.1:7880')
  for (const url of [`${livekit.url}/some/path`, `http://127.0.0.1:${livekit.port}`]) {
    t.type(await client(t, { url }).rooms.listRooms(['api-path-missing']), Array, url)
  }
})

t.test('LiveKit refusing the credentials: a 401 ServerError without code on every call, as the SDK throws it', async (t) => {
  const apiSecret = 'a-wrong-secret-that-is-at-least-32-chars'
  const api = client(t, { apiSecret })
  const wrongSdk = new RoomServiceClient(livekit.url, livekit.apiKey, apiSecret)
  const expected = await failure(wrongSdk.listRooms(['api-wrong-secret']))
  t.match(expected, { status: 401, code: undefined })
  for (const [method, call] of everyCall(api, 'api-wrong-secret')) {
    const err = await failure(call())
    sameServerError(t, err, expected, method)
    t.equal(mapped(err).statusCode, 502, `${method}: the service answers 502`)
  }
})

t.test('answers from something else in front of LiveKit keep the SDK\'s ServerError fields', async (t) => {
  const gateway = await httpServer(t, (_request, response) => { response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>') })
  const err = await failure(client(t, { url: gateway }).rooms.listRooms(['x']))
  t.match(err, { name: 'Not Found', status: 404, code: undefined, message: '<h1>Not Found</h1>' }, 'a non-JSON body: its text, no code')
  t.notOk(isRoomNotFound(err))
  sameServerError(t, err, await failure(new RoomServiceClient(gateway, 'k', 's').listRooms(['x'])), 'gateway')

  const busy = await httpServer(t, (_request, response) => {
    response.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'resource_exhausted', msg: 'slow down', meta: { limit: '10' } }))
  })
  const exhausted = await failure(client(t, { url: busy }).rooms.listParticipants('x'))
  t.match(exhausted, { name: 'Too Many Requests', status: 429, code: 'resource_exhausted', message: 'slow down', metadata: { limit: '10' } })
  sameServerError(t, exhausted, await failure(new RoomServiceClient(busy, 'k', 's').listParticipants('x')), 'a Twirp error')
  t.equal(mapped(exhausted).statusCode, 503)
})

t.test('nothing listening: every call fails as unreachable, which the service answers 503', async (t) => {
  const api = client(t, { url: `ws://127.0.0.1:${await freePort()}` })
  for (const [method, call] of everyCall(api, 'api-refused')) {
    const error = mapped(await failure(call()))
    t.equal(error.statusCode, 503, method)
    t.equal(error.message, 'LiveKit is unreachable', method)
  }
})

t.test('LiveKit accepting connections but never answering: every call ends at the deadline, which the service answers 504', async (t) => {
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => { sockets.add(socket) })
  const port = await listen(silent)
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const api = client(t, { url: `ws://127.0.0.1:${port}`, requestTimeoutMs: 200 })
  for (const [method, call] of everyCall(api, 'api-silent')) {
    const err = await failure(call())
    t.equal(err.name, 'TimeoutError', method)
    const error = mapped(err, 200)
    t.equal(error.statusCode, 504, method)
    t.equal(error.message, 'LiveKit did not answer within 200 ms', method)
  }
  t.ok(sockets.size > 0, 'the calls really reached the silent server')
})

t.test('an answer that stops halfway also ends at the deadline: it covers reading the body', async (t) => {
  const url = await httpServer(t, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
    response.write('{"rooms":[')
  })
  const err = await failure(client(t, { url, requestTimeoutMs: 200 }).rooms.listRooms())
  t.equal(err.name, 'TimeoutError')
  t.equal(mapped(err, 200).statusCode, 504)
})

t.test('one token for the room calls, one per room for participant and dispatch calls, each reused until renewed', async (t) => {
  const { url, calls } = await recordingProxy(t)
  // Tokens signed anew within one second would look the same: what shows reuse is the clock moving minutes below.
  // The client's clock starts six minutes back: its first tokens are valid now and due for renewal once the clock is now.
  let offsetMs = -(API_TOKEN_RENEW_AFTER_MS + 60_000)
  const api = client(t, { url, now: () => Date.now() + offsetMs })
  const authorizations = (method: string) => new Set(calls.filter((call) => call.method === method).map((call) => call.authorization))

  await api.rooms.createRoom({ name: 'api-token-a' })
  await api.rooms.createRoom({ name: 'api-token-b' })
  await api.rooms.listRooms(['api-token-a'])
  await api.rooms.listRooms()
  await api.rooms.deleteRoom('api-token-b')
  t.same(new Set(calls.map((call) => call.contentType)), new Set(['application/protobuf']), 'every call in protobuf, which LiveKit encodes faster than JSON')
  const service = new Set(calls.map((call) => call.authorization))
  t.equal(service.size, 1, 'createRoom, listRooms and deleteRoom share one token')
  const [serviceToken] = service
  const serviceClaims = await verifier.verify((serviceToken ?? '').replace('Bearer ', ''))
  t.same(serviceClaims.video, { roomCreate: true, roomList: true })
  t.equal(serviceClaims.iss, livekit.apiKey)
  t.equal((serviceClaims.exp ?? 0) - (serviceClaims.nbf ?? 0), API_TOKEN_TTL_SECONDS)

  calls.length = 0
  await api.rooms.listParticipants('api-token-a')
  await api.agentDispatch.listDispatch('api-token-a')
  await api.agentDispatch.createDispatch('api-token-a', 'agent', { metadata: '{}' })
  await api.rooms.listParticipants('api-token-a')
  const roomA = new Set(calls.map((call) => call.authorization))
  t.equal(roomA.size, 1, 'every call about room a carries one token')
  const [roomAToken] = roomA
  t.same((await verifier.verify((roomAToken ?? '').replace('Bearer ', ''))).video, { roomAdmin: true, room: 'api-token-a' })
  t.notOk(service.has(roomAToken ?? ''))

  calls.length = 0
  await api.rooms.listParticipants('api-token-b')
  const [roomBToken] = authorizations('ListParticipants')
  t.same((await verifier.verify((roomBToken ?? '').replace('Bearer ', ''))).video, { roomAdmin: true, room: 'api-token-b' }, 'another room, another token')

  offsetMs += API_TOKEN_RENEW_AFTER_MS - 60_001
  calls.length = 0
  await api.rooms.listRooms(['api-token-a'])
  await api.rooms.listParticipants('api-token-a')
  t.same(calls.map((call) => call.authorization), [serviceToken, roomAToken], 'just before renewal: the same tokens')

  offsetMs = 0
  calls.length = 0
  const [room] = await api.rooms.listRooms(['api-token-a'])
  t.equal(room?.name, 'api-token-a', 'LiveKit takes the renewed token')
  t.same(await api.rooms.listParticipants('api-token-a'), [])
  const [renewedService, renewedRoomA] = calls.map((call) => call.authorization)
  t.not(renewedService, serviceToken, 'renewed once API_TOKEN_RENEW_AFTER_MS old')
  t.not(renewedRoomA, roomAToken)
  t.same((await verifier.verify((renewedRoomA ?? '').replace('Bearer ', ''))).video, { roomAdmin: true, room: 'api-token-a' })
  await api.rooms.deleteRoom('api-token-a')
})

t.test('calls share kept-alive sockets, and close() closes them', async (t) => {
  // A TCP relay to the real livekit-server that sees every connection the client opens.
  const open = new Set<Socket>()
  let opened = 0
  const relay = createServer((socket) => {
    opened++
    open.add(socket)
    const upstream = connect(livekit.port, '127.0.0.1')
    socket.pipe(upstream).pipe(socket)
    const end = () => { open.delete(socket); socket.destroy(); upstream.destroy() }
    socket.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  const port = await listen(relay)
  t.teardown(() => { for (const socket of open) socket.destroy(); relay.close() })

  const api = createLivekitApi({ url: `ws://127.0.0.1:${port}`, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret, requestTimeoutMs: 5000 })
  await api.rooms.createRoom({ name: 'api-keep-alive' })
  for (let i = 0; i < 5; i++) await api.rooms.listRooms(['api-keep-alive'])
  const warm = opened
  t.ok(warm <= 2, `a few calls one after another: one or two connections (${warm})`)
  for (let i = 0; i < 50; i++) await api.rooms.listRooms(['api-keep-alive'])
  t.equal(opened, warm, '50 more calls: no new connection')
  await Promise.all(Array.from({ length: 16 }, () => api.rooms.listParticipants('api-keep-alive')))
  const afterBurst = opened
  for (let i = 0; i < 20; i++) await api.agentDispatch.listDispatch('api-keep-alive')
  t.equal(opened, afterBurst, 'the sockets of 16 calls at once are reused by the next ones')
  await api.rooms.deleteRoom('api-keep-alive')

  const closed = [...open].map((socket) => once(socket, 'close'))
  await api.close()
  await Promise.all(closed)
  t.equal(open.size, 0, 'every connection closed')
  await api.close()
  const after = mapped(await failure(api.rooms.listRooms()))
  t.equal(after.statusCode, 503, 'a call after close() fails as unreachable')
})
