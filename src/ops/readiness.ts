import type { Redis } from 'ioredis'
import type { Livekit } from '#livekit/livekit.js'
import { toLivekitError } from '#livekit/errors.js'

/** How long a LiveKit check's answer is reused: `/ready` may be polled often, LiveKit is asked at most this often. */
export const LIVEKIT_CHECK_EVERY_MS = 2000

/**
 * The longest `/ready` waits for an answer (LiveKit's, Redis's, the index's). A probe's own timeout
 * is often 1 s (Kubernetes' default), and a probe that times out takes the replica out as surely as
 * a 503: `/ready` answers within this whatever its dependencies do, and a check still running past
 * it goes on behind, for a later `/ready` to read.
 */
export const ANSWER_WITHIN_MS = 500

/** A room name no session can have (no `fitness-voice-` prefix): the cheapest LiveKit call that needs its answer. */
const PROBE_ROOM = 'readiness-probe'

export type CheckResult = 'ok' | string

/** A dependency shared by every replica, as this replica last found it. */
export interface DependencyStatus {
  state: 'up' | 'down'
  /** Why it is down (the same words as its `checks` entry). */
  reason?: string
}

export interface Readiness {
  /** `not_ready` only for what is this replica's own: shutting down, overloaded, or its session index not usable yet. */
  status: 'ready' | 'not_ready'
  /** A dependency is down: the replica still serves, and each request that needs it answers 503 or 504 with its own message. */
  degraded: boolean
  /** `ok` or why not, per check: `livekit`, `redis` (with REDIS_URL), and `index` and `service` only when they fail. */
  checks: Record<string, CheckResult>
  dependencies: Record<string, DependencyStatus>
  webhooks: 'unknown' | 'arriving' | 'silent'
}

export interface ReadinessOptions {
  livekit: Pick<Livekit, 'rooms'>
  redis: Redis | undefined
  requestTimeoutMs: number
  /** Whether the service is past its overload thresholds (plugins/app/under-pressure.ts). */
  overloaded?: () => boolean
  /**
   * Whether this replica's session index can answer (e.g. its start-up rebuild is done). It should
   * answer from the replica's own state: a shared Redis that is away must not take every replica out.
   * A rejection, or no answer within ANSWER_WITHIN_MS, counts as not usable.
   */
  indexUsable?: () => boolean | Promise<boolean>
  /** Whether LiveKit's webhooks arrive (the session index's judgement): reported, never a reason for 503. */
  webhooks?: () => 'unknown' | 'arriving' | 'silent'
  /** How long `check` waits for an answer (ANSWER_WITHIN_MS). */
  answerWithinMs?: number
  now?: () => number
}

/** The answer, or undefined when it has not come within `ms`. */
async function within<T> (answer: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, Math.max(0, ms)) })
  try {
    return await Promise.race([answer, late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * One dependency's check: at most one in flight, and a new one only once the last has answered and
 * is `reuseMs` old. `current` waits for a check in flight until it is `answerWithinMs` old; past
 * that, the dependency is reported as not answering.
 */
function createProbe (name: string, ask: () => Promise<CheckResult>, reuseMs: number, answerWithinMs: number, now: () => number) {
  let latest: { startedAt: number, answer: Promise<CheckResult>, result?: CheckResult } | undefined
  return async function current (): Promise<CheckResult> {
    if (latest === undefined || (latest.result !== undefined && now() - latest.startedAt >= reuseMs)) {
      const check: NonNullable<typeof latest> = { startedAt: now(), answer: ask() }
      check.answer = check.answer.then((result) => { check.result = result; return result })
      latest = check
    }
    const answered = await within(latest.answer, latest.startedAt + answerWithinMs - now())
    return answered ?? `${name} is not answering (nothing within ${answerWithinMs} ms)`
  }
}

/**
 * What `/ready` says. It is 503 only for what is this replica's own (shutting down, overloaded, its
 * session index not usable yet), never for LiveKit or Redis: every replica shares them, and a blip
 * there would take all replicas out of the load balancer at once, leaving clients connection errors
 * instead of the service's own 503 with Retry-After. Each dependency's state is in the body (LiveKit
 * asked at most every LIVEKIT_CHECK_EVERY_MS, Redis when it is configured), and the answer comes
 * within ANSWER_WITHIN_MS whatever they do.
 */
export function createReadiness ({
  livekit,
  redis,
  requestTimeoutMs,
  overloaded = () => false,
  indexUsable = () => true,
  webhooks = () => 'unknown',
  answerWithinMs = ANSWER_WITHIN_MS,
  now = Date.now
}: ReadinessOptions) {
  let draining = false

  const checkLivekit = createProbe('LiveKit', async () => await livekit.rooms.listRooms([PROBE_ROOM])
    .then(() => 'ok', (err: unknown) => toLivekitError(err, requestTimeoutMs, 'list rooms').message), LIVEKIT_CHECK_EVERY_MS, answerWithinMs, now)

  // Each ping is bounded by REDIS_COMMAND_TIMEOUT_MS (plugins/app/redis.ts).
  const checkRedis = redis === undefined
    ? undefined
    : createProbe('Redis', async () => await redis.ping()
      .then((pong) => pong === 'PONG' ? 'ok' : 'Redis answered oddly', (err: unknown) => `Redis is unreachable (${(err as Error).message})`), 0, answerWithinMs, now)

  async function checkIndex (): Promise<CheckResult> {
    const answer = Promise.resolve().then(indexUsable).then((usable) => usable ? 'ok' : 'not usable yet', (err: unknown) => `not usable (${(err as Error).message})`)
    return await within(answer, answerWithinMs) ?? `not usable (no answer within ${answerWithinMs} ms)`
  }

  return {
    async check (): Promise<Readiness> {
      const [livekitResult, redisResult, indexResult] = await Promise.all([checkLivekit(), checkRedis?.(), checkIndex()])
      const checks: Record<string, CheckResult> = { livekit: livekitResult }
      if (redisResult !== undefined) checks.redis = redisResult
      const dependencies = Object.fromEntries(Object.entries(checks).map(([name, result]): [string, DependencyStatus] =>
        [name, result === 'ok' ? { state: 'up' } : { state: 'down', reason: result }]))
      if (indexResult !== 'ok') checks.index = indexResult
      if (draining) checks.service = 'shutting down'
      else if (overloaded()) checks.service = 'overloaded'
      return {
        status: checks.index === undefined && checks.service === undefined ? 'ready' : 'not_ready',
        degraded: Object.values(dependencies).some((dependency) => dependency.state === 'down'),
        checks,
        dependencies,
        webhooks: webhooks()
      }
    },
    /** From now on `/ready` answers 503: the service is about to stop taking connections. */
    drain (): void {
      draining = true
    }
  }
}

export type ReadinessCheck = ReturnType<typeof createReadiness>
