import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { RoomServiceClient } from 'livekit-server-sdk'
import t, { type Test } from 'tap'
import type { TiedProcess } from '../../scripts/child-process.js'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { waitFor } from '../clients.js'
import { faultyStore } from '../faulty-store.js'
import { bearer, build, buildWithLivekit, livekitConfig, startLivekit, userToken } from '../helper.js'

// LiveKit and Redis are every replica's: while one is away, /ready stays 200 and names it, and each
// request that needs it answers for itself, within a bounded time (no request here may hang: the
// test's own timeout is the bound). Faults are made on the real servers (SIGSTOP / SIGCONT), and with a
// store that fails on demand for what a real Redis cannot be made to do (fail one operation alone).

type Body = Record<string, any>
type Headers = Record<string, string>

const INDEX_UNAVAILABLE = { statusCode: 503, error: 'Service Unavailable', message: 'The session index is unavailable' }

/** /ready's answer once `done` accepts its body (bounded). */
async function readyWhen (app: FastifyInstance, done: (body: Body) => boolean): Promise<{ statusCode: number, body: Body }> {
  return await waitFor(async () => {
    const answer = await app.inject({ method: 'GET', url: '/ready' })
    const body = answer.json()
    return done(body) ? { statusCode: answer.statusCode, body } : undefined
  })
}

const dependencyIs = (name: string, state: string) => (body: Body): boolean => body.dependencies?.[name]?.state === state
const readyWith = (name: string, state: string) => (body: Body): boolean => body.status === 'ready' && dependencyIs(name, state)(body)

const request = {
  start: async (app: FastifyInstance, headers: Headers) => await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers }),
  status: async (app: FastifyInstance, headers: Headers, room: string) => await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${room}/status`, headers }),
  token: async (app: FastifyInstance, headers: Headers, room: string) => await app.inject({ method: 'POST', url: `/api/v1/voice-sessions/${room}/token`, headers }),
  end: async (app: FastifyInstance, headers: Headers, room: string) => await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${room}`, headers }),
  active: async (app: FastifyInstance, headers: Headers) => await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers })
}

/** The documented answer of a request that needs the session index while it is away. */
function indexUnavailable (t: Test, answer: LightMyRequestResponse, what: string): void {
  t.equal(answer.statusCode, 503, what)
  t.equal(answer.headers['retry-after'], '5', `${what}: Retry-After`)
  t.same(answer.json(), INDEX_UNAVAILABLE, `${what}: the documented message`)
}

/**
 * Alice's session, started while `dependency` is up; then its server stalled (SIGSTOP) until /ready
 * names it down, in a 200 all the same: a dependency every replica shares takes none of them out.
 */
async function stallAfterAStart (t: Test, app: FastifyInstance, dependency: 'livekit' | 'redis', server: TiedProcess) {
  const alice = bearer(userToken(app, 'alice'))
  await readyWhen(app, readyWith(dependency, 'up'))
  const room = (await request.start(app, alice)).json().room_name as string
  server.signal('SIGSTOP')
  const stalled = await readyWhen(app, dependencyIs(dependency, 'down'))
  t.equal(stalled.statusCode, 200, `/ready stays 200 with ${dependency} stalled`)
  t.match(stalled.body, { status: 'ready', degraded: true, dependencies: { [dependency]: { state: 'down' } } })
  return { alice, room, checks: stalled.body.checks as Body }
}

t.test('a stalled Redis (SIGSTOP): /ready stays 200 naming it, status, active and start answer 503 with Retry-After; after SIGCONT all answer 200', { skip: redisMissing() ?? false, timeout: 60_000 }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(async () => { await redis.stop() })
  const { app } = await buildWithLivekit(t, { REDIS_URL: redis.url })
  const { alice, room, checks } = await stallAfterAStart(t, app, 'redis', redis.server)
  t.match(checks, { livekit: 'ok', redis: /^Redis is (not answering|unreachable)/ })
  const [status, active, start] = await Promise.all([request.status(app, alice, room), request.active(app, alice), request.start(app, alice)])
  indexUnavailable(t, status, 'status')
  indexUnavailable(t, active, 'active')
  indexUnavailable(t, start, 'start')

  redis.server.signal('SIGCONT')
  t.equal((await readyWhen(app, dependencyIs('redis', 'up'))).statusCode, 200)
  const statusAgain = await request.status(app, alice, room)
  t.equal(statusAgain.statusCode, 200)
  t.equal(statusAgain.json().room_name, room)
  const activeAgain = await request.active(app, alice)
  t.equal(activeAgain.statusCode, 200)
  t.same(activeAgain.json().sessions.map((session: Body) => session.room_name), [room])
  t.equal((await request.start(app, alice)).statusCode, 200)
})

t.test('a stalled LiveKit (SIGSTOP): /ready stays 200 naming it, a start answers 504 within LIVEKIT_REQUEST_TIMEOUT_MS; after SIGCONT it starts again', { timeout: 60_000 }, async (t) => {
  const { app, livekit } = await buildWithLivekit(t, { LIVEKIT_REQUEST_TIMEOUT_MS: 1000 })
  const { alice, room, checks } = await stallAfterAStart(t, app, 'livekit', livekit.server)
  t.match(checks, { livekit: /^LiveKit (is not answering|did not answer)/ })
  const [start, status] = await Promise.all([request.start(app, bearer(userToken(app, 'bob'))), request.status(app, alice, room)])
  t.equal(start.statusCode, 504)
  t.same(start.json(), { statusCode: 504, error: 'Gateway Timeout', message: 'LiveKit did not answer within 1000 ms' }, 'the documented 504')
  // What the session index holds answers from it; anything that needs LiveKit is the documented 504.
  t.ok(status.statusCode === 200 || status.json().message === 'LiveKit did not answer within 1000 ms', `status answers for itself (${status.statusCode})`)

  livekit.server.signal('SIGCONT')
  t.equal((await readyWhen(app, dependencyIs('livekit', 'up'))).statusCode, 200)
  t.equal((await request.start(app, alice)).statusCode, 200)
})

t.test('with the fault-injection store', async (t) => {
  const livekit = await startLivekit(t)
  const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)

  t.test('an index that cannot be read: status, token, end, active and start answer 503 with the documented message; all answer again once it is back', async (t) => {
    const { store, failing } = faultyStore()
    const app = await build(t, livekitConfig(livekit), undefined, { sessionStore: store })
    const alice = bearer(userToken(app, 'alice'))
    await readyWhen(app, (body) => body.status === 'ready')
    const room = (await request.start(app, alice)).json().room_name as string

    failing.add('get')
    indexUnavailable(t, await request.status(app, alice, room), 'status')
    indexUnavailable(t, await request.token(app, alice, room), 'token')
    indexUnavailable(t, await request.end(app, alice, room), 'end')
    failing.clear()
    failing.add('listByUser')
    indexUnavailable(t, await request.active(app, alice), 'active')
    // A start under the cap reads no list: its reservation is its one use of the index.
    failing.add('reserve')
    indexUnavailable(t, await request.start(app, alice), 'start')
    t.equal((await rooms.listRooms()).length, 1, 'a start refused before CreateRoom made no room')

    failing.clear()
    t.equal((await request.status(app, alice, room)).statusCode, 200)
    t.equal((await request.end(app, alice, room)).statusCode, 200)
  })

  t.test('a start whose index write fails answers 503, and the room it created in LiveKit is deleted', async (t) => {
    const { store, failing, added } = faultyStore()
    const app = await build(t, livekitConfig(livekit), undefined, { sessionStore: store })
    const alice = bearer(userToken(app, 'alice'))
    await readyWhen(app, (body) => body.status === 'ready')

    failing.add('add')
    indexUnavailable(t, await request.start(app, alice), 'start')
    // The index is written only once CreateRoom has answered: the room was made.
    const [room] = added
    t.equal(added.length, 1, 'one room created, and its index write tried')
    t.same(await rooms.listRooms([room ?? '']), [], 'and deleted again: never a session nobody can see')

    failing.clear()
    const active = await request.active(app, alice)
    t.same(active.json().sessions, [], 'nor one the user sees')
    t.equal((await request.start(app, alice)).statusCode, 200)
  })
})
