import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { spawnTied, type TiedProcess } from '../scripts/child-process.js'
import { freePort } from '../scripts/livekit-server.js'
import { endWithTest, signHs256, startLivekit } from './helper.js'

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

t.test('configured by the environment alone, it serves the API and the docs, and stops on SIGTERM', async (t) => {
  const livekit = await startLivekit(t)
  const port = await freePort()
  const jwtSecret = 'an-hs256-secret-shared-with-the-app'
  const server = runServer(t, {
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    JWT_SECRET: jwtSecret,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info'
  })
  const base = `http://127.0.0.1:${port}`
  await server.waitForOutput(/Server listening/, 30_000)

  const docs = await fetch(`${base}/api/docs/json`)
  t.equal(docs.status, 200)
  t.ok(((await docs.json()) as { paths: Record<string, unknown> }).paths['/api/v1/voice-sessions/start'])

  const authorization = `Bearer ${signHs256(jwtSecret, { sub: 'user-7', email: 'seven@example.com' })}`
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
