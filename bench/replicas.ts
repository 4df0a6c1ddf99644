import { resolve } from 'node:path'
import { availableParallelism } from 'node:os'
import { freePort, startLivekitServer } from '../scripts/livekit-server.js'
import { startRedisServer } from '../scripts/redis-server.js'
import { signHs256 } from '../scripts/user-jwt.js'
import { benchKnobs } from './knobs.js'
import { measureHttp, type Measured } from './load.js'
import { loadAverage } from './report.js'
import { writeSection } from './section.js'
import { benchServiceEnv, startReplica, type Replica } from './service.js'

/**
 * Two replicas on Redis against one, each replica pinned to a core of its own (`taskset -c`):
 * `status` and `active` with the load on one replica, then spread over both. Writes the "Two
 * replicas, a core each" section of BENCHMARKS.md. Knobs: BENCH_SECONDS (5), BENCH_CONNECTIONS
 * (16), BENCH_OUT (BENCHMARKS.md; empty: printed only).
 */

const { positive } = benchKnobs('npx tsx bench/replicas.ts')
const SECONDS = positive('BENCH_SECONDS', 5)
const CONNECTIONS = positive('BENCH_CONNECTIONS', 16, { integer: true })
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'
const HEADING = '## Two replicas, a core each'
const JWT_SECRET = 'bench-jwt-secret-of-at-least-thirty-two-bytes'
const authorization = `Bearer ${signHs256(JWT_SECRET, { sub: 'bench-user', email: 'bench-user@example.com' })}`
const headers = { authorization }

async function measure (urls: string[], path: string): Promise<Measured> {
  const load = { urls, method: 'GET' as const, path, headers, connections: CONNECTIONS }
  await measureHttp({ ...load, seconds: 1 })
  return await measureHttp({ ...load, seconds: SECONDS })
}

const cores = availableParallelism()
const loadBefore = loadAverage()
const redis = await startRedisServer()
const ports = [await freePort(), await freePort()]
const livekit = await startLivekitServer({ apiKey: 'benchkey', extraConfig: `webhook: { api_key: benchkey, urls: ["http://127.0.0.1:${ports[0] as number}/api/v1/livekit/webhook"] }` })
const env = { ...benchServiceEnv(livekit, JWT_SECRET), REDIS_URL: redis.url }
const replicas: Replica[] = []
const rows: string[] = []
try {
  replicas.push(await startReplica({ port: ports[0] as number, env, authorization, cpus: '0' }))
  const [one] = replicas as [Replica]
  const rooms: string[] = []
  for (let i = 0; i < 3; i++) rooms.push(((await (await fetch(`${one.origin}/api/v1/voice-sessions/start`, { method: 'POST', headers })).json()) as { room_name: string }).room_name)
  // Until LiveKit's room_started of each was heard: the index answers (bounded: 100 tries).
  for (let tries = 0; tries < 100; tries++) {
    if (/livekit_webhook_events_total\{event="room_started",outcome="applied"\} 3/.test(await (await fetch(`${one.origin}/metrics`)).text())) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const routes = { status: `/api/v1/voice-sessions/${rooms[0] as string}/status`, active: '/api/v1/voice-sessions/active' }
  const alone = { status: await measure([one.origin], routes.status), active: await measure([one.origin], routes.active) }
  replicas.push(await startReplica({ port: ports[1] as number, env, authorization, cpus: String(Math.min(1, cores - 1)) }))
  const origins = replicas.map((replica) => replica.origin)
  const both = { status: await measure(origins, routes.status), active: await measure(origins, routes.active) }
  for (const route of ['status', 'active'] as const) {
    const line = (label: string, measured: Measured, scale: string) =>
      `| ${route} | ${label} | ${Math.round(measured.perSecond)} | ${measured.p50Ms.toFixed(1)} | ${measured.p99Ms.toFixed(1)} | ${scale} | ${measured.failed} |`
    rows.push(line('1 replica (core 0)', alone[route], '1.00x'), line('2 replicas (cores 0 and 1)', both[route], `${(both[route].perSecond / alone[route].perSecond).toFixed(2)}x`))
  }
} finally {
  await Promise.all(replicas.map(async (replica) => await replica.server.kill()))
  await livekit.stop()
  await redis.stop()
}

const text = `${HEADING}

Written by \`npx tsx bench/replicas.ts\` (${new Date().toISOString()}): the built service on one
redis-server, each replica pinned to a core of its own with \`taskset -c\`, ${CONNECTIONS} connections,
${SECONDS} s after a 1 s warm-up, 2xx answers only; the load on one replica, then spread over both.
This machine has ${cores} cores: the load generator (autocannon, in this process), Redis and
LiveKit run on the same ones, unpinned, so the second replica's core is also theirs; the target
(two replicas serve 1.6x one) needs a core for each replica besides the load's. Load average
${loadBefore} before.

| route | replicas | req/s | p50 ms | p99 ms | of one replica | failed |
|---|---|---:|---:|---:|---:|---:|
${rows.join('\n')}
`
console.log(text)
if (OUT !== '') writeSection(resolve(OUT), HEADING, text)
