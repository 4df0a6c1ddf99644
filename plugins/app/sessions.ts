import fp from 'fastify-plugin'
import { dispatchClaimTtlMs, type AgentDispatch } from '#agents/dispatch.js'
import { createMemoryDispatchLedger } from '#agents/memory-ledger.js'
import { createRedisDispatchLedger } from '#agents/redis-ledger.js'
import { redisKeys } from '#redis/keys.js'
import { createSessionLifecycle } from '#sessions/lifecycle.js'
import type { Sessions } from '#sessions/sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
    agents: AgentDispatch
  }
}

/**
 * Decorates the instance with `sessions`, the one module that speaks to LiveKit, and `agents`,
 * which knows which voice agent serves a session and watches that it comes (src/sessions/lifecycle.ts
 * ties them together). With Redis, the agents' dispatch ledger is shared, so replicas never
 * dispatch twice for one attempt.
 */
export default fp(async function sessionsPlugin (fastify) {
  const { config, livekit, redis, sessionIndex, serviceMetrics: metrics, log } = fastify
  const claimTtlMs = dispatchClaimTtlMs(config)
  const ledger = redis === undefined ? createMemoryDispatchLedger() : createRedisDispatchLedger({ redis, keys: redisKeys(config.REDIS_KEY_PREFIX), claimTtlMs })
  const lifecycle = createSessionLifecycle({ config, livekit, index: sessionIndex, ledger, metrics, log })
  fastify.decorate('sessions', lifecycle.sessions)
  fastify.decorate('agents', lifecycle.agents)
  fastify.addHook('onReady', async () => { lifecycle.start() })
  fastify.addHook('onClose', async () => { lifecycle.close() })
}, { name: 'sessions', dependencies: ['config', 'livekit', 'redis', 'session-index', 'metrics'] })
