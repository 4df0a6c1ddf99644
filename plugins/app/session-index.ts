import fp from 'fastify-plugin'
import { createMemoryStore } from '#index/memory-store.js'
import { createRedisStore } from '#index/redis-store.js'
import { warnIfEvicting } from '#redis/eviction-policy.js'
import { createSessionIndex, type SessionIndex } from '#index/session-index.js'
import type { SessionStore } from '#index/session-store.js'
import { redisKeys } from '#redis/keys.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessionIndex: SessionIndex
  }
}

export interface SessionIndexPluginOptions {
  /** A store to use instead of the one REDIS_URL names (tests of faults a real store cannot produce). */
  sessionStore?: SessionStore
}

/**
 * The session index: every live session, its owner and who is in it, kept by the service's own
 * start and end, LiveKit's webhooks and a bounded reconcile, so that reads cost the same at any
 * number of rooms. In Redis when REDIS_URL is set (shared by replicas, keys under REDIS_KEY_PREFIX),
 * else in memory.
 * https://github.com/redis/ioredis
 */
export default fp<SessionIndexPluginOptions>(async function sessionIndexPlugin (fastify, opts) {
  const { RECONCILE_INTERVAL_MS, REDIS_KEY_PREFIX } = fastify.config
  const store = opts.sessionStore ?? (fastify.redis === undefined ? createMemoryStore() : createRedisStore(fastify.redis, redisKeys(REDIS_KEY_PREFIX)))
  const index = createSessionIndex(store, { livekit: fastify.livekit, intervalMs: RECONCILE_INTERVAL_MS, log: fastify.log })
  fastify.decorate('sessionIndex', index)
  fastify.addHook('onReady', async () => {
    index.start()
    // In the background: a Redis that is away at start-up is no crash.
    if (fastify.redis !== undefined) warnIfEvicting(fastify.redis, fastify.log).catch(() => {})
  })
  fastify.addHook('onClose', async () => {
    index.stop()
    await store.close()
  })
}, { name: 'session-index', dependencies: ['config', 'livekit', 'redis'] })
