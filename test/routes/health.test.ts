import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { freePort } from '../../scripts/livekit-server.js'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import type { FastifyInstance } from 'fastify'
import { bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'

async function until<T> (check: () => Promise<T | undefined>, tries = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await check()
    if (value !== undefined) return value
    await sleep(100)
  }
  throw new Error('condition not met')
}

t.test('/health is 200 without asking LiveKit, and neither probe is in the request log at info', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = await build(t, { LIVEKIT_URL: `ws://127.0.0.1:${await freePort()}`, LOG_LEVEL: 'info' }, stream)
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  await app.inject({ method: 'GET', url: '/ready' })
  t.notOk(lines.some((line) => /"url":"\/(health|ready)"/.test(line)), 'no request log lines for the probes')
})

/** /ready's answer once `done` accepts it (bounded, like `until`). */
async function readyWhen (app: FastifyInstance, done: (body: Record<string, any>) => boolean, tries = 100): Promise<{ statusCode: number, body: Record<string, any> }> {
  return await until(async () => {
    const answer = await app.inject({ method: 'GET', url: '/ready' })
    const body = answer.json()
    return done(body) ? { statusCode: answer.statusCode, body } : undefined
  }, tries)
}

const ready = (body: Record<string, any>): boolean => body.status === 'ready'
const livekitIs = (state: string) => (body: Record<string, any>): boolean => body.dependencies?.livekit?.state === state
const redisIs = (state: string) => (body: Record<string, any>): boolean => body.dependencies?.redis?.state === state

t.test('/ready stays 200 while LiveKit is away, naming it, while a start answers 503 with Retry-After; it follows LiveKit back by itself', async (t) => {
  const port = await freePort()
  const first = await startLivekit(t, { port })
  const app = await build(t, { ...livekitConfig(first), LIVEKIT_REQUEST_TIMEOUT_MS: 1000 })
  t.same((await readyWhen(app, ready)).body, { status: 'ready', degraded: false, checks: { livekit: 'ok' }, dependencies: { livekit: { state: 'up' } }, webhooks: 'unknown' })

  await first.stop()
  const down = await readyWhen(app, livekitIs('down'))
  t.equal(down.statusCode, 200, 'LiveKit is every replica\'s: its absence takes none out of the load balancer')
  t.same(down.body, { status: 'ready', degraded: true, checks: { livekit: 'LiveKit is unreachable' }, dependencies: { livekit: { state: 'down', reason: 'LiveKit is unreachable' } }, webhooks: 'unknown' })
  const start = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(app, 'user-1')) })
  t.equal(start.statusCode, 503)
  t.equal(start.headers['retry-after'], '5')
  t.equal(start.json().message, 'LiveKit is unreachable')

  await startLivekit(t, { port, apiKey: first.apiKey, apiSecret: first.apiSecret })
  const up = await readyWhen(app, livekitIs('up'))
  t.same(up, { statusCode: 200, body: { status: 'ready', degraded: false, checks: { livekit: 'ok' }, dependencies: { livekit: { state: 'up' } }, webhooks: 'unknown' } })
})

t.test('/ready stays 200 while Redis is away, naming it, and follows it back when REDIS_URL is set', { skip: redisMissing() ?? false }, async (t) => {
  const livekit = await startLivekit(t)
  const redisPort = await freePort()
  let redis = await startRedisServer({ port: redisPort })
  t.teardown(async () => { await redis.stop() })
  const app = await build(t, { ...livekitConfig(livekit), REDIS_URL: redis.url })
  t.same((await readyWhen(app, ready)).body, { status: 'ready', degraded: false, checks: { livekit: 'ok', redis: 'ok' }, dependencies: { livekit: { state: 'up' }, redis: { state: 'up' } }, webhooks: 'unknown' })
  await redis.stop()
  const down = await readyWhen(app, redisIs('down'))
  t.equal(down.statusCode, 200)
  t.match(down.body, { status: 'ready', degraded: true, checks: { livekit: 'ok', redis: /^Redis is unreachable/ }, dependencies: { livekit: { state: 'up' }, redis: { state: 'down', reason: /^Redis is unreachable/ } }, webhooks: 'unknown' })
  redis = await startRedisServer({ port: redisPort })
  const up = await readyWhen(app, redisIs('up'), 200)
  t.same(up, { statusCode: 200, body: { status: 'ready', degraded: false, checks: { livekit: 'ok', redis: 'ok' }, dependencies: { livekit: { state: 'up' }, redis: { state: 'up' } }, webhooks: 'unknown' } })
})

t.test('a Redis that is away at start-up, or refuses the connection, is no crash: /ready names it, and is 200 once Redis answers', { skip: redisMissing() ?? false }, async (t) => {
  const livekit = await startLivekit(t)
  const redisPort = await freePort()
  // First a server that answers as a protected-mode Redis does, and hangs up.
  const refusing = createServer((socket) => { socket.end('-DENIED Redis is running in protected mode\r\n', () => socket.destroy()) })
  await new Promise<void>((resolve) => refusing.listen(redisPort, '127.0.0.1', resolve))
  const app = await build(t, { ...livekitConfig(livekit), REDIS_URL: `redis://127.0.0.1:${redisPort}` })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  const down = await app.inject({ method: 'GET', url: '/ready' })
  t.match(down.json(), { degraded: true, checks: { livekit: 'ok', redis: /^Redis is unreachable/ }, dependencies: { redis: { state: 'down', reason: /^Redis is unreachable/ } }, webhooks: 'unknown' })
  // Never for Redis itself: only a session index that was never usable (it could not be read yet) keeps this replica out.
  t.equal(down.statusCode, down.json().checks.index === undefined ? 200 : 503)
  t.notOk('service' in down.json().checks)
  await new Promise((resolve) => refusing.close(resolve))
  const redis = await startRedisServer({ port: redisPort })
  t.teardown(async () => { await redis.stop() })
  const up = await readyWhen(app, (body) => ready(body) && redisIs('up')(body), 200)
  t.same(up, { statusCode: 200, body: { status: 'ready', degraded: false, checks: { livekit: 'ok', redis: 'ok' }, dependencies: { livekit: { state: 'up' }, redis: { state: 'up' } }, webhooks: 'unknown' } })
})

t.test('draining (SIGTERM) is this replica\'s own: /ready is 503 with its dependencies up', async (t) => {
  const livekit = await startLivekit(t)
  const app = await build(t, livekitConfig(livekit))
  t.equal((await readyWhen(app, ready)).statusCode, 200)
  app.readiness.drain()
  const draining = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(draining.statusCode, 503)
  t.same(draining.json(), { status: 'not_ready', degraded: false, checks: { livekit: 'ok', service: 'shutting down' }, dependencies: { livekit: { state: 'up' } }, webhooks: 'unknown' })
})
