import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { spawnTied, type TiedProcess } from '../scripts/child-process.js'
import { freePort } from '../scripts/livekit-server.js'
import { redisMissing, startRedisServer } from '../scripts/redis-server.js'
import { endWithTest, signHs256, startLivekit } from './helper.js'
import { listsEveryRoom, recordingProxy } from './livekit-proxy.js'

/**
 * The service as `npm start` runs it: `npm run build`, then `node dist/src/server.js`, its own
 * process, configured by environment variables only. The build's source maps let c8 count the
 * lines it runs against src/ (NODE_V8_COVERAGE is passed on).
 */

const root = join(import.meta.dirname, '..')

/** The environment of a child of this test: none of the runner's loaders, no developer's settings. */
const BASE_ENV = { PATH: process.env.PATH, HOME: process.env.HOME }

// From nothing, as on a fresh clone: tsc leaves behind the output of deleted sources, and
// autoload would load such a stale plugin or route.
rmSync(join(root, 'dist'), { recursive: true, force: true })
const build = spawnTied('npm', ['run', 'build'], { name: 'npm run build', cwd: root, env: BASE_ENV })
endWithTest(t, build)
const built = await Promise.race([build.exited, sleep(60_000, 'timeout' as const, { ref: false })])
if (built !== 0) throw new Error(`the build failed (${built}): ${build.describe()}`)

function runServer (t: Test, env: Record<string, string>): TiedProcess {
  const server = spawnTied(process.execPath, [join(root, 'dist/src/server.js')], {
    name: 'node dist/src/server.js',
    // A directory without a .env file, and no inherited LiveKit or JWT settings.
    cwd: t.testdir({}),
    env: { ...BASE_ENV, NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE, ...env }
  })
  endWithTest(t, server)
  return server
}

/** The built service on a free port, next to `livekit`, configured by environment variables only. */
async function serveBuilt (t: Test, livekit: Awaited<ReturnType<typeof startLivekit>>, env: Record<string, string> = {}) {
  const port = await freePort()
  const jwtSecret = 'an-hs256-secret-shared-with-the-app'
  const server = runServer(t, {
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    JWT_SECRET: jwtSecret,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    START_RATE_LIMIT: '1000/minute',
    MAX_SESSIONS_PER_USER: '100',
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env
  })
  const base = `http://127.0.0.1:${port}`
  // Up once /health answers (whatever the log level).
  for (let i = 0; i < 300 && !await fetch(`${base}/health`).then((answer) => answer.ok, () => false); i++) await sleep(100)
  const authorization = `Bearer ${signHs256(jwtSecret, { sub: 'user-8' })}`
  return { server, base, authorization }
}

t.test('configured by the environment alone, it serves the API and the docs, and stops on SIGTERM', async (t) => {
  const livekit = await startLivekit(t)
  const { server, base, authorization } = await serveBuilt(t, livekit)

  const docs = await fetch(`${base}/api/docs/json`)
  t.equal(docs.status, 200)
  t.ok(((await docs.json()) as { paths: Record<string, unknown> }).paths['/api/v1/voice-sessions/start'])

  const started = await fetch(`${base}/api/v1/voice-sessions/start`, {
    method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: '{"agent_type":"tracker"}'
  })
  t.equal(started.status, 200)
  const session = await started.json() as { room_name: string, agent_type: string }
  t.equal(session.agent_type, 'tracker')
  const status = await fetch(`${base}/api/v1/voice-sessions/${session.room_name}/status`, { headers: { authorization } })
  t.equal(status.status, 200)

  server.signal('SIGTERM')
  t.equal(await server.exited, 0, 'a graceful stop exits 0')
  t.notOk(server.output().includes(livekit.apiSecret), 'the secret is never printed')
})

t.test('missing or malformed keys: exits non-zero with one message naming every bad key', async (t) => {
  const server = runServer(t, { LIVEKIT_URL: 'localhost:7880', PORT: 'eighty', LIVEKIT_WORKER_NUM_IDLE: '0' })
  t.equal(await server.exited, 1)
  const message = server.output().trim()
  t.equal(message.split('\n').length, 1, 'one line')
  for (const key of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'JWT_SECRET', 'PORT', 'LIVEKIT_WORKER_NUM_IDLE']) {
    t.match(message, key)
  }
})

t.test('SIGTERM with 50 starts in flight: /ready turns 503, every start completes with 200 and its room exists, exit 0', async (t) => {
  const livekit = await startLivekit(t)
  // LiveKit answers each call a second late, so that the starts are still in flight at SIGTERM.
  const slow = await recordingProxy(t, livekit.port, { delayMs: 1000 })
  const { server, base, authorization } = await serveBuilt(t, livekit, { LIVEKIT_URL: slow.url, SHUTDOWN_DRAIN_MS: '500' })
  // Ready once its session index is rebuilt from LiveKit, here a second late.
  let before = 0
  for (let i = 0; i < 100 && before !== 200; i++) {
    before = (await fetch(`${base}/ready`)).status
    if (before !== 200) await sleep(100)
  }
  t.equal(before, 200, 'ready before')
  const starts = Array.from({ length: 50 }, async () => await fetch(`${base}/api/v1/voice-sessions/start`, { method: 'POST', headers: { authorization } }))
  // Every one of them accepted (the service logged it) and none answered yet.
  const accepted = () => server.output().match(/voice-sessions\/start"[^\n]*"incoming request"/g)?.length ?? 0
  for (let i = 0; i < 300 && accepted() < 50; i++) await sleep(100)
  t.equal(accepted(), 50, 'all 50 accepted')
  t.notMatch(server.output(), /"statusCode":200/, 'none answered yet')
  server.signal('SIGTERM')
  await server.waitForOutput(/closing: draining/, 10_000)
  const ready = await fetch(`${base}/ready`)
  t.equal(ready.status, 503, '/ready is 503 while draining')
  t.match(await ready.json(), { status: 'not_ready', checks: { service: 'shutting down' } })
  const answers = await Promise.all(starts)
  t.same(answers.map((answer) => answer.status), Array(50).fill(200), 'all 50 completed with 200')
  const names = await Promise.all(answers.map(async (answer) => ((await answer.json()) as { room_name: string }).room_name))
  const { RoomServiceClient } = await import('livekit-server-sdk')
  const rooms = await new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret).listRooms(names)
  t.equal(rooms.length, 50, 'every room they name exists')
  t.equal(await server.exited, 0)
})

t.test('SIGTERM after sustained keep-alive load: exit 0 within the grace', async (t) => {
  const livekit = await startLivekit(t)
  const { server, base, authorization } = await serveBuilt(t, livekit, { SHUTDOWN_DRAIN_MS: '500', SHUTDOWN_GRACE_MS: '5000', LOG_LEVEL: 'warn' })
  const session = await (await fetch(`${base}/api/v1/voice-sessions/start`, { method: 'POST', headers: { authorization } })).json() as { room_name: string }
  const { default: autocannon } = await import('autocannon')
  const load = await autocannon({ url: `${base}/api/v1/voice-sessions/${session.room_name}/status`, headers: { authorization }, connections: 16, duration: 2 })
  t.ok(load.requests.total > 100, `${load.requests.total} requests on 16 keep-alive connections`)
  server.signal('SIGTERM')
  t.equal(await server.exited, 0, 'exit 0: the grace (5 s, else exit 1) did not run out')
  t.notMatch(server.output(), /cut off/)
})

t.test('with Redis, a replica killed with SIGKILL and started again loses nothing', { skip: redisMissing() ?? false }, async (t) => {
  const livekit = await startLivekit(t)
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  // The first to start rebuilds the index from LiveKit's whole room list and leads that for RECONCILE_INTERVAL_MS:
  // the one started again must find the session in Redis, not in LiveKit's list.
  const shared = { REDIS_URL: redis.url, RECONCILE_INTERVAL_MS: '3600000' }
  const first = await serveBuilt(t, livekit, shared)
  await first.server.waitForOutput(/session index rebuilt from LiveKit/, 10_000)
  const started = await fetch(`${first.base}/api/v1/voice-sessions/start`, { method: 'POST', headers: { authorization: first.authorization } })
  t.equal(started.status, 200)
  const session = await started.json() as { room_name: string }
  await first.server.kill()
  const proxy = await recordingProxy(t, livekit.port)
  const second = await serveBuilt(t, livekit, { ...shared, LIVEKIT_URL: proxy.url })
  const listed = await fetch(`${second.base}/api/v1/voice-sessions/active`, { headers: { authorization: second.authorization } })
  t.equal(listed.status, 200)
  t.same(((await listed.json()) as { sessions: Array<{ room_name: string }> }).sessions.map((s) => s.room_name), [session.room_name])
  t.equal((await fetch(`${second.base}/ready`)).status, 200)
  t.ok(proxy.twirp.some((call) => call.method === 'ListRooms'), 'its LiveKit calls go through the proxy (the readiness probe did)')
  t.same(proxy.twirp.filter(listsEveryRoom), [], 'no full ListRooms: the session came from Redis')
})
