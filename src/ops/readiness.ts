import type { Redis } from 'ioredis'
import type { Livekit } from '#livekit/livekit.js'
import { toLivekitError } from '#livekit/errors.js'

/** How long a LiveKit check's answer is reused: `/ready` may be polled often, LiveKit is asked at most this often. */
export const LIVEKIT_CHECK_EVERY_MS = 2000

/** A room name no session can have (no `fitness-voice-` prefix): the cheapest LiveKit call that needs its answer. */
const PROBE_ROOM = 'readiness-probe'

export type CheckResult = 'ok' | string

export interface Readiness {
  status: 'ready' | 'not_ready'
  checks: Record<string, CheckResult>
}

export interface ReadinessOptions {
  livekit: Pick<Livekit, 'rooms'>
  redis: Redis | undefined
  requestTimeoutMs: number
  /** Whether the service is past its overload thresholds (under-pressure's `isUnderPressure`). */
  overloaded?: () => boolean
  now?: () => number
}

/**
 * Whether the service can serve: LiveKit answers (checked at most every LIVEKIT_CHECK_EVERY_MS)
 * and Redis answers when it is configured; and it is neither shutting down nor overloaded. Turns
 * ready again by itself once they are back.
 */
export function createReadiness ({ livekit, redis, requestTimeoutMs, overloaded = () => false, now = Date.now }: ReadinessOptions) {
  let livekitCheck: { at: number, result: Promise<CheckResult> } | undefined
  let draining = false

  function checkLivekit (): Promise<CheckResult> {
    if (livekitCheck === undefined || now() - livekitCheck.at >= LIVEKIT_CHECK_EVERY_MS) {
      livekitCheck = {
        at: now(),
        result: livekit.rooms.listRooms([PROBE_ROOM]).then(() => 'ok', (err: unknown) => toLivekitError(err, requestTimeoutMs, 'list rooms').message)
      }
    }
    return livekitCheck.result
  }

  async function checkRedis (client: Redis): Promise<CheckResult> {
    try {
      return await client.ping() === 'PONG' ? 'ok' : 'Redis answered oddly'
    } catch (err) {
      return `Redis is unreachable (${(err as Error).message})`
    }
  }

  return {
    async check (): Promise<Readiness> {
      const checks: Record<string, CheckResult> = { livekit: await checkLivekit() }
      if (redis !== undefined) checks.redis = await checkRedis(redis)
      if (draining) checks.service = 'shutting down'
      else if (overloaded()) checks.service = 'overloaded'
      return { status: Object.values(checks).every((result) => result === 'ok') ? 'ready' : 'not_ready', checks }
    },
    /** From now on `/ready` answers 503: the service is about to stop taking connections. */
    drain (): void {
      draining = true
    }
  }
}

export type ReadinessCheck = ReturnType<typeof createReadiness>
