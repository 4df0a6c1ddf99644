import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { freePort, startLivekitServer } from './livekit-server.js'
import { startRedisServer } from './redis-server.js'

/**
 * For scripts/container-ci.sh: what the container runs against, on the host's loopback and on
 * free ports: a livekit-server (`room.auto_create: false`, its webhooks sent to the port the
 * container will listen on) and a redis-server. Once both answer, it writes their settings as
 * shell lines to `--out` (SERVICE_PORT, LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET,
 * REDIS_URL, and AGENT_HEALTH_PORT, a free port for the agent worker's health endpoint) and keeps
 * them running until it is signalled or its parent is gone; they die with it.
 */

const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true, allowPositionals: false })
const out = values.out
if (out === undefined) {
  console.error('usage: tsx scripts/container-ci-services.ts --out <file>')
  process.exit(2)
}

const servicePort = await freePort()
const livekit = await startLivekitServer({
  extraConfig: `webhook: { api_key: testkey, urls: ["http://127.0.0.1:${servicePort}/api/v1/livekit/webhook"] }`
})
const redis = await startRedisServer()

const settings = {
  SERVICE_PORT: String(servicePort),
  LIVEKIT_URL: livekit.url,
  LIVEKIT_API_KEY: livekit.apiKey,
  LIVEKIT_API_SECRET: livekit.apiSecret,
  REDIS_URL: redis.url,
  AGENT_HEALTH_PORT: String(await freePort())
}
writeFileSync(out, Object.entries(settings).map(([key, value]) => `${key}='${value}'\n`).join(''))
console.error(`container-ci-services: livekit-server at ${livekit.url}, redis-server at ${redis.url}, webhooks to port ${servicePort}`)

// SIGTERM/SIGINT end this process; livekit-server and redis-server go with it (spawnTied). So do
// they when the script that started it is killed outright: its parent is then someone else.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.exit(1)
  if (livekit.server.hasExited() || redis.server.hasExited()) {
    console.error(`container-ci-services: a server died\n${livekit.server.describe()}\n${redis.server.describe()}`)
    process.exit(1)
  }
}, 500)
