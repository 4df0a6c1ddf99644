import fp from 'fastify-plugin'
import { createReadiness, type ReadinessCheck } from '#ops/readiness.js'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: ReadinessCheck
  }
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
    overloaded: fastify.overloaded,
    indexUsable: fastify.sessionIndex.usable,
    webhooks: fastify.sessionIndex.webhooks.state
  }))
}, { name: 'readiness', dependencies: ['config', 'livekit', 'redis', 'under-pressure', 'session-index'] })
