import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Security headers on every answer (CSP, HSTS, nosniff, frame and referrer policies). Helmet's
 * default CSP allows only the page's own scripts and styles, which is what Swagger UI at /api/docs
 * loads (its inline styles are allowed by `style-src 'unsafe-inline'`). Without its
 * `upgrade-insecure-requests`: the service speaks plain HTTP (TLS ends in front of it, if anywhere),
 * and a browser told to fetch the page's own assets over https leaves Swagger UI blank wherever it
 * is opened over http other than on loopback. Over https the page's assets are https already.
 */
const OPTIONS: HelmetOptions = { contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }

/**
 * The headers helmet sets with OPTIONS, computed once: they depend on nothing in the request
 * (no CSP nonces), so every answer gets the same object instead of helmet's middleware running
 * per request (5% of a read's CPU in a profile, BENCHMARKS.md).
 */
export function helmetHeaders (options: HelmetOptions = OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = String(value) },
    removeHeader: (name: string) => { Reflect.deleteProperty(headers, name.toLowerCase()) }
  }
  let failure: Error | undefined
  helmet(options)({} as never, response as never, (err?: unknown) => { failure = err instanceof Error ? err : undefined })
  if (failure !== undefined) throw failure
  return headers
}

export default fp(async function helmetPlugin (fastify) {
  const headers = helmetHeaders()
  fastify.addHook('onRequest', function securityHeaders (_request, reply, done) {
    reply.headers(headers)
    done()
  })
}, { name: 'helmet' })
