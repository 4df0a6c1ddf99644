import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, startLivekitServer } from './livekit-server.js'
import { signHs256 } from './user-jwt.js'

/**
 * `npm run dev`: a local livekit-server, the reference agent worker, the service in watch mode,
 * then a user JWT and a curl line per endpoint.
 */

const root = join(import.meta.dirname, '..')

async function isFree (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const probe = createServer().once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

const livekit = await startLivekitServer({
  port: await isFree(7880) ? 7880 : await freePort(),
  apiKey: 'devkey',
  apiSecret: 'dev-secret-for-local-livekit-only-0123456789',
  logLevel: 'info',
  echo: true
})

const host = process.env.HOST ?? '127.0.0.1'
const port = process.env.PORT ?? '3000'
const jwtSecret = process.env.JWT_SECRET ?? 'dev-jwt-secret-for-local-use-only'
const agentName = process.env.LIVEKIT_AGENT_NAME ?? 'voice-agent'
const env = {
  ...process.env,
  LIVEKIT_URL: livekit.url,
  LIVEKIT_API_KEY: livekit.apiKey,
  LIVEKIT_API_SECRET: livekit.apiSecret,
  JWT_SECRET: jwtSecret,
  LIVEKIT_AGENT_NAME: agentName,
  HOST: host,
  PORT: port,
  FASTIFY_AUTOLOAD_TYPESCRIPT: '1'
}

const children: ChildProcess[] = []
function run (args: string[]): void {
  children.push(spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env, stdio: 'inherit' }))
}
run(['--watch', 'src/server.ts'])
run(['agent/worker.ts', 'start'])

async function stop (): Promise<void> {
  for (const child of children) child.kill('SIGTERM')
  await livekit.stop()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)

const base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
for (let attempt = 0; attempt < 600; attempt++) {
  try {
    if ((await fetch(`${base}/api/docs/json`)).ok) break
  } catch {}
  await sleep(100)
}

const token = signHs256(jwtSecret, { sub: 'dev-user', email: 'dev-user@example.com', exp: Math.floor(Date.now() / 1000) + 24 * 3600 })
const auth = '-H "Authorization: Bearer $TOKEN"'
console.log(`
Voice-session service: ${base}   (docs: ${base}/api/docs)
LiveKit:               ${livekit.url}   (key ${livekit.apiKey})
Voice agent:           ${agentName}   (agent/worker.ts, health on 127.0.0.1:8081)

A user JWT for dev-user, valid 24 h:
export TOKEN=${token}

curl -s -X POST ${auth} -H 'content-type: application/json' -d '{"agent_type":"workout"}' ${base}/api/v1/voice-sessions/start
curl -s ${auth} ${base}/api/v1/voice-sessions/active
curl -s ${auth} ${base}/api/v1/voice-sessions/ROOM_NAME/status
curl -s -X POST ${auth} ${base}/api/v1/voice-sessions/ROOM_NAME/token
curl -s -X DELETE ${auth} ${base}/api/v1/voice-sessions/ROOM_NAME
curl -s -X POST ${auth} -H 'content-type: application/json' -d '{}' ${base}/api/v1/livekit/token
`)
