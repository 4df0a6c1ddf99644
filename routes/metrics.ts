import { timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { errorResponse } from '#http/schemas/error.js'

/** Whether the request carries `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time). */
function carriesToken (request: FastifyRequest, token: string): boolean {
  const given = Buffer.from(request.headers.authorization ?? '')
  const expected = Buffer.from(`Bearer ${token}`)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * GET /metrics in Prometheus text format, for scrapers: outside user auth and rate limits, out of
 * the request log at `info`, and guarded by METRICS_TOKEN (a bearer token) when that is set.
 */
const metricsRoute: FastifyPluginAsync = async function (fastify) {
  const { serviceMetrics: metrics, config, httpErrors } = fastify
  metrics.countLiveWith(async () => await fastify.sessionIndex.store.count())
  metrics.webhooksSilentWith(() => fastify.sessionIndex.webhooks.state() === 'silent')

  fastify.get('/metrics', {
    logLevel: 'warn',
    schema: {
      tags: ['operations'],
      operationId: 'getMetrics',
      summary: 'Prometheus metrics',
      description: 'Prometheus text format. Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
      response: {
        200: { description: 'The metrics, in Prometheus text format 0.0.4', content: { 'text/plain': { schema: Type.String() } } },
        401: errorResponse(401, { description: 'METRICS_TOKEN is set and the request does not carry it', message: 'Missing or wrong metrics token' })
      }
    }
  }, async (request, reply) => {
    if (config.METRICS_TOKEN !== '' && !carriesToken(request, config.METRICS_TOKEN)) {
      const error = httpErrors.unauthorized('Missing or wrong metrics token')
      error.headers = { 'www-authenticate': 'Bearer' }
      throw error
    }
    return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}

export default metricsRoute
