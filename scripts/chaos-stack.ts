import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startReplica, type Replica } from '../bench/service.js'
import type { Balancer } from './chaos-balancer.js'
import { eachLine, spawnTied, type TiedProcess } from './child-process.js'
import { freePort, startLivekitServer, waitUntilAnswering, type RunningLivekit } from './livekit-server.js'
import { startRedisServer, type RunningRedis } from './redis-server.js'
import type { FaultName } from './chaos-report.js'

/**
 * What `npm run chaos` runs and breaks: one redis-server, one livekit-server sending its webhooks
 * to the balancer, two replicas of the built service behind the balancer, and the reference agent
 * worker, all on loopback, every process tied to this one (scripts/child-process.ts); and the
 * faults, each applied and undone on the real processes.
 */

const root = join(import.meta.dirname, '..')
const API_KEY = 'chaoskey'
const API_SECRET = 'chaos-livekit-secret-of-at-least-32-characters'
export const AGENT_NAME = 'chaos-agent'
/** The longest the worker may take to register with LiveKit (about 2 s under tsx, more on a busy machine). */
const WORKER_REGISTER_MS = 60_000

/** The reference agent worker, and what its log says of each room: job requests (by room SID) and joins (by room name). */
export interface AgentWorker {
  process: TiedProcess
  jobsBySid: Map<string, number>
  joinsByRoom: Map<string, number>
  /** When the agent first joined each room, on the run's clock. */
  joinedAt: Map<string, number>
  /** Resolves once the agent has joined each of `rooms`, or after `timeoutMs` (false). */
  joined: (rooms: readonly string[], timeoutMs: number) => Promise<boolean>
}

/** The worker's environment: the run's LiveKit and agent settings, none of this machine's. */
function workerEnv (livekit: RunningLivekit, healthPort: number, maxJobs: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!/^(LIVEKIT_|AGENT_|LOG_LEVEL$|NODE_OPTIONS$|npm_)/.test(key)) env[key] = value
  return {
    ...env,
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    LIVEKIT_AGENT_NAME: AGENT_NAME,
    AGENT_HEALTH_HOST: '127.0.0.1',
    AGENT_HEALTH_PORT: String(healthPort),
    AGENT_MAX_JOBS: String(maxJobs),
    // Its job requests and joins are logged at info.
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    // Jobs come in bursts after each fault: idle processes take them at once.
    LIVEKIT_WORKER_NUM_IDLE: '4'
  }
}

/**
 * Starts the built worker (`dist/agent/worker.js`, as `npm run agent:start` and its image run it:
 * each job process starts from JavaScript, not through tsx) and waits until it is registered.
 */
async function startAgentWorker (livekit: RunningLivekit, maxJobs: number, now: () => number): Promise<AgentWorker> {
  const port = await freePort()
  const worker = spawnTied(process.execPath, ['dist/agent/worker.js', 'start'], { name: 'agent worker', cwd: root, env: workerEnv(livekit, port, maxJobs) })
  const jobsBySid = new Map<string, number>()
  const joinsByRoom = new Map<string, number>()
  const joinedAt = new Map<string, number>()
  eachLine(worker.process.stdout!, (text) => {
    if (!text.startsWith('{')) return
    let line: { msg?: string, room_id?: string, room?: string }
    try { line = JSON.parse(text) } catch { return }
    if (line.msg === 'received job request' && line.room_id !== undefined) jobsBySid.set(line.room_id, (jobsBySid.get(line.room_id) ?? 0) + 1)
    if (line.msg === 'agent joined room' && line.room !== undefined) {
      joinsByRoom.set(line.room, (joinsByRoom.get(line.room) ?? 0) + 1)
      if (!joinedAt.has(line.room)) joinedAt.set(line.room, now())
    }
  })
  try {
    await waitUntilAnswering(`http://127.0.0.1:${port}/`, worker.process, WORKER_REGISTER_MS)
  } catch (err) {
    await worker.kill()
    throw new Error(`the agent worker did not register: ${(err as Error).message}\n${worker.describe()}`)
  }
  const joined = async (rooms: readonly string[], timeoutMs: number): Promise<boolean> => {
    const deadline = performance.now() + timeoutMs
    while (!rooms.every((room) => joinsByRoom.has(room))) {
      if (performance.now() > deadline || worker.hasExited()) return false
      await sleep(100)
    }
    return true
  }
  return { process: worker, jobsBySid, joinsByRoom, joinedAt, joined }
}

export interface StackOptions {
  balancer: Balancer
  jwtSecret: string
  /** A user JWT for the replicas' start-up check (GET /active). */
  authorization: string
  /** Jobs the worker takes at once: enough for every session of the run, so that none is dropped for a full worker. */
  maxJobs: number
  /** The run's clock, in ms since it began. */
  now: () => number
}

export class Stack {
  readonly livekit: RunningLivekit
  redis: RunningRedis
  readonly worker: AgentWorker
  readonly replicas: Replica[]
  /** The service's environment, beside HOST and PORT (secrets included: never printed). */
  readonly serviceEnv: Record<string, string>
  private readonly options: StackOptions

  private constructor (options: StackOptions, parts: { livekit: RunningLivekit, redis: RunningRedis, worker: AgentWorker, replicas: Replica[], serviceEnv: Record<string, string> }) {
    this.options = options
    this.livekit = parts.livekit
    this.redis = parts.redis
    this.worker = parts.worker
    this.replicas = parts.replicas
    this.serviceEnv = parts.serviceEnv
  }

  /** Starts everything; the replicas join the balancer's rotation once they serve. */
  static async start (options: StackOptions): Promise<Stack> {
    const { balancer } = options
    const livekit = await startLivekitServer({
      apiKey: API_KEY,
      apiSecret: API_SECRET,
      extraConfig: `webhook: { api_key: ${API_KEY}, urls: ["${balancer.url}/api/v1/livekit/webhook"] }`
    })
    const redis = await startRedisServer()
    const serviceEnv = {
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: livekit.apiKey,
      LIVEKIT_API_SECRET: livekit.apiSecret,
      JWT_SECRET: options.jwtSecret,
      REDIS_URL: redis.url,
      LIVEKIT_AGENT_NAME: AGENT_NAME,
      LOG_LEVEL: 'warn'
    }
    const [worker, ...replicas] = await Promise.all([
      startAgentWorker(livekit, options.maxJobs, options.now),
      ...[0, 1].map(async () => await startReplica({ port: await freePort(), env: serviceEnv, authorization: options.authorization }))
    ]) as [AgentWorker, ...Replica[]]
    replicas.forEach((replica, i) => balancer.setReplica(i, replica.origin))
    return new Stack(options, { livekit, redis, worker, replicas, serviceEnv })
  }

  /** What the service is configured with, for the report (no secret). */
  describeService (): string {
    const shown = Object.entries(this.serviceEnv).filter(([key]) => !/SECRET/.test(key)).map(([key, value]) => `${key}=${value}`)
    return `${this.replicas.length} replicas of \`node dist/src/server.js\` with ${shown.join(', ')} (secrets aside); every other key at its default`
  }

  /** Applies `fault` and undoes it: `holdMs` is how long a stall or a cut lasts. Resolves once it is undone. */
  async apply (fault: FaultName, holdMs: number): Promise<void> {
    switch (fault) {
      case 'redis-restart': {
        const { port } = this.redis
        await this.redis.stop()
        this.redis = await startRedisServer({ port })
        return
      }
      case 'redis-stall': return await this.stall(this.redis.server, holdMs)
      case 'livekit-stall': return await this.stall(this.livekit.server, holdMs)
      case 'replica-kill': {
        const old = this.replicas[1] as Replica
        this.options.balancer.killed(1)
        await old.server.kill()
        const port = Number(new URL(old.origin).port)
        this.replicas[1] = await startReplica({ port, env: this.serviceEnv, authorization: this.options.authorization })
        this.options.balancer.setReplica(1, this.replicas[1].origin)
        return
      }
      case 'webhooks-cut':
        this.options.balancer.webhooksCut = true
        try {
          await sleep(holdMs)
        } finally {
          this.options.balancer.webhooksCut = false
        }
    }
  }

  private async stall (server: TiedProcess, holdMs: number): Promise<void> {
    server.signal('SIGSTOP')
    try {
      await sleep(holdMs)
    } finally {
      server.signal('SIGCONT')
    }
  }

  /** A process of the stack that died by itself (not by a fault), described; undefined while all live. */
  died (): string | undefined {
    const all = [this.livekit.server, this.redis.server, this.worker.process, ...this.replicas.map((replica) => replica.server)]
    return all.find((child) => child.hasExited())?.describe()
  }

  async stop (): Promise<void> {
    await Promise.all([...this.replicas.map(async (replica) => await replica.server.kill()), this.worker.process.kill()])
    await this.livekit.stop()
    await this.redis.stop()
  }
}
