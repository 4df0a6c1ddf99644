import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { parseRate } from '#ops/rate.js'
import { createRateLimiter, type RateVerdict } from '#ops/rate-limiter.js'
import { redisKeys } from '#redis/keys.js'
import { redisWindowCounter } from '#redis/window-counter.js'

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
 * use it, in fixed windows from a user's first request; counted in Redis too when REDIS_URL is set, so that
 * they hold across replicas (src/ops/rate-limiter.ts: far from the limit, without a round trip).
 * Over a limit: 429 with `Retry-After` in whole seconds and the one error body. Health, readiness,
 * metrics and LiveKit's webhooks use none.
 */
export default fp(async function rateLimitPlugin (fastify) {
  const { START_RATE_LIMIT, API_RATE_LIMIT, REDIS_KEY_PREFIX } = fastify.config
  const shared = fastify.redis === undefined ? undefined : redisWindowCounter(fastify.redis, redisKeys(REDIS_KEY_PREFIX).rateLimitNamespace)

  function bucket (name: string, value: string): RateLimitHook {
    const { max, timeWindow } = parseRate(value)
    const limiter = createRateLimiter({ max, windowMs: timeWindow, shared })
    fastify.addHook('onClose', async () => limiter.close())
    function answer (verdict: RateVerdict, request: FastifyRequest, reply: FastifyReply): void {
      if (verdict.allowed) return
      const seconds = Math.max(1, Math.ceil(verdict.retryInMs / 1000))
      reply.header('retry-after', String(seconds))
      fastify.serviceMetrics.rateLimited(request.routeOptions.url ?? request.url)
      throw fastify.httpErrors.tooManyRequests(`Rate limit exceeded (${max} per ${value.split('/')[1]}); retry in ${seconds} s`)
    }
    return async function rateLimited (request, reply) {
      const verdict = limiter.take(`${name}:${userOf(request)}`)
      answer(verdict instanceof Promise ? await verdict : verdict, request, reply)
    }
  }

  fastify.decorate('rateLimits', { start: bucket('start', START_RATE_LIMIT), api: bucket('api', API_RATE_LIMIT) })
}, { name: 'rate-limit', dependencies: ['config', 'redis', 'metrics', '@fastify/sensible'] })
