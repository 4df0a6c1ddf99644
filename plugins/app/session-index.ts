import fp from 'fastify-plugin'
import { createMemoryStore } from '#index/memory-store.js'
import { createReadCache, type ReadCache } from '#index/read-cache.js'
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
  const keys = redisKeys(REDIS_KEY_PREFIX)
  // What this replica read of Redis, answered again until Redis says it changed (a connection of its own).
  let cache: ReadCache | undefined
  if (fastify.redis !== undefined && opts.sessionStore === undefined) {
    const log = fastify.log
    cache = createReadCache(fastify.redis.duplicate({ protocol: 2, autoResubscribe: false, enableAutoPipelining: false }), keys, {
      onTrouble: (err) => { log.warn({ err: { message: err.message } }, 'Redis client-side caching could not start: reads go to Redis') }
    })
  }
  const store = opts.sessionStore ?? (fastify.redis === undefined ? createMemoryStore() : createRedisStore(fastify.redis, keys, cache))
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
    cache?.close()
  })
}, { name: 'session-index', dependencies: ['config', 'livekit', 'redis'] })
