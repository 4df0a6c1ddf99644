import fp from 'fastify-plugin'
import { createReadiness, type ReadinessCheck } from '../../src/readiness.js'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: ReadinessCheck
  }
}

/** What `/ready` answers: LiveKit and Redis answering, and not shutting down (src/readiness.ts). */
export default fp(async function readinessPlugin (fastify) {
  fastify.decorate('readiness', createReadiness({ livekit: fastify.livekit, redis: fastify.redis, requestTimeoutMs: fastify.config.LIVEKIT_REQUEST_TIMEOUT_MS }))
}, { name: 'readiness', dependencies: ['config', 'livekit', 'redis'] })
