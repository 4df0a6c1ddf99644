import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { parseRate } from '#ops/rate.js'
import { redisKeys } from '#redis/keys.js'

/** A route's `preHandler` that counts the request against a per-user bucket and refuses it past the limit. */
type RateLimitHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-user limits for routes to put in `preHandler`: `start` (start and /livekit/token share it) and `api` (every other authenticated route, one bucket). */
    rateLimits: { start: RateLimitHook, api: RateLimitHook }
  }
}

/** The signed-in user (auth ran in onRequest, before), else the client's address. */
function userOf (request: FastifyRequest): string {
  return request.user?.id === undefined || request.user.id === '' ? `ip:${request.ip}` : `user:${request.user.id}`
}

/**
 * Per-user rate limits (START_RATE_LIMIT, API_RATE_LIMIT), each one bucket shared by the routes that
 * use it; in Redis when REDIS_URL is set, so that they hold across replicas. Over a limit: 429 with
 * `Retry-After` in whole seconds and the one error body. Health, readiness, metrics and LiveKit's
 * webhooks use none.
 * https://github.com/fastify/fastify-rate-limit
 */
export default fp(async function rateLimitPlugin (fastify) {
  const { START_RATE_LIMIT, API_RATE_LIMIT, REDIS_KEY_PREFIX } = fastify.config
  await fastify.register(rateLimit, {
    global: false,
    ...(fastify.redis === undefined ? {} : { redis: fastify.redis, nameSpace: redisKeys(REDIS_KEY_PREFIX).rateLimitNamespace }),
    // A Redis outage is answered by the session index (503); the limits do not block on it.
    skipOnError: true
  })

  /** One bucket per user for every route that uses the hook (the plugin's route-level limits count per route). */
  function bucket (name: string, value: string): RateLimitHook {
    const rate = parseRate(value)
    const limit = fastify.createRateLimit({ ...rate, keyGenerator: (request) => `${name}:${userOf(request)}` })
    return async function rateLimited (request, reply) {
      const counted = await limit(request)
      if (counted.isAllowed || !counted.isExceeded) return
      const seconds = Math.max(1, counted.ttlInSeconds)
      reply.header('retry-after', String(seconds))
      fastify.serviceMetrics.rateLimited(request.routeOptions.url ?? request.url)
      throw fastify.httpErrors.tooManyRequests(`Rate limit exceeded (${rate.max} per ${value.split('/')[1]}); retry in ${seconds} s`)
    }
  }

  fastify.decorate('rateLimits', { start: bucket('start', START_RATE_LIMIT), api: bucket('api', API_RATE_LIMIT) })
}, { name: 'rate-limit', dependencies: ['config', 'redis', 'metrics', '@fastify/sensible'] })
