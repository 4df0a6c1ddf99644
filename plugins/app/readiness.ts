import fp from 'fastify-plugin'
import { createReadiness, type ReadinessCheck } from '#ops/readiness.js'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: ReadinessCheck
  }
}

/** What `/ready` answers: LiveKit and Redis answering, neither shutting down nor overloaded (src/ops/readiness.ts). */
export default fp(async function readinessPlugin (fastify) {
  fastify.decorate('readiness', createReadiness({
    livekit: fastify.livekit,
    redis: fastify.redis,
    requestTimeoutMs: fastify.config.LIVEKIT_REQUEST_TIMEOUT_MS,
    overloaded: () => fastify.isUnderPressure()
  }))
}, { name: 'readiness', dependencies: ['config', 'livekit', 'redis', 'under-pressure'] })
