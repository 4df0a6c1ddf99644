import t from 'tap'
import { allowedOrigins } from '../../plugins/external/cors.js'
import { build } from '../helper.js'

t.test('CORS_ORIGINS: empty is off, * is any origin, else the listed origins', async (t) => {
  t.equal(allowedOrigins(''), false)
  t.equal(allowedOrigins(' , '), false)
  t.equal(allowedOrigins('*'), '*')
  t.same(allowedOrigins('https://a.example, https://b.example'), ['https://a.example', 'https://b.example'])
})

t.test('a browser preflight for the token endpoint is answered for an allowed origin only', async (t) => {
  const app = await build(t, { CORS_ORIGINS: 'https://app.example.com' })
  const preflight = (origin: string) => app.inject({
    method: 'OPTIONS',
    url: '/api/v1/livekit/token',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' }
  })
  const allowed = await preflight('https://app.example.com')
  t.equal(allowed.statusCode, 204)
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(allowed.headers['access-control-allow-headers']), /Authorization/)
  const other = await preflight('https://evil.example.com')
  t.equal(other.headers['access-control-allow-origin'], undefined)
  const anonymous = await app.inject({ method: 'POST', url: '/api/v1/livekit/token', headers: { origin: 'https://app.example.com' }, payload: {} })
  t.equal(anonymous.statusCode, 401, 'CORS never replaces authentication')
  t.equal(anonymous.headers['access-control-allow-origin'], 'https://app.example.com', 'errors carry the header, so the browser can read them')
  t.equal(anonymous.headers['access-control-expose-headers'], 'X-Request-Id, Retry-After', 'the browser may read the request id and Retry-After')
})

t.test('without CORS_ORIGINS no CORS header is sent', async (t) => {
  const app = await build(t)
  const response = await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: { origin: 'https://app.example.com' } })
  t.equal(response.headers['access-control-allow-origin'], undefined)
})
