import fastifyMetrics from 'fastify-metrics'
import fp from 'fastify-plugin'
import { createMetrics, type Metrics } from '#ops/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's own metrics (fastify-metrics' decorator is `fastify.metrics`). */
    serviceMetrics: Metrics
  }
}

/**
 * Prometheus metrics: the service's own (src/ops/metrics.ts), `http_request_duration_seconds` by
 * method, route pattern and status code, and the default process metrics, all in this app's own
 * registry; served by routes/metrics.ts.
 * https://github.com/SkeLLLa/fastify-metrics
 */
export default fp(async function metricsPlugin (fastify) {
  const metrics = createMetrics()
  await fastify.register(fastifyMetrics.default, {
    endpoint: null,
    clearRegisterOnInit: false,
    defaultMetrics: { enabled: true, register: metrics.registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      registeredRoutesOnly: true,
      groupStatusCodes: false,
      routeBlacklist: ['/metrics', '/health', '/ready'],
      overrides: {
        labels: { status: 'status_code' },
        histogram: { name: 'http_request_duration_seconds', registers: [metrics.registry] },
        // Off, but the library still makes it: in this app's registry, never the process-wide one.
        summary: { registers: [metrics.registry] }
      }
    }
  })
  fastify.decorate('serviceMetrics', metrics)
}, { name: 'metrics', dependencies: ['config'] })
