import { generateKeyPairSync, sign } from 'node:crypto'
import sensible from '@fastify/sensible'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import auth from '../../plugins/app/auth.js'
import configPlugin from '../../plugins/app/config.js'
import { bearer, signHs256, testConfig } from '../helper.js'

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
  const ok = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signRs256(privateKey, { sub: 'user-9', email: 'nine@example.com' })) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { id: 'user-9', email: 'nine@example.com' })

  const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
  const forged = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signRs256(other.privateKey, { sub: 'user-9' })) })
  t.equal(forged.statusCode, 401)
  // The classic confusion: an HS256 token whose HMAC key is the (public) PEM itself.
  const confused = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(signHs256(publicKey, { sub: 'user-9' })) })
  t.equal(confused.statusCode, 401, 'an HS256 token signed with the public key is refused')
})

t.test('a token without email still authenticates; the user has an empty email', async (t) => {
  const app = await authApp(t)
  const response = await app.inject({ method: 'GET', url: '/whoami', headers: bearer(app.jwt.sign({ sub: 'user-1' })) })
  t.same(response.json(), { id: 'user-1', email: '' })
})
