import fp from 'fastify-plugin'
import { createReadiness, type ReadinessCheck, type ReadinessOptions } from '#ops/readiness.js'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: ReadinessCheck
  }
}

/** The session index's own say on whether it can answer yet (its `usable`), when it has one. */
function indexUsableOf (index: object): ReadinessOptions['indexUsable'] {
  const usable: unknown = (index as { usable?: unknown }).usable
  return typeof usable === 'function' ? async () => Boolean(await usable.call(index)) : undefined
}

/**
 * What `/ready` answers (src/ops/readiness.ts): 503 while this replica shuts down, is overloaded or
 * its session index is not usable yet; LiveKit's and Redis's states in the body, never a 503.
 */
export default fp(async function readinessPlugin (fastify) {
  fastify.decorate('readiness', createReadiness({
    livekit: fastify.livekit,
    redis: fastify.redis,
    requestTimeoutMs: fastify.config.LIVEKIT_REQUEST_TIMEOUT_MS,
    overloaded: () => fastify.isUnderPressure(),
    indexUsable: indexUsableOf(fastify.sessionIndex)
  }))
}, { name: 'readiness', dependencies: ['config', 'livekit', 'redis', 'under-pressure', 'session-index'] })
