import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { RoomServiceClient } from 'livekit-server-sdk'
import { spawnTied } from '../scripts/child-process.js'
import { freePort, livekitServerBin, startLivekitServer } from '../scripts/livekit-server.js'
import { findRedisServer, startRedisServer, type RunningRedis } from '../scripts/redis-server.js'
import { signHs256 } from '../scripts/user-jwt.js'
import { benchKnobs } from './knobs.js'
import { measureHttp, type Measured } from './load.js'
import { describeMachine, loadAverage } from './report.js'
import { createOtherRooms } from './rooms.js'
import { writeSection } from './section.js'
import { benchServiceEnv, startReplica } from './service.js'

/**
 * The reads beside their floor: `status` and `active` of the built service (memory, then Redis),
 * each measured alone after a warm-up, and the same two routes of Fastify + @fastify/jwt answering
 * from memory (bench/floor-server.ts), at the same connections. Writes the "Reads beside the
 * Fastify floor" section of BENCHMARKS.md. Knobs: BENCH_SECONDS (5), BENCH_CONNECTIONS (16),
 * BENCH_OUT (BENCHMARKS.md; empty: printed only), BENCH_PROFILE_DIR (the service writes a V8 CPU
 * profile of each run there, `--cpu-prof`, for flame graphs), BENCH_OTHER_ROOMS (0,10000: other
 * users' sessions in LiveKit, one level after another), BENCH_SETTLE_SECONDS (20: how long the
 * service settles beside them before it is measured).
 */

const { integers, positive } = benchKnobs('npx tsx bench/reads.ts')
const SECONDS = positive('BENCH_SECONDS', 5)
const CONNECTIONS = positive('BENCH_CONNECTIONS', 16, { integer: true })
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR
const OTHER_ROOMS = integers('BENCH_OTHER_ROOMS', '0,10000', 0)
const SETTLE_SECONDS = positive('BENCH_SETTLE_SECONDS', 20)
const HEADING = '## Reads beside the Fastify floor'
const JWT_SECRET = 'bench-jwt-secret-of-at-least-thirty-two-bytes'
const USER = 'bench-user'
const authorization = `Bearer ${signHs256(JWT_SECRET, { sub: USER, email: `${USER}@example.com` })}`
const headers = { authorization }

interface Row { target: string, otherRooms: number, route: 'status' | 'active', measured: Measured }

async function measure (origin: string, path: string): Promise<Measured> {
  const load = { urls: [origin], method: 'GET' as const, path, headers, connections: CONNECTIONS }
  await measureHttp({ ...load, seconds: 1 })
  return await measureHttp({ ...load, seconds: SECONDS })
}

/**
 * The built service on `redis` (or memory), with LiveKit's webhooks, holding three sessions of the
 * bench user beside `otherRooms` sessions of other users (made before it starts: its rebuild indexes
 * them, and it settles SETTLE_SECONDS); measured, then stopped.
 */
async function measureService (label: string, redis: RunningRedis | undefined, otherRooms: number): Promise<Row[]> {
  const port = await freePort()
  const livekit = await startLivekitServer({ apiKey: 'benchkey', extraConfig: `webhook: { api_key: benchkey, urls: ["http://127.0.0.1:${port}/api/v1/livekit/webhook"] }` })
  if (otherRooms > 0) await createOtherRooms(new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret, { requestTimeout: 120 }), 0, otherRooms)
  const env: Record<string, string> = {
    ...benchServiceEnv(livekit, JWT_SECRET),
    ...(redis === undefined ? {} : { REDIS_URL: redis.url })
  }
  const nodeArgs = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE_DIR)}`]
  const replica = await startReplica({ port, env, authorization, nodeArgs })
  try {
    const rooms: string[] = []
    for (let i = 0; i < 3; i++) rooms.push(((await (await fetch(`${replica.origin}/api/v1/voice-sessions/start`, { method: 'POST', headers })).json()) as { room_name: string }).room_name)
    // Until LiveKit's room_started of each was heard: the index answers (bounded: 100 tries).
    for (let tries = 0; tries < 100; tries++) {
      const metrics = await (await fetch(`${replica.origin}/metrics`)).text()
      if (/livekit_webhook_events_total\{event="room_started",outcome="applied"\} 3/.test(metrics)) break
      await sleep(100)
    }
    if (otherRooms > 0) await sleep(SETTLE_SECONDS * 1000)
    return [
      { target: label, otherRooms, route: 'status', measured: await measure(replica.origin, `/api/v1/voice-sessions/${rooms[0] as string}/status`) },
      { target: label, otherRooms, route: 'active', measured: await measure(replica.origin, '/api/v1/voice-sessions/active') }
    ]
  } finally {
    // SIGINT: a graceful stop, which writes the CPU profile.
    replica.server.signal('SIGINT')
    await Promise.race([replica.server.exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
    await replica.server.kill()
    await livekit.stop()
  }
}

async function measureFloor (): Promise<Row[]> {
  const port = await freePort()
  const floor = spawnTied(process.execPath, ['--import', 'tsx', 'bench/floor-server.ts'], { name: 'Fastify floor', env: { PATH: process.env.PATH ?? '', PORT: String(port), JWT_SECRET } })
  try {
    const origin = `http://127.0.0.1:${port}`
    for (let tries = 0; tries < 100; tries++) {
      if (await fetch(`${origin}/api/v1/voice-sessions/active`, { headers }).then((r) => r.ok, () => false)) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return [
      { target: 'Fastify + @fastify/jwt floor', otherRooms: 0, route: 'status', measured: await measure(origin, '/api/v1/voice-sessions/fitness-voice-bench-user-00000000/status') },
      { target: 'Fastify + @fastify/jwt floor', otherRooms: 0, route: 'active', measured: await measure(origin, '/api/v1/voice-sessions/active') }
    ]
  } finally {
    await floor.kill()
  }
}

/** The machine in one line: CPU, cores, Node, the commit. */
function machineLine (): string {
  const { cpu, cores, ramGiB, node, livekitServer, redisServer, commit } = describeMachine(livekitServerBin, findRedisServer())
  return `${cpu}, ${cores} cores, ${ramGiB.toFixed(1)} GiB; Node ${node}; livekit-server ${livekitServer}; redis-server ${redisServer}; ${commit}`
}

const loadBefore = loadAverage()
const rows: Row[] = await measureFloor()
for (const otherRooms of OTHER_ROOMS) {
  rows.push(...await measureService('service, memory', undefined, otherRooms))
  const redis = await startRedisServer()
  try {
    rows.push(...await measureService('service, Redis', redis, otherRooms))
  } finally {
    await redis.stop()
  }
}
const growth = (low: number | undefined, high: number) => low === undefined ? '-' : `${(high / low).toFixed(2)}x`
const floorOf = (route: Row['route']) => rows.find((row) => row.target.startsWith('Fastify') && row.route === route)?.measured.perSecond ?? Number.NaN
const p99At = (target: string, route: Row['route'], otherRooms: number) => rows.find((row) => row.target === target && row.route === route && row.otherRooms === otherRooms)?.measured.p99Ms
const lines = rows.map(({ target, otherRooms, route, measured }) =>
  `| ${target} | ${otherRooms.toLocaleString('en-US')} | ${route} | ${Math.round(measured.perSecond)} | ${measured.p50Ms.toFixed(1)} | ${measured.p99Ms.toFixed(1)} | ${(measured.perSecond / floorOf(route)).toFixed(2)}x | ${growth(p99At(target, route, OTHER_ROOMS[0] ?? 0), measured.p99Ms)} | ${measured.failed} |`)
const text = `${HEADING}

Written by \`npx tsx bench/reads.ts\` (${new Date().toISOString()}): each target alone, ${CONNECTIONS} connections,
${SECONDS} s after a 1 s warm-up, 2xx answers only; beside ${OTHER_ROOMS.map((n) => n.toLocaleString('en-US')).join(', then ')} other users'
sessions in LiveKit (made before the service starts, so that its rebuild indexes them; it settles
${SETTLE_SECONDS} s beside them before it is measured). The service is the build
(\`node dist/src/server.js\`) with LiveKit's webhooks, so its three sessions are proven current and
answered from the index; the floor is Fastify with @fastify/jwt verifying the same user JWT and
answering bodies of the same shape from memory (\`bench/floor-server.ts\`). Targets (issue "close
to the floor"): 0.5x in memory, 0.4x on Redis, at 0 and 10,000 other sessions; p99 at 10,000 under 2x its p99 at 0. ${machineLine()}; load average ${loadBefore} before.

| target | other sessions | route | req/s | p50 ms | p99 ms | of the floor | p99 over its p99 at the fewest | failed |
|---|---|---|---:|---:|---:|---:|---:|---:|
${lines.join('\n')}
`
console.log(text)
if (OUT !== '') writeSection(resolve(OUT), HEADING, text)
