import { Redis } from 'ioredis'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis that REDIS_URL names, shared by the session index and the dispatch ledger; undefined without REDIS_URL. */
    redis: Redis | undefined
  }
}

/**
 * One Redis connection for the whole service when REDIS_URL is set; the client reconnects by itself.
 * No command waits longer than REDIS_COMMAND_TIMEOUT_MS (`commandTimeout`), whatever Redis does: a
 * refused connection fails a command after one reconnect (`maxRetriesPerRequest`), and a stalled
 * Redis (a connection that stays open and answers nothing, or a connect that never completes its
 * handshake) fails it at the timeout, the offline queue included. The request that needed it then
 * answers 503 with Retry-After, and the rate limits let it through. The service starts without
 * waiting for Redis (a Redis that starts later, restarts or refuses the first connection is no
 * crash); `/ready` names its state without turning 503 for it.
 * https://github.com/redis/ioredis
 */
export default fp(async function redisPlugin (fastify) {
  const { REDIS_URL, REDIS_COMMAND_TIMEOUT_MS } = fastify.config
  if (REDIS_URL === '') {
    fastify.decorate('redis', undefined)
    return
  }
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: REDIS_COMMAND_TIMEOUT_MS, enableAutoPipelining: true })
  redis.on('error', (err) => { fastify.log.warn({ err: { message: err.message } }, 'Redis connection error') })
  redis.on('ready', () => { fastify.log.info('Redis connected') })
  fastify.decorate('redis', redis)
  fastify.addHook('onClose', async () => {
    // QUIT would wait in the offline queue for a Redis that is away (and, stalled, up to the command timeout).
    if (redis.status === 'ready') await redis.quit().catch(() => { redis.disconnect() })
    else redis.disconnect()
  })
}, { name: 'redis', dependencies: ['config'] })
