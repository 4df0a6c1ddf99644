import { RoomServiceClient } from 'livekit-server-sdk'
import t from 'tap'
import { sessionMetadata } from '#sessions/metadata.js'
import { freePort } from '../../scripts/livekit-server.js'
import { bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'
import { httpServer, recordingProxy, silentServer } from '../livekit-proxy.js'

const ROUTES = [
  ['POST', '/api/v1/voice-sessions/start'],
  ['GET', '/api/v1/voice-sessions/active'],
  ['GET', '/api/v1/voice-sessions/fitness-voice-alice-0a1b2c3d/status'],
  ['DELETE', '/api/v1/voice-sessions/fitness-voice-alice-0a1b2c3d']
] as const

t.test('LiveKit unreachable: 503 with Retry-After on every route; recovers by itself when LiveKit is back', async (t) => {
  const port = await freePort()
  const app = await build(t, { LIVEKIT_URL: `ws://127.0.0.1:${port}`, LIVEKIT_REQUEST_TIMEOUT_MS: 2000 })
  const alice = bearer(userToken(app, 'alice'))
  for (const [method, url] of ROUTES) {
    const response = await app.inject({ method, url, headers: alice })
    t.equal(response.statusCode, 503, `${method} ${url}`)
    t.same(response.json(), { statusCode: 503, error: 'Service Unavailable', message: 'LiveKit is unreachable' })
    t.equal(response.headers['retry-after'], '5')
  }

  await startLivekit(t, { port, apiKey: app.config.LIVEKIT_API_KEY, apiSecret: app.config.LIVEKIT_API_SECRET })
  const started = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: alice })
  t.equal(started.statusCode, 200, 'the same instance works once LiveKit is up')
  const status = await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${started.json().room_name}/status`, headers: alice })
  t.equal(status.statusCode, 200)
})

t.test('a gateway in front of LiveKit answering 404: 502 that says so, never "Session not found"', async (t) => {
  const url = await httpServer(t, (_request, response) => { response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>') })
  const app = await build(t, { LIVEKIT_URL: url })
  const alice = bearer(userToken(app, 'alice'))
  const expected: Record<string, string> = {
    'POST /api/v1/voice-sessions/start': 'LiveKit refused to create the room (404)',
    'GET /api/v1/voice-sessions/active': 'LiveKit refused to list rooms (404)',
    'GET /api/v1/voice-sessions/fitness-voice-alice-0a1b2c3d/status': 'LiveKit refused to read the room (404)',
    'DELETE /api/v1/voice-sessions/fitness-voice-alice-0a1b2c3d': 'LiveKit refused to read the room (404)'
  }
  for (const [method, url] of ROUTES) {
    const response = await app.inject({ method, url, headers: alice })
    t.equal(response.statusCode, 502, `${method} ${url}`)
    t.same(response.json(), { statusCode: 502, error: 'Bad Gateway', message: expected[`${method} ${url}`] })
  }
})

t.test('a session the index does not know is read from LiveKit: who is in it only once it proved to be the caller\'s', async (t) => {
  const livekit = await startLivekit(t)
  const { url, calls } = await recordingProxy(t, livekit.port)
  const app = await build(t, { ...livekitConfig(livekit), LIVEKIT_URL: url })
  const alice = bearer(userToken(app, 'alice'))
  const bob = bearer(userToken(app, 'bob'))
  await app.sessionIndex.reconciler.whenRebuilt()
  // Started by another replica with a memory of its own, after this one's start-up: its index has never seen it.
  const roomName = 'fitness-voice-alice-0123abcd'
  await new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret).createRoom({
    name: roomName, metadata: JSON.stringify(sessionMetadata('alice', 'diet', new Date()))
  })
  calls.length = 0
  const foreign = await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${roomName}/status`, headers: bob })
  t.equal(foreign.statusCode, 403)
  t.same(calls, ['ListRooms'], 'only the room was read, never its participants')
  calls.length = 0
  const own = await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${roomName}/status`, headers: alice })
  t.equal(own.statusCode, 200)
  t.same(calls, ['ListRooms', 'ListParticipants'])
  calls.length = 0
  const again = await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${roomName}/status`, headers: alice })
  t.equal(again.statusCode, 200)
  t.same(calls, [], 'then the index knows it: no LiveKit call')
  t.equal((await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${roomName}/status`, headers: bob })).statusCode, 403, 'nor for another user')
  t.same(calls, [])
})

t.test('LiveKit accepting connections but never answering: 504 after the configured timeout, never a hang', async (t) => {
  const { port, sockets } = await silentServer(t)
  const app = await build(t, { LIVEKIT_URL: `ws://127.0.0.1:${port}`, LIVEKIT_REQUEST_TIMEOUT_MS: 300 })
  const alice = bearer(userToken(app, 'alice'))
  for (const [method, url] of ROUTES) {
    const response = await app.inject({ method, url, headers: alice })
    t.equal(response.statusCode, 504, `${method} ${url}`)
    t.same(response.json(), { statusCode: 504, error: 'Gateway Timeout', message: 'LiveKit did not answer within 300 ms' })
  }
  t.ok(sockets.size > 0, 'the service really did call the silent server')
})

t.test('LiveKit refusing the service\'s credentials: 502, and no room is touched', async (t) => {
  const livekit = await startLivekit(t)
  const app = await build(t, { ...livekitConfig(livekit), LIVEKIT_API_SECRET: 'a-wrong-secret-that-is-at-least-32-chars' })
  const alice = bearer(userToken(app, 'alice'))
  for (const [method, url] of ROUTES) {
    const response = await app.inject({ method, url, headers: alice })
    t.equal(response.statusCode, 502, `${method} ${url}`)
    t.equal(response.json().message, 'LiveKit refused the service\'s API credentials')
    t.notMatch(response.body, 'a-wrong-secret')
  }
})
