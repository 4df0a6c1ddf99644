import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/**
 * Security headers on every answer (CSP, HSTS, nosniff, frame and referrer policies). Helmet's
 * default CSP allows only the page's own scripts and styles, which is what Swagger UI at /api/docs
 * loads (its inline styles are allowed by `style-src 'unsafe-inline'`). Without its
 * `upgrade-insecure-requests`: the service speaks plain HTTP (TLS ends in front of it, if anywhere),
 * and a browser told to fetch the page's own assets over https leaves Swagger UI blank wherever it
 * is opened over http other than on loopback. Over https the page's assets are https already.
 * https://github.com/fastify/fastify-helmet
 */
export default fp(async function helmetPlugin (fastify) {
  await fastify.register(helmet, {
    global: true,
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } }
  })
}, { name: 'helmet' })
