import { generateKeyPairSync, sign } from 'node:crypto'
import sensible from '@fastify/sensible'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import auth from '../../plugins/app/auth.js'
import configPlugin from '../../plugins/app/config.js'
import { bearer, JWT_SECRET, signHs256, testConfig } from '../helper.js'

/** The auth plugin on a bare instance, with one route that answers with the signed-in user. */
async function authApp (t: Test, overrides: Record<string, unknown> = {}) {
  const app = Fastify()
  await app.register(configPlugin, { config: testConfig(overrides) })
  await app.register(sensible)
  await app.register(auth)
  app.get('/whoami', { onRequest: app.authenticate }, async (request) => request.user)
  await app.ready()
  t.teardown(() => app.close())
  return app
}

function inAnHour (): number {
  return Math.floor(Date.now() / 1000) + 3600
}

function signRs256 (privateKey: string, payload: object): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${header}.${body}.${sign('sha256', Buffer.from(`${header}.${body}`), privateKey).toString('base64url')}`
}

t.test('JWT_SECRET may be a PEM public key: RS256 user tokens are verified with it', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
  })
  const app = await authApp(t, { JWT_SECRET: publicKey })
  const ok = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signRs256(privateKey, { sub: 'user-9', email: 'nine@example.com', exp: inAnHour() })) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { id: 'user-9', email: 'nine@example.com' })
  const forever = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signRs256(privateKey, { sub: 'user-9' })) })
  t.equal(forever.statusCode, 401, 'an RS256 token without exp is refused too')

  const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  const forged = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signRs256(other.privateKey, { sub: 'user-9', exp: inAnHour() })) })
  t.equal(forged.statusCode, 401)
  // The classic confusion: an HS256 token whose HMAC key is the (public) PEM itself.
  const confused = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signHs256(publicKey, { sub: 'user-9' })) })
  t.equal(confused.statusCode, 401, 'an HS256 token signed with the public key is refused')
})

t.test('a token without email still authenticates; the user has an empty email', async (t) => {
  const app = await authApp(t)
  const response = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(app.jwt.sign({ sub: 'user-1' }, { expiresIn: '1h' })) })
  t.same(response.json(), { id: 'user-1', email: '' })
})

t.test('a token without exp is refused: it would be good forever', async (t) => {
  const app = await authApp(t)
  const response = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(app.jwt.sign({ sub: 'user-1' })) })
  t.equal(response.statusCode, 401)
  t.equal(response.json().message, 'Invalid bearer token: The exp claim is required.')
})

t.test('JWT_AUDIENCE and JWT_ISSUER, when set, must be carried by the token', async (t) => {
  const app = await authApp(t, { JWT_AUDIENCE: 'voice-sessions', JWT_ISSUER: 'https://auth.example.com' })
  const sign = (claims: object) => bearer(signHs256(JWT_SECRET, { sub: 'user-1', ...claims }))
  const whoami = async (claims: object) => await app.inject({ method: 'GET', url: '/whoami', headers: sign(claims) })
  t.equal((await whoami({ aud: 'voice-sessions', iss: 'https://auth.example.com' })).statusCode, 200)
  t.equal((await whoami({ aud: ['billing', 'voice-sessions'], iss: 'https://auth.example.com' })).statusCode, 200, 'one of several audiences')
  const cases: Array<[object, RegExp]> = [
    [{ aud: 'billing', iss: 'https://auth.example.com' }, /aud claim value is not allowed/],
    [{ iss: 'https://auth.example.com' }, /aud claim is required|aud claim value is not allowed/],
    [{ aud: 'voice-sessions', iss: 'https://evil.example.com' }, /iss claim value is not allowed/],
    [{ aud: 'voice-sessions' }, /iss claim is required|iss claim value is not allowed/]
  ]
  for (const [claims, message] of cases) {
    const response = await whoami(claims)
    t.equal(response.statusCode, 401, JSON.stringify(claims))
    t.match(response.json().message, message)
  }
  const unset = await authApp(t)
  const anyAudience = await unset.inject({ method: 'GET', url: '/whoami', headers: sign({ aud: 'billing', iss: 'anyone' }) })
  t.equal(anyAudience.statusCode, 200, 'unset: not checked')
})

t.test('clock skew: JWT_CLOCK_SKEW_SECONDS of tolerance on exp and nbf, no more', async (t) => {
  const app = await authApp(t, { JWT_CLOCK_SKEW_SECONDS: 20 })
  const now = Math.floor(Date.now() / 1000)
  const whoami = async (claims: object) => (await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signHs256(JWT_SECRET, { sub: 'user-1', ...claims })) })).statusCode
  t.equal(await whoami({ exp: now - 5 }), 200, 'expired 5 s ago: within the skew')
  t.equal(await whoami({ exp: now - 60 }), 401, 'expired a minute ago')
  t.equal(await whoami({ nbf: now + 5, exp: now + 3600 }), 200, 'valid in 5 s: within the skew')
  t.equal(await whoami({ nbf: now + 60, exp: now + 3600 }), 401, 'valid only in a minute')
})

t.test('a verified token reused from the cache is still refused once it expires', async (t) => {
  const app = await authApp(t, { JWT_CLOCK_SKEW_SECONDS: 0 })
  const expiresAtMs = (Math.floor(Date.now() / 1000) + 2) * 1000
  const token = signHs256(JWT_SECRET, { sub: 'user-7', email: 'seven@example.com', exp: expiresAtMs / 1000 })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'GET', url: '/whoami', headers: bearer(token) })).statusCode, 200, 'accepted, then from the cache')
  // Polled, bounded: the first answer after `exp` must be a refusal.
  let after = 0
  for (let tries = 0; tries < 60 && after === 0; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (Date.now() > expiresAtMs) after = (await app.inject({ method: 'GET', url: '/whoami', headers: bearer(token) })).statusCode
  }
  t.equal(after, 401, 'refused once expired')
})

t.test('a kept verification answers for its own Authorization header only', async (t) => {
  const app = await authApp(t)
  const token = signHs256(JWT_SECRET, { sub: 'user-8', exp: inAnHour() })
  const whoami = async (header: string) => await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: header } })
  t.equal((await whoami(`Bearer ${token}`)).json().id, 'user-8', 'verified, then kept')
  t.equal((await whoami(`Bearer ${token}`)).json().id, 'user-8', 'from what was kept')
  t.equal((await whoami(`Bearer ${token.slice(0, -2)}xx`)).statusCode, 401, 'another signature is verified, and refused')
  t.equal((await whoami(`Bearer ${signHs256('another-secret-of-at-least-thirty-two-bytes', { sub: 'user-8', exp: inAnHour() })}`)).statusCode, 401, 'the same claims signed by another key')
})
