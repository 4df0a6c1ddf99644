import fp from 'fastify-plugin'
import { createAgentDispatch, type AgentDispatch } from '../../src/agent-dispatch.js'
import { createSessions, type Sessions } from '../../src/sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
    agents: AgentDispatch
  }
}

/**
 * Decorates the instance with `sessions`, the one module that speaks to LiveKit (src/sessions.ts),
 * and `agents`, which knows which voice agent serves a session and watches that it comes.
 */
export default fp(async function sessionsPlugin (fastify) {
  const agents = createAgentDispatch({ livekit: fastify.livekit, config: fastify.config, log: fastify.log })
  fastify.decorate('sessions', createSessions({
    livekit: fastify.livekit,
    agents,
    requestTimeoutMs: fastify.config.LIVEKIT_REQUEST_TIMEOUT_MS
  }))
  fastify.decorate('agents', agents)
  fastify.addHook('onClose', async () => { agents.close() })
}, { name: 'sessions', dependencies: ['config', 'livekit'] })
