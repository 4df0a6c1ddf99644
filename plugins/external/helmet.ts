import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/**
 * Security headers on every answer (CSP, HSTS, nosniff, frame and referrer policies). Helmet's
 * default CSP allows only the page's own scripts and styles, which is what Swagger UI at /api/docs
 * loads (its inline styles are allowed by `style-src 'unsafe-inline'`).
 * https://github.com/fastify/fastify-helmet
 */
export default fp(async function helmetPlugin (fastify) {
  await fastify.register(helmet, { global: true })
}, { name: 'helmet' })
