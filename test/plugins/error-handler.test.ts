import { Writable } from 'node:stream'
import sensible from '@fastify/sensible'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import errorHandler from '../../plugins/app/error-handler.js'
import { toLivekitError } from '#livekit/errors.js'

async function bareApp (t: Test) {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const fastify = Fastify({ logger: { level: 'info', stream } })
  await fastify.register(sensible)
  await fastify.register(errorHandler)
  fastify.get('/boom', async () => { throw new Error('database password is hunter2') })
  fastify.get('/teapot', async () => { throw fastify.httpErrors.imateapot('short and stout') })
  fastify.get('/upstream', async () => { throw toLivekitError(new TypeError('fetch failed'), 1000, 'read the room') })
  fastify.get('/odd-status', async () => { throw Object.assign(new Error('odd'), { statusCode: 302 }) })
  await fastify.ready()
  t.teardown(() => fastify.close())
  return { fastify, lines }
}

t.test('an unexpected error is a 500 with no details; the details and request id go to the log', async (t) => {
  const { fastify, lines } = await bareApp(t)
  const response = await fastify.inject({ method: 'GET', url: '/boom', headers: { 'x-request-id': 'req-1' } })
  t.equal(response.statusCode, 500)
  t.same(response.json(), { statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' })
  t.notMatch(response.body, 'hunter2')
  const logged = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request failed')
  t.match(logged, { level: 50, err: { message: 'database password is hunter2' } })
  t.ok(logged.reqId, 'the log line carries the request id')
})

t.test('4xx messages pass through; our upstream 5xx messages are shown with their headers', async (t) => {
  const { fastify } = await bareApp(t)
  const teapot = await fastify.inject({ method: 'GET', url: '/teapot' })
  t.same(teapot.json(), { statusCode: 418, error: 'I\'m a Teapot', message: 'short and stout' })
  const upstream = await fastify.inject({ method: 'GET', url: '/upstream' })
  t.same(upstream.json(), { statusCode: 503, error: 'Service Unavailable', message: 'LiveKit is unreachable' })
  t.equal(upstream.headers['retry-after'], '5')
})

t.test('an error with a status that is not an error status is a 500', async (t) => {
  const { fastify } = await bareApp(t)
  const response = await fastify.inject({ method: 'GET', url: '/odd-status' })
  t.equal(response.statusCode, 500)
  t.equal(response.json().message, 'Internal Server Error')
})

t.test('unknown routes get the one error body without the query string', async (t) => {
  const { fastify } = await bareApp(t)
  const response = await fastify.inject({ method: 'GET', url: '/nowhere?token=secret' })
  t.same(response.json(), { statusCode: 404, error: 'Not Found', message: 'Route GET /nowhere not found' })
})

t.test('every answer carries the request id, the caller\'s own when it sent one', async (t) => {
  const { build, bearer, userToken } = await import('../helper.js')
  const app = await build(t)
  const own = await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: { 'x-request-id': 'bff-1234' } })
  t.equal(own.headers['x-request-id'], 'bff-1234')
  const made = await app.inject({ method: 'GET', url: '/nowhere', headers: bearer(userToken(app, 'alice')) })
  const other = await app.inject({ method: 'GET', url: '/nowhere' })
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  t.match(made.headers['x-request-id'], uuid, 'a random UUID, unique across restarts and replicas')
  t.not(made.headers['x-request-id'], other.headers['x-request-id'])
})

t.test('a caller\'s request id is adopted only when it is 1-128 characters of [A-Za-z0-9._:-]', async (t) => {
  const { build } = await import('../helper.js')
  const app = await build(t)
  const idOf = async (id: string) => (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: { 'x-request-id': id } })).headers['x-request-id']
  for (const id of ['a', 'bff.7:run-1_x', 'x'.repeat(128)]) t.equal(await idOf(id), id)
  for (const id of ['x'.repeat(129), 'has space', 'semi;colon', '<script>', 'ünï', '']) {
    const given = await idOf(id)
    t.not(given, id, JSON.stringify(id).slice(0, 20))
    t.match(given, /^[0-9a-f-]{36}$/)
  }
})
