import { Redis } from 'ioredis'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis that REDIS_URL names, shared by the session index and the dispatch ledger; undefined without REDIS_URL. */
    redis: Redis | undefined
  }
}

/**
 * One Redis connection for the whole service when REDIS_URL is set. A command fails (and the
 * request answers 503) rather than waiting long while Redis is away; the client reconnects by itself.
 * The service starts without waiting for Redis (a Redis that starts later, restarts or refuses the
 * first connection is no crash): /ready answers 503 until it is reachable.
 * https://github.com/redis/ioredis
 */
export default fp(async function redisPlugin (fastify) {
  const { REDIS_URL } = fastify.config
  if (REDIS_URL === '') {
    fastify.decorate('redis', undefined)
    return
  }
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000 })
  redis.on('error', (err) => { fastify.log.warn({ err: { message: err.message } }, 'Redis connection error') })
  redis.on('ready', () => { fastify.log.info('Redis connected') })
  fastify.decorate('redis', redis)
  fastify.addHook('onClose', async () => {
    // QUIT would wait in the offline queue for a Redis that is away.
    if (redis.status === 'ready') await redis.quit().catch(() => { redis.disconnect() })
    else redis.disconnect()
  })
}, { name: 'redis', dependencies: ['config'] })
