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
      summary: 'Readiness: LiveKit and Redis answer, and the service is neither shutting down nor overloaded',
      description: '200 when ready; 503 with the failing check\'s reason in place of `ok`. LiveKit is asked at most every 2 s. ' +
        'It turns 200 again by itself once LiveKit and Redis are back; it turns 503 at once on SIGTERM.',
      response: { 200: ReadinessSchema, 503: ReadinessSchema }
    }
  }, async (_request, reply) => {
    const result = await readiness.check()
    return await reply.code(result.status === 'ready' ? 200 : 503).send(result)
  })
}

export default health
