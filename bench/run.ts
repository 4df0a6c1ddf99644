import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Redis } from 'ioredis'
import { AccessToken, RoomServiceClient, TrackSource } from 'livekit-server-sdk'
import { freePort, livekitServerBin, startLivekitServer, type RunningLivekit } from '../scripts/livekit-server.js'
import { findRedisServer, startRedisServer, type RunningRedis } from '../scripts/redis-server.js'
import { signHs256 } from '../scripts/user-jwt.js'
import { mapLimited } from '#ops/map-limited.js'
import { ROOM_NAME_PREFIX } from '#sessions/room-name.js'
import { combined, measureCalls, measureHttp, type LoadOptions, type Measured } from './load.js'
import { cpuMeter, otherLoadMeter, type CpuParts } from './cpu.js'
import { benchKnobs } from './knobs.js'
import { consoleTable, describeMachine, ENDPOINTS, loadAverage, markdown, setupTable, START_CPU_PARTS, startCpuTable, verdicts, verdictTable, type Endpoint, type Measurement, type Report, type SetupRun, type StartCpu } from './report.js'
import { writeLeadingSections } from './section.js'
import { webhookSink } from './webhook-sink.js'
import { AGENT_TYPE, createOtherRooms, sessionRoom, SETUP_CALLS_AT_ONCE } from './rooms.js'
import { benchServiceEnv, residentBytes, sampleResidentMemory, startReplica, type Replica } from './service.js'

/**
 * `npm run bench`: the built service against a real livekit-server on loopback, endpoint by
 * endpoint, each beside the bare livekit-server-sdk making the calls that the seed plan's design
 * makes for it (the floor), with other users' rooms in LiveKit and one or two replicas; prints the
 * figures and writes them, with the machine and the targets, to BENCHMARKS.md.
 * Knobs (environment): BENCH_SECONDS, BENCH_OTHER_ROOMS, BENCH_SETUPS, BENCH_CONNECTIONS, BENCH_OUT,
 * BENCH_PROFILE_DIR (each replica writes a V8 CPU profile there), BENCH_SETTLE_SECONDS, BENCH_SERVICE_ENV.
 */

const { fail, integers, positive } = benchKnobs('npm run bench')

const SETUPS = {
  '1-memory': { label: '1 replica, memory', replicas: 1, redis: false },
  '1-redis': { label: '1 replica, Redis', replicas: 1, redis: true },
  '2-redis': { label: '2 replicas, Redis', replicas: 2, redis: true }
} as const
type SetupName = keyof typeof SETUPS

const SECONDS = positive('BENCH_SECONDS', 3)
const CONNECTIONS = positive('BENCH_CONNECTIONS', 16, { integer: true })
const OTHER_ROOMS = integers('BENCH_OTHER_ROOMS', '0,1000', 0)
const SETUP_NAMES = (process.env.BENCH_SETUPS ?? Object.keys(SETUPS).join(',')).split(',').map((name) => name.trim()) as SetupName[]
for (const name of SETUP_NAMES) if (!(name in SETUPS)) fail(`BENCH_SETUPS must name some of ${Object.keys(SETUPS).join(', ')} (got "${name}")`)
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'
/** Where each replica writes a V8 CPU profile (`--cpu-prof`) when it stops gracefully; unset: none. */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR

/**
 * With other rooms, how long a replica settles after it is ready, before the measurements: it confirms
 * the people of every session it rebuilt, and LiveKit's webhook backlog arrives. Measured meanwhile,
 * in slices: status req/s right after a start.
 */
const SETTLE_SECONDS = positive('BENCH_SETTLE_SECONDS', 20)
const SETTLE_SLICE_SECONDS = 2
/** More of the service's configuration, `KEY=value` separated by spaces (e.g. `RECONCILE_INTERVAL_MS=5000`), to see what a setting costs. */
const SERVICE_ENV = Object.fromEntries((process.env.BENCH_SERVICE_ENV ?? '').split(/\s+/).filter((pair) => pair !== '').map((pair) => {
  const at = pair.indexOf('=')
  if (at < 1) fail(`BENCH_SERVICE_ENV must be KEY=value pairs separated by spaces (got "${pair}")`)
  return [pair.slice(0, at), pair.slice(at + 1)]
}))

/** Sessions the bench user holds while status and active are measured. */
const OWN_SESSIONS = 3
const BENCH_USER = 'bench-user'
/** The users whose sessions start makes (one each) and end deletes: this and a number. */
const STARTERS = 'bench-starter-'
const FLOOR_USERS = 'bench-floor-'
/** Every room the bench makes for itself starts with this; other users' rooms do not. */
const BENCH_ROOMS = `${ROOM_NAME_PREFIX}bench-`
const JWT_SECRET = 'bench-jwt-secret-of-at-least-thirty-two-bytes'
/** LIVEKIT_TOKEN_TTL_SECONDS's default, as the service's tokens have it. */
const TOKEN_TTL_SECONDS = 21_600
/** Uncounted load before each measurement. */
const WARM_UP_SECONDS = 1

const load: LoadOptions = { connections: CONNECTIONS, seconds: SECONDS }
const bearer = (sub: string) => `Bearer ${signHs256(JWT_SECRET, { sub, email: `${sub}@example.com` })}`
/** The user a session room belongs to, from its name: `fitness-voice-{user}-{8 hex}`. */
const ownerOf = (room: string) => room.slice(ROOM_NAME_PREFIX.length, -'-01234567'.length)
/** Starts made in this run, floors' included: each by a user of its own. */
let startsMade = 0

/** The participant token the service's start mints (src/livekit/livekit.ts), with the bare SDK. */
async function participantToken (livekit: RunningLivekit, userId: string, room: string): Promise<string> {
  const token = new AccessToken(livekit.apiKey, livekit.apiSecret, { identity: userId, name: `${userId}@example.com`, ttl: TOKEN_TTL_SECONDS })
  token.addGrant({ roomJoin: true, room, canPublish: true, canPublishSources: [TrackSource.MICROPHONE], canSubscribe: true, canPublishData: true })
  return await token.toJwt()
}

const startedAt = new Date()
const loadBefore = loadAverage()
const needsRedis = SETUP_NAMES.some((name) => SETUPS[name].redis)
if (needsRedis && findRedisServer() === undefined) fail('BENCH_SETUPS names a Redis setup and redis-server is not installed (apt-get install redis-server)')
console.log(`npm run bench: ${SECONDS} s per measurement at ${CONNECTIONS} connections; other rooms ${OTHER_ROOMS.join(', ')}; ${SETUP_NAMES.map((name) => SETUPS[name].label).join('; ')}. Load average ${loadBefore}.`)

const ports = [await freePort(), await freePort()] as const
const webhookUrl = `http://127.0.0.1:${ports[0]}/api/v1/livekit/webhook`
// LiveKit's webhooks answered on the first replica's port while no replica listens there (seeding,
// floors, between runs), so that LiveKit is never busy retrying deliveries during a measurement.
const sink = webhookSink(ports[0])
await sink.open()
const apiKey = 'benchkey'
const livekit = await startLivekitServer({ apiKey, extraConfig: `webhook: { api_key: ${apiKey}, urls: ["${webhookUrl}"] }` })
let redis: RunningRedis | undefined
let replicas: Replica[] = []
// Generous: listRooms() at 10,000 rooms takes about a second alone, many times that 16 at once.
const sdk = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret, { requestTimeout: 120 })

const rows: Measurement[] = []
const setupRuns: SetupRun[] = []
let otherRoomsMade = 0

/** Deletes the rooms named, a few at a time; rooms already gone are fine. */
async function deleteRooms (names: readonly string[]): Promise<void> {
  await mapLimited(names, SETUP_CALLS_AT_ONCE, async (name) => { await sdk.deleteRoom(name).catch(() => {}) })
}

/** The rooms the bench made for itself (other users' rooms aside) whose names start with `prefix`. */
async function benchRooms (prefix = BENCH_ROOMS): Promise<string[]> {
  return (await sdk.listRooms()).map((room) => room.name).filter((name) => name.startsWith(prefix))
}

/** Other users' rooms, up to `count` in all, as the service would have made them. */
async function seedOtherRooms (count: number): Promise<void> {
  if (count <= otherRoomsMade) return
  const started = performance.now()
  const made = await createOtherRooms(sdk, otherRoomsMade, count)
  otherRoomsMade = count
  console.log(`\n${count.toLocaleString('en-US')} other users' rooms in LiveKit (${((performance.now() - started) / 1000).toFixed(1)} s to make ${made.length.toLocaleString('en-US')})`)
}

/**
 * A measurement after WARM_UP_SECONDS of uncounted load (JIT, sockets, caches) when `warm`; at most
 * `limit` calls in all, the warm-up's included (a quarter of them in the warm-up).
 */
async function afterWarmUp (warm: boolean, measure: (options: LoadOptions & { offset: number }) => Promise<Measured>, limit = Number.POSITIVE_INFINITY): Promise<Measured> {
  let offset = 0
  if (warm) {
    const warmLimit = Number.isFinite(limit) ? Math.floor(limit / 4) : limit
    if (warmLimit >= CONNECTIONS) {
      const warmed = await measure({ ...load, seconds: WARM_UP_SECONDS, limit: warmLimit, offset })
      offset = warmed.ok + warmed.failed
    }
  }
  return await measure({ ...load, limit: limit - offset, offset })
}

/** Seconds of each turn of startsInTurns. */
const START_TURN_SECONDS = 1

/**
 * The floor's start and the service's, each warmed up, then in turns of START_TURN_SECONDS until each
 * had SECONDS, each side's turns counted as one measurement (the floor is warmed up once per run, as
 * elsewhere). LiveKit's CPU per CreateRoom beside
 * 10,000 rooms swings several-fold from one few seconds to the next (its garbage collector, over
 * every room's goroutines: BENCHMARKS.md, "Start beside 10,000 rooms"), so that two windows one after
 * the other would compare LiveKit's two moments rather than the two starts.
 */
async function startsInTurns (
  warmFloor: boolean,
  parts: CpuParts<keyof StartCpu>,
  floor: (options: LoadOptions) => Promise<Measured>,
  service: (options: LoadOptions) => Promise<Measured>
): Promise<Record<'floor' | 'service', Measured> & { cpuMs: Record<'floor' | 'service', StartCpu> }> {
  if (warmFloor) await floor({ ...load, seconds: WARM_UP_SECONDS })
  await service({ ...load, seconds: WARM_UP_SECONDS })
  const sides = { floor, service }
  const turns = { floor: [] as Measured[], service: [] as Measured[] }
  const cpuSeconds = { floor: startCpu(() => 0), service: startCpu(() => 0) }
  for (let turn = 0; turn < Math.max(1, Math.round(SECONDS / START_TURN_SECONDS)); turn++) {
    for (const side of ['floor', 'service'] as const) {
      const meter = cpuMeter(parts)
      turns[side].push(await sides[side]({ ...load, seconds: START_TURN_SECONDS }))
      const used = meter.stop()
      cpuSeconds[side] = startCpu((part) => cpuSeconds[side][part] + used[part])
    }
  }
  const measured = { floor: combined(turns.floor), service: combined(turns.service) }
  const perStartMs = (side: 'floor' | 'service') => startCpu((part) => cpuSeconds[side][part] * 1000 / Math.max(1, measured[side].ok))
  return { ...measured, cpuMs: { floor: perStartMs('floor'), service: perStartMs('service') } }
}

/** A StartCpu of each part's `value`. */
function startCpu (value: (part: keyof StartCpu) => number): StartCpu {
  return Object.fromEntries(START_CPU_PARTS.map((part) => [part, value(part)])) as StartCpu
}

async function flushRedis (url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true })
  try {
    await client.connect()
    await client.flushall()
  } finally {
    client.disconnect()
  }
}

/** The bench process's SDK client is warmed up once per run, each service replica once per setup. */
let floorsWarm = false

/**
 * One service setup with the other rooms LiveKit holds now: started, timed until ready, then each
 * endpoint under load right after its floor (the bare SDK making the seed design's calls), so that
 * both meet the same machine.
 */
async function measureSetup (name: SetupName, otherRooms: number): Promise<void> {
  const setup = SETUPS[name]
  const warmFloors = !floorsWarm
  floorsWarm = true
  const authorization = bearer(BENCH_USER)
  // Status and active are one user's calls, far above a user's default 600/minute: the limiter
  // still counts each of them (in Redis for the Redis setups), it refuses none.
  const env = { ...benchServiceEnv(livekit, JWT_SECRET), ...SERVICE_ENV }
  if (setup.redis) {
    redis ??= await startRedisServer()
    await flushRedis(redis.url)
    env.REDIS_URL = redis.url
  }
  const otherLoad = otherLoadMeter(ourProcesses)
  await sink.close()
  const nodeArgs = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE_DIR)}`]
  replicas = await Promise.all(ports.slice(0, setup.replicas).map(async (port) => await startReplica({ port, env, authorization, nodeArgs })))
  const origins = replicas.map((replica) => replica.origin)
  const pids = replicas.map((replica) => replica.pid)
  const idleRssBytes = pids.map(residentBytes)

  const own: string[] = []
  for (let i = 0; i < OWN_SESSIONS; i++) {
    const response = await fetch(`${origins[0]}/api/v1/voice-sessions/start`, { method: 'POST', headers: { authorization } })
    if (!response.ok) throw new Error(`starting the bench user's session failed: ${response.status} ${await response.text()}`)
    own.push((await response.json() as { room_name: string }).room_name)
  }
  const ownRoom = own[0] as string
  const reads = { urls: origins, headers: { authorization } }

  // Beside other rooms, the settle, measured: status in slices, right after the start.
  const settlingPerSecond: number[] = []
  const slices = otherRooms > 0 ? Math.ceil(SETTLE_SECONDS / SETTLE_SLICE_SECONDS) : 0
  for (let slice = 0; slice < slices; slice++) {
    const measured = await measureHttp({ ...reads, ...load, seconds: SETTLE_SLICE_SECONDS, method: 'GET', path: `/api/v1/voice-sessions/${ownRoom}/status` })
    settlingPerSecond.push(measured.perSecond)
  }

  let rssBytes = pids.map(() => 0)
  /** The service under load, its replicas' memory sampled meanwhile. */
  async function underLoad (measure: () => Promise<Measured>): Promise<Measured> {
    const memory = sampleResidentMemory(pids)
    try {
      return await measure()
    } finally {
      rssBytes = memory.stop().map((bytes, i) => Math.max(bytes, rssBytes[i] as number))
    }
  }
  const floor: Partial<Record<Endpoint, Measured>> = {}
  const service: Partial<Record<Endpoint, Measured>> = {}

  floor.status = await afterWarmUp(warmFloors, async (options) => await measureCalls(async () => await sdk.listRooms([ownRoom]), options))
  service.status = await underLoad(async () => await afterWarmUp(true, async (options) =>
    await measureHttp({ ...reads, ...options, method: 'GET', path: `/api/v1/voice-sessions/${ownRoom}/status` })))

  floor.active = await afterWarmUp(warmFloors, async (options) => await measureCalls(async () => await sdk.listRooms(), options))
  service.active = await underLoad(async () => await afterWarmUp(true, async (options) =>
    await measureHttp({ ...reads, ...options, method: 'GET', path: '/api/v1/voice-sessions/active' })))

  // Each start is another user's (as starts come from many users), within START_RATE_LIMIT and
  // MAX_SESSIONS_PER_USER; the floor makes the same rooms for as many users. The two starts take turns
  // (startsInTurns), so that each meets the same LiveKit. Each end deletes a room its start made (in
  // the warm-up too), once, as its owner.
  const floorRooms: string[] = []
  const starts = await startsInTurns(
    warmFloors,
    { livekit: [livekit.process.pid as number], replicas: pids, redis: redis === undefined ? [] : [redis.server.process.pid as number], caller: 'bench' },
    async (options) => await measureCalls(async () => {
      const user = `${FLOOR_USERS}${startsMade++}`
      const room = sessionRoom(user)
      await sdk.createRoom(room)
      floorRooms.push(room.name as string)
      await participantToken(livekit, user, room.name as string)
    }, options),
    async (options) => await underLoad(async () => await measureHttp({
      ...options,
      urls: origins,
      method: 'POST',
      path: '/api/v1/voice-sessions/start',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent_type: AGENT_TYPE }),
      each: () => ({ headers: { authorization: bearer(`${STARTERS}${startsMade++}`) } })
    })))
  floor.start = starts.floor
  service.start = starts.service
  floor.end = await afterWarmUp(warmFloors, async (options) =>
    await measureCalls(async (i) => { await sdk.deleteRoom(floorRooms[options.offset + i] as string) }, options), floorRooms.length)
  await deleteRooms(await benchRooms(`${ROOM_NAME_PREFIX}${FLOOR_USERS}`))

  const started = await benchRooms(`${ROOM_NAME_PREFIX}${STARTERS}`)
  service.end = await underLoad(async () => await afterWarmUp(true, async (options) => await measureHttp({
    ...options,
    // autocannon wants at least one request per connection.
    connections: Math.max(1, Math.min(options.connections, options.limit ?? 0)),
    limit: Math.max(1, options.limit ?? 0),
    urls: origins,
    method: 'DELETE',
    path: '/api/v1/voice-sessions/fitness-voice-none-00000000',
    headers: {},
    each: (i) => {
      const room = started[options.offset + i]
      return room === undefined ? {} : { path: `/api/v1/voice-sessions/${room}`, headers: { authorization: bearer(ownerOf(room)) } }
    }
  }), started.length))

  const otherCores = otherLoad.stop()
  const ready = { listeningMs: replicas.map((replica) => replica.listeningMs), indexedMs: replicas.map((replica) => replica.indexedMs) }
  await Promise.all(replicas.map(async (replica) => await stopReplica(replica)))
  replicas = []
  await sink.open()
  await deleteRooms(await benchRooms())

  const measured = ENDPOINTS.map((endpoint) => ({ otherRooms, setup: setup.label, endpoint, service: service[endpoint] as Measured, floor: floor[endpoint] as Measured }))
  const run = { otherRooms, setup: setup.label, ...ready, idleRssBytes, rssBytes, otherCores, settlingPerSecond, startCpuMs: starts.cpuMs }
  rows.push(...measured)
  setupRuns.push(run)
  console.log(`\n${consoleTable(measured)}\n${setupTable([run])}\n${startCpuTable([run])}`)
}

/** A graceful stop (SIGINT: a CPU profile is written), killed if it takes longer than 10 s. */
async function stopReplica (replica: Replica): Promise<void> {
  replica.server.signal('SIGINT')
  await Promise.race([replica.server.exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())])
  await replica.server.kill()
}

/** The processes of this run besides the bench itself, for otherLoadMeter. */
function ourProcesses (): number[] {
  return [livekit.process.pid, redis?.server.process.pid, ...replicas.map((replica) => replica.pid)].filter((pid) => pid !== undefined)
}

let finished = false
try {
  for (const otherRooms of OTHER_ROOMS) {
    await seedOtherRooms(otherRooms)
    for (const name of SETUP_NAMES) await measureSetup(name, otherRooms)
  }
  // All the rooms the bench made; LiveKit and Redis are stopped below in any case.
  await deleteRooms((await sdk.listRooms()).map((room) => room.name))
  finished = true
} finally {
  await Promise.all(replicas.map(async (replica) => await replica.server.kill()))
  await sink.close()
  await livekit.stop()
  await redis?.stop()
}

if (finished) {
  const report: Report = {
    machine: describeMachine(livekitServerBin, needsRedis ? findRedisServer() : undefined),
    settings: `BENCH_SECONDS=${SECONDS} BENCH_CONNECTIONS=${CONNECTIONS} BENCH_OTHER_ROOMS=${OTHER_ROOMS.join(',')} BENCH_SETUPS=${SETUP_NAMES.join(',')} BENCH_SETTLE_SECONDS=${SETTLE_SECONDS}${process.env.BENCH_SERVICE_ENV === undefined ? '' : ` BENCH_SERVICE_ENV="${process.env.BENCH_SERVICE_ENV}"`}`,
    startedAt,
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    loadBefore,
    loadAfter: loadAverage(),
    rows,
    setups: setupRuns
  }
  console.log(`\n${verdictTable(verdicts(rows, setupRuns))}`)
  if (OUT !== '') {
    mkdirSync(dirname(resolve(OUT)), { recursive: true })
    writeLeadingSections(resolve(OUT), markdown(report))
    console.log(`\nWritten to ${OUT}.`)
  }
}
