import fp from 'fastify-plugin'
import { createSessions, type Sessions } from '../../src/sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
  }
}

/** Decorates the instance with `sessions`, the one module that speaks to LiveKit (src/sessions.ts). */
export default fp(async function sessionsPlugin (fastify) {
  fastify.decorate('sessions', createSessions({
    livekit: fastify.livekit,
    requestTimeoutMs: fastify.config.LIVEKIT_REQUEST_TIMEOUT_MS
  }))
}, { name: 'sessions', dependencies: ['config', 'livekit'] })
