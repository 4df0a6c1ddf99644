import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { prettyFactory } from 'pino-pretty'
import { eachLine, spawnTied, type TiedProcess } from './child-process.js'
import {
  DEV_LIVEKIT_API_KEY,
  DEV_LIVEKIT_API_SECRET,
  DEV_TOKEN_TTL_SECONDS,
  DEV_USER,
  devUserToken,
  loadDevConfig,
  reachableHost,
  serviceUrl,
  type DevConfig
} from './dev-config.js'
import { startLivekitServer, waitUntilAnswering, type RunningLivekit } from './livekit-server.js'
import { describePortProblems, portProblems, type PortNeed } from './port-check.js'

/**
 * `npm run dev`: a local livekit-server (sending its webhooks to the service), the reference
 * agent worker and the service in watch mode; once the service that answers is this one, a user
 * JWT and command lines that work as pasted. Every port is checked before anything starts: a
 * taken one stops it with one line naming it. Ports, secrets and names come from the environment
 * or `.env` (scripts/dev-config.ts).
 */

const root = join(import.meta.dirname, '..')
/** Longest wait for the service to listen and be ready, and for the worker to register (tsx compiles on the way). */
const START_TIMEOUT_MS = 60_000
/** How long a child gets to stop after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5000

function fail (message: string): never {
  console.error(`npm run dev: ${message}`)
  process.exit(1)
}

let config: DevConfig
try {
  config = loadDevConfig()
} catch (err) {
  fail((err as Error).message)
}

const needs: PortNeed[] = [
  { port: config.LIVEKIT_PORT, protocol: 'tcp', host: '127.0.0.1', what: 'LiveKit', key: 'LIVEKIT_PORT' },
  // livekit-server takes its media ports on every interface.
  { port: config.LIVEKIT_RTC_TCP_PORT, protocol: 'tcp', host: '0.0.0.0', what: 'LiveKit media over TCP', key: 'LIVEKIT_RTC_TCP_PORT' },
  { port: config.LIVEKIT_RTC_UDP_PORT, protocol: 'udp', host: '0.0.0.0', what: 'LiveKit media over UDP', key: 'LIVEKIT_RTC_UDP_PORT' },
  { port: config.PORT, protocol: 'tcp', host: config.HOST, what: 'the service', key: 'PORT' },
  { port: config.AGENT_HEALTH_PORT, protocol: 'tcp', host: config.AGENT_HEALTH_HOST, what: 'the agent worker\'s health endpoint', key: 'AGENT_HEALTH_PORT' }
]
const tcpKeys = new Map<number, string>()
for (const need of needs.filter((need) => need.protocol === 'tcp')) {
  const other = tcpKeys.get(need.port)
  if (other !== undefined) fail(`${other} and ${need.key} are both ${need.port}; give each its own port`)
  tcpKeys.set(need.port, need.key)
}
const problems = await portProblems(needs)
if (problems.length > 0) fail(describePortProblems(problems))

const base = serviceUrl(config)
const webhookUrl = `${base}/api/v1/livekit/webhook`
const healthUrl = `http://${reachableHost(config.AGENT_HEALTH_HOST)}:${config.AGENT_HEALTH_PORT}/`

let livekit: RunningLivekit | undefined
const children: TiedProcess[] = []
let stopping: Promise<void> | undefined

/** Stops the service and the worker (SIGTERM, then SIGKILL), then livekit-server, and exits with `code`. */
async function stop (code: number): Promise<void> {
  stopping ??= (async () => {
    for (const child of children) child.signal('SIGTERM')
    await Promise.all(children.map(async (child) => {
      await Promise.race([child.exited, sleep(STOP_TIMEOUT_MS, undefined, { ref: false })])
      await child.kill()
    }))
    await livekit?.stop()
    process.exit(code)
  })()
  await stopping
}

async function fatal (message: string): Promise<never> {
  if (stopping === undefined) console.error(`npm run dev: ${message}`)
  await stop(1)
  throw new Error('unreachable')
}

// A second Ctrl-C (or the one npm and tsx pass on) does not cut the stop short; it is bounded anyway.
process.on('SIGINT', () => { stop(0).catch(() => {}) })
process.on('SIGTERM', () => { stop(0).catch(() => {}) })

try {
  livekit = await startLivekitServer({
    port: config.LIVEKIT_PORT,
    rtcTcpPort: config.LIVEKIT_RTC_TCP_PORT,
    rtcUdpPort: config.LIVEKIT_RTC_UDP_PORT,
    apiKey: DEV_LIVEKIT_API_KEY,
    apiSecret: DEV_LIVEKIT_API_SECRET,
    // At `info` it writes whole SDPs, lines of thousands of characters.
    logLevel: 'warn',
    // Without webhooks, a person's joining shows in `participants` only at the next reconcile.
    extraConfig: `webhook: { api_key: ${DEV_LIVEKIT_API_KEY}, urls: ["${webhookUrl}"] }`,
    echo: true
  })
} catch (err) {
  await fatal(`livekit-server did not start: ${(err as Error).message}`)
}
const running = livekit!

/** The environment a child gets: this one (with `.env` read into it) and the dev set-up's values, which win. */
function childEnv (values: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...values }
  // Set here from the dev set-up; a file variant of the same key would be a configuration error.
  delete env.LIVEKIT_API_SECRET_FILE
  delete env.JWT_SECRET_FILE
  return env
}

const livekitEnv = { LIVEKIT_URL: running.url, LIVEKIT_API_KEY: running.apiKey, LIVEKIT_API_SECRET: running.apiSecret, LIVEKIT_AGENT_NAME: config.LIVEKIT_AGENT_NAME }

/** Writes a child's pino JSON lines readably (local times, one field a line), each marked with `label`. */
function printReadably (child: TiedProcess, label: string): void {
  const pretty = prettyFactory({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', messageFormat: `${label} | {msg}` })
  eachLine(child.process.stdout!, (line) => {
    process.stdout.write(line.startsWith('{') ? pretty(line) : `${label} | ${line}\n`)
  })
  child.process.stderr!.on('data', (chunk: string) => { process.stderr.write(chunk) })
}

function startChild (name: string, label: string, args: string[], env: NodeJS.ProcessEnv): TiedProcess {
  const child = spawnTied(process.execPath, ['--import', 'tsx', ...args], { name, cwd: root, env })
  children.push(child)
  printReadably(child, label)
  return child
}

// --watch-preserve-output: a restart must not clear the terminal, and the lines printed below with it.
const service = startChild('the service', 'service', ['--watch', '--watch-preserve-output', 'src/server.ts'], childEnv({
  ...livekitEnv,
  JWT_SECRET: config.JWT_SECRET,
  JWT_AUDIENCE: config.JWT_AUDIENCE,
  JWT_ISSUER: config.JWT_ISSUER,
  HOST: config.HOST,
  PORT: String(config.PORT),
  FASTIFY_AUTOLOAD_TYPESCRIPT: '1'
}))
const worker = startChild('the agent worker', 'agent', ['agent/worker.ts', 'start'], childEnv({
  ...livekitEnv,
  AGENT_HEALTH_HOST: config.AGENT_HEALTH_HOST,
  AGENT_HEALTH_PORT: String(config.AGENT_HEALTH_PORT)
}))

for (const child of [running.server, service, worker]) {
  child.exited.then((how) => fatal(`${child.name} exited (${how ?? 'never started'}); stopping everything`), () => {})
}

const LISTENING = /"msg":"Server listening at /
// What node --watch prints when the service's process ends: it stays up waiting for a change.
const ENDED = /^(Failed|Completed) running /m

/**
 * Resolves once the service this script started listens and is ready. The port alone proves
 * nothing (another process may hold it), so it waits for this child's own "listening" line, and
 * gives up as soon as the child's process ends.
 */
async function serviceReady (): Promise<void> {
  await service.waitForOutput(new RegExp(`${LISTENING.source}|${ENDED.source}`, 'm'), START_TIMEOUT_MS)
  if (!LISTENING.test(service.output())) throw new Error('the service did not start (its output is above)')
  const deadline = Date.now() + START_TIMEOUT_MS
  let last = ''
  while (Date.now() < deadline) {
    if (ENDED.test(service.output())) throw new Error('the service stopped (its output is above)')
    try {
      const response = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(2000) })
      if (response.ok) return
      last = `: ${await response.text()}`
    } catch (err) {
      last = `: ${(err as Error).message}`
    }
    await sleep(100)
  }
  throw new Error(`the service listens but was not ready within ${START_TIMEOUT_MS} ms${last}`)
}

try {
  await Promise.all([
    serviceReady(),
    waitUntilAnswering(healthUrl, worker.process, START_TIMEOUT_MS).catch((err: Error) => {
      throw new Error(`the agent worker did not register with LiveKit: ${err.message}`)
    })
  ])
} catch (err) {
  await fatal((err as Error).message)
}

const token = devUserToken(config, { sub: DEV_USER })
const auth = '-H "Authorization: Bearer $TOKEN"'
const sessions = `${base}/api/v1/voice-sessions`
const roomName = 'node -pe \'JSON.parse(fs.readFileSync(0, "utf8")).room_name\''
console.log(`
npm run dev is ready; Ctrl-C stops all three:
  service  ${base}   (API docs: ${base}/api/docs)
  LiveKit  ${running.url}   (key ${running.apiKey}, webhooks to the service; media on ${config.LIVEKIT_RTC_TCP_PORT}/tcp and ${config.LIVEKIT_RTC_UDP_PORT}/udp)
  agent    ${config.LIVEKIT_AGENT_NAME}   (agent/worker.ts, health on ${healthUrl})

From another shell in this folder; each line works as pasted. A user JWT for ${DEV_USER}, valid ${DEV_TOKEN_TTL_SECONDS / 3600} h, and a session:
export TOKEN=${token}
ROOM=$(curl -s -X POST ${auth} -H 'content-type: application/json' -d '{"agent_type":"workout"}' ${sessions}/start | ${roomName}) && echo "$ROOM"
curl -s -w '\\n' ${auth} ${sessions}/$ROOM/status

A person (${DEV_USER}) joins for 20 s and records the agent's greeting tone to agent.wav; meanwhile participants is 1:
npm run dev:client -- --room "$ROOM" --record agent.wav --seconds 20 &
sleep 5; curl -s -w '\\n' ${auth} ${sessions}/$ROOM/status
curl -s -w '\\n' ${auth} ${sessions}/active
curl -s -w '\\n' -X POST ${auth} ${sessions}/$ROOM/token

Another user, bob (npm run -s token -- --sub bob prints his JWT), is refused this session with 403:
BOB=$(npm run -s token -- --sub bob)
curl -s -w '\\n' -H "Authorization: Bearer $BOB" ${sessions}/$ROOM/status

End the session; then LiveKit's standard token endpoint, which starts another:
curl -s -w '\\n' -X DELETE ${auth} ${sessions}/$ROOM
curl -s -w '\\n' -X POST ${auth} -H 'content-type: application/json' -d '{}' ${base}/api/v1/livekit/token
`)
