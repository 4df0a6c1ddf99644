import { getHeapStatistics } from 'node:v8'
import underPressure from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createEventLoopPressure, SAMPLE_EVERY_MS } from '#ops/event-loop-pressure.js'
import { sendError } from '#http/schemas/error.js'

/** Seconds an overloaded service asks callers to wait. */
const RETRY_AFTER_SECONDS = 5

/**
 * What still answers under pressure. Probes and scrapes: a busy process is alive and worth
 * measuring, and /ready says `not_ready` in its own body (src/ops/readiness.ts asks
 * `overloaded`). LiveKit's webhooks: refusing one sheds nothing (LiveKit delivers it again
 * 1, 2, 4 then 8 s later, and holds the room's later events back meanwhile) and leaves the index
 * behind LiveKit for those seconds; each costs one signature check and one store step.
 */
const ALWAYS_ANSWERED = new Set(['/health', '/ready', '/metrics', '/api/v1/livekit/webhook'])

declare module 'fastify' {
  interface FastifyInstance {
    /** Whether this replica is past an overload threshold: what /ready says, and why requests get 503. */
    overloaded: () => boolean
  }
}

/**
 * Overload protection: past OVERLOAD_MAX_EVENT_LOOP_DELAY_MS of event-loop delay, sustained for half
 * a second (src/ops/event-loop-pressure.ts), or OVERLOAD_MAX_HEAP_RATIO of V8's heap limit
 * (@fastify/under-pressure, sampled every 250 ms), requests get 503 with Retry-After and the one
 * error body instead of piling up; /health, /ready, /metrics and LiveKit's webhooks still answer.
 * https://github.com/fastify/under-pressure
 */
export default fp(async function underPressurePlugin (fastify) {
  const { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS, OVERLOAD_MAX_HEAP_RATIO } = fastify.config
  function refuse (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined): void {
    if (ALWAYS_ANSWERED.has(request.url.split('?')[0] ?? '')) return
    request.log.warn({ type, value }, 'overloaded: answering 503')
    reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    sendError(reply, 503, `The service is overloaded (${type}); retry in ${RETRY_AFTER_SECONDS} s`)
  }
  const loop = createEventLoopPressure({ maxDelayMs: OVERLOAD_MAX_EVENT_LOOP_DELAY_MS })
  fastify.addHook('onClose', async () => { loop.stop() })
  await fastify.register(underPressure, {
    maxHeapUsedBytes: Math.floor(OVERLOAD_MAX_HEAP_RATIO * getHeapStatistics().heap_size_limit),
    sampleInterval: SAMPLE_EVERY_MS,
    pressureHandler: refuse
  })
  fastify.addHook('onRequest', async (request, reply) => {
    if (!loop.overloaded()) return
    refuse(request, reply, 'eventLoopDelay', loop.delayMs())
    if (reply.sent) return reply
  })
  fastify.decorate('overloaded', () => loop.overloaded() || fastify.isUnderPressure())
}, { name: 'under-pressure', dependencies: ['config'] })
