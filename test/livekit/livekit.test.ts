import t, { type Test } from 'tap'
import { freePort } from '../../scripts/livekit-server.js'
import { createLivekit, NO_NODE_RETRY_DELAYS_MS, type Livekit } from '#livekit/livekit.js'
import { LivekitUnavailableError, toLivekitError } from '#livekit/errors.js'
import { createMetrics, type Metrics } from '#ops/metrics.js'
import { startLivekit } from '../helper.js'
import { httpServer, recordingProxy, silentServer } from '../livekit-proxy.js'

/** Every LiveKit call timed into `livekit_request_duration_seconds`, by operation and the kind of its outcome. */

const livekit = await startLivekit(t, { logLevel: 'error' })

function timedClient (t: Test, overrides: { url?: string, apiSecret?: string, requestTimeoutMs?: number } = {}): { client: Livekit, metrics: Metrics } {
  const metrics = createMetrics()
  const client = createLivekit({
    LIVEKIT_URL: overrides.url ?? livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: overrides.apiSecret ?? livekit.apiSecret,
    LIVEKIT_REQUEST_TIMEOUT_MS: overrides.requestTimeoutMs ?? 5000,
    LIVEKIT_TOKEN_TTL_SECONDS: 3600
  }, metrics)
  t.teardown(client.close)
  return { client, metrics }
}

/** The timed calls in a scrape, as `operation outcome` → how many. */
async function counted (metrics: Metrics): Promise<Record<string, number>> {
  const lines = (await metrics.registry.metrics()).matchAll(/^livekit_request_duration_seconds_count\{operation="(\w+)",outcome="(\w+)"\} (\d+)$/gm)
  return Object.fromEntries([...lines].map(([, operation, outcome, count]) => [`${operation} ${outcome}`, Number(count)]))
}

t.test('calls LiveKit answers are counted ok under their Twirp names, a room it does not have as not_found', async (t) => {
  const { client, metrics } = timedClient(t)
  const room = 'timed-calls'
  await client.rooms.createRoom({ name: room })
  await client.rooms.listRooms([room])
  await client.rooms.listParticipants(room)
  await client.agentDispatch.createDispatch(room, 'timed-agent')
  await client.agentDispatch.listDispatch(room)
  await client.rooms.deleteRoom(room)
  await t.rejects(client.rooms.deleteRoom(room), 'deleted already')
  t.same(await counted(metrics), {
    'CreateRoom ok': 1,
    'ListRooms ok': 1,
    'ListParticipants ok': 1,
    'CreateDispatch ok': 1,
    'ListDispatch ok': 1,
    'DeleteRoom ok': 1,
    'DeleteRoom not_found': 1
  })
})

t.test('failures are counted by kind: wrong credentials, LiveKit failing, unreachable, silent', async (t) => {
  const wrongSecret = timedClient(t, { apiSecret: 'a-wrong-secret-that-is-at-least-32-chars' })
  await t.rejects(wrongSecret.client.rooms.listRooms(['x']))
  t.same(await counted(wrongSecret.metrics), { 'ListRooms unauthorized': 1 })

  const failing = await httpServer(t, (_request, response) => {
    response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'internal', msg: 'boom' }))
  })
  const failed = timedClient(t, { url: failing })
  await t.rejects(failed.client.rooms.listRooms(['x']))
  t.same(await counted(failed.metrics), { 'ListRooms failed': 1 })

  const unreachable = timedClient(t, { url: `ws://127.0.0.1:${await freePort()}` })
  await t.rejects(unreachable.client.rooms.createRoom({ name: 'x' }))
  t.same(await counted(unreachable.metrics), { 'CreateRoom unavailable': 1 })

  const silent = await silentServer(t)
  const timedOut = timedClient(t, { url: `ws://127.0.0.1:${silent.port}`, requestTimeoutMs: 200 })
  await t.rejects(timedOut.client.rooms.deleteRoom('x'))
  t.same(await counted(timedOut.metrics), { 'DeleteRoom timeout': 1 })
})

t.test('a CreateRoom LiveKit has no node for is tried again until it has one; a room is made once', async (t) => {
  let refusals = 2
  const proxy = await recordingProxy(t, livekit.port, { noNode: (call) => call === 'CreateRoom' && refusals-- > 0 })
  const { client, metrics } = timedClient(t, { url: proxy.url })
  const room = await client.rooms.createRoom({ name: 'no-node-then-one' })
  t.teardown(async () => { await client.rooms.deleteRoom(room.name) })
  t.equal(room.name, 'no-node-then-one')
  t.same(proxy.calls, ['CreateRoom', 'CreateRoom', 'CreateRoom'], 'two refused, the third made it')
  t.same(await livekitRooms([room.name]), [room.name], 'LiveKit holds the room')
  t.same(await counted(metrics), { 'CreateRoom unavailable': 2, 'CreateRoom ok': 1 }, 'each try is counted')
})

t.test('a LiveKit that never has a node: CreateRoom gives up after its retries, a 503 to try later; other failures are not retried', async (t) => {
  const proxy = await recordingProxy(t, livekit.port, { noNode: (call) => call === 'CreateRoom' || call === 'ListRooms' })
  const { client } = timedClient(t, { url: proxy.url })
  const err = await client.rooms.createRoom({ name: 'never-a-node' }).catch((err: unknown) => err)
  t.type(toLivekitError(err, 5000, 'create the room'), LivekitUnavailableError)
  t.equal(proxy.calls.length, NO_NODE_RETRY_DELAYS_MS.length + 1, 'tried once, then once after each wait')
  t.same(await livekitRooms(['never-a-node']), [], 'and LiveKit made no room')

  await t.rejects(client.rooms.listRooms(['x']))
  t.equal(proxy.calls.filter((call) => call === 'ListRooms').length, 1, 'only CreateRoom is retried')

  const failing = await httpServer(t, (_request, response) => {
    response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'internal', msg: 'boom' }))
  })
  const failed = timedClient(t, { url: failing })
  await t.rejects(failed.client.rooms.createRoom({ name: 'x' }))
  t.same(await counted(failed.metrics), { 'CreateRoom failed': 1 }, 'another 500 is not retried')
})

async function livekitRooms (names: string[]): Promise<string[]> {
  const { client } = timedClient(t)
  return (await client.rooms.listRooms(names)).map(({ name }) => name)
}
