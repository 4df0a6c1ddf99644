import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HealthSchema, ReadinessSchema } from '#http/schemas/health.js'

const tags = ['operations']

/**
 * /health and /ready for load balancers and orchestrators: outside user auth and rate limits, and
 * out of the request log at `info` (a probe every second would drown it).
 */
const health: FastifyPluginAsyncTypebox = async function (fastify) {
  const { readiness } = fastify

  fastify.get('/health', {
    logLevel: 'warn',
    schema: {
      tags,
      operationId: 'getHealth',
      summary: 'Liveness: the process is alive',
      description: 'Always 200 while the process runs; never calls LiveKit or Redis.',
      response: { 200: HealthSchema }
    }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/ready', {
    logLevel: 'warn',
    schema: {
      tags,
      operationId: 'getReadiness',
      summary: 'Readiness: this replica is neither shutting down nor overloaded, and its session index is usable',
      description: '503 only for what is this replica\'s own: at once on SIGTERM, while overloaded, and while its session index is ' +
        'not usable yet; the reason is in `checks`. LiveKit and Redis are shared by every replica, so while one is away `/ready` ' +
        'stays 200 with `degraded: true`, naming it in `dependencies` (and its reason in `checks`), and each request that needs it ' +
        'answers 503 or 504 with its own message. LiveKit is asked at most every 2 s; the answer comes within half a second ' +
        'whatever LiveKit and Redis do.',
      response: { 200: ReadinessSchema, 503: ReadinessSchema }
    }
  }, async (_request, reply) => {
    const result = await readiness.check()
    return await reply.code(result.status === 'ready' ? 200 : 503).send(result)
  })
}

export default health
