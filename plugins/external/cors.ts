import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** The browser origins allowed to call the service, from `CORS_ORIGINS` (`*`, or a comma-separated list). */
export function allowedOrigins (value: string): boolean | string | string[] {
  const origins = value.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '')
  if (origins.length === 0) return false
  return origins.includes('*') ? '*' : origins
}

/**
 * CORS for web clients that call the service from a browser (LiveKit's `TokenSource.endpoint`).
 * Off unless CORS_ORIGINS is set. The user JWT travels in the Authorization header, never in a
 * cookie, so no credentials mode is needed.
 * https://github.com/fastify/fastify-cors
 */
export default fp(async function corsPlugin (fastify: FastifyInstance, opts: { config: { CORS_ORIGINS: string } }) {
  await fastify.register(cors, {
    origin: allowedOrigins(opts.config.CORS_ORIGINS),
    methods: ['GET', 'POST', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    // What a browser client may read: the id to quote in a bug report, and how long to wait on 503.
    exposedHeaders: ['X-Request-Id', 'Retry-After'],
    maxAge: 600
  })
}, { name: 'cors' })
