import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { freePort } from '../scripts/livekit-server.js'
import { waitFor } from './clients.js'
import { signHs256, startLivekit } from './helper.js'

const root = join(import.meta.dirname, '..')
const tsx = import.meta.resolve('tsx')

/** The service as `npm start` runs it: its own process, configured by environment variables only. */
function runServer (t: Test, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'src/server.ts')], {
    // A directory without a .env file, and no inherited LiveKit or JWT settings.
    cwd: t.testdir({}),
    env: { PATH: process.env.PATH, FASTIFY_AUTOLOAD_TYPESCRIPT: '1', NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += String(chunk) })
  child.stderr.on('data', (chunk) => { output += String(chunk) })
  t.teardown(() => { child.kill('SIGKILL') })
  return { child, output: () => output }
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
  await waitFor(() => server.output().includes('Server listening') ? true : undefined, { tries: 300, intervalMs: 100 })

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

  server.child.kill('SIGTERM')
  const [code] = await once(server.child, 'exit')
  t.equal(code, 0, 'a graceful stop exits 0')
  t.notOk(server.output().includes(livekit.apiSecret), 'the secret is never printed')
})

t.test('missing or malformed keys: exits non-zero with one message naming every bad key', async (t) => {
  const server = runServer(t, { LIVEKIT_URL: 'localhost:7880', PORT: 'eighty', LIVEKIT_WORKER_NUM_IDLE: '0' })
  const [code] = await once(server.child, 'exit')
  t.equal(code, 1)
  const message = server.output().trim()
  t.equal(message.split('\n').length, 1, 'one line')
  for (const key of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET', 'JWT_SECRET', 'PORT', 'LIVEKIT_WORKER_NUM_IDLE']) {
    t.match(message, key)
  }
})
