import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { freePort } from '../../scripts/livekit-server.js'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { build, startLivekit } from '../helper.js'

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

t.test('/ready follows LiveKit: 503 with the reason while it is away, 200 again by itself once it is back', async (t) => {
  const port = await freePort()
  const app = await build(t, { LIVEKIT_URL: `ws://127.0.0.1:${port}`, LIVEKIT_REQUEST_TIMEOUT_MS: 1000 })
  const down = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(down.statusCode, 503)
  t.same(down.json(), { status: 'not_ready', checks: { livekit: 'LiveKit is unreachable' } })
  await startLivekit(t, { port, apiKey: app.config.LIVEKIT_API_KEY, apiSecret: app.config.LIVEKIT_API_SECRET })
  const up = await until(async () => {
    const answer = await app.inject({ method: 'GET', url: '/ready' })
    return answer.statusCode === 200 ? answer.json() : undefined
  })
  t.same(up, { status: 'ready', checks: { livekit: 'ok' } })
})

t.test('/ready follows Redis when REDIS_URL is set', { skip: redisMissing() ?? false }, async (t) => {
  const livekit = await startLivekit(t)
  const redisPort = await freePort()
  let redis = await startRedisServer({ port: redisPort })
  t.teardown(async () => { await redis.stop() })
  const app = await build(t, { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: livekit.apiKey, LIVEKIT_API_SECRET: livekit.apiSecret, REDIS_URL: redis.url })
  t.same((await app.inject({ method: 'GET', url: '/ready' })).json(), { status: 'ready', checks: { livekit: 'ok', redis: 'ok' } })
  await redis.stop()
  const down = await until(async () => {
    const answer = await app.inject({ method: 'GET', url: '/ready' })
    return answer.statusCode === 503 ? answer.json() : undefined
  })
  t.match(down, { status: 'not_ready', checks: { livekit: 'ok', redis: /^Redis is unreachable/ } })
  redis = await startRedisServer({ port: redisPort })
  const up = await until(async () => {
    const answer = await app.inject({ method: 'GET', url: '/ready' })
    return answer.statusCode === 200 ? answer.json() : undefined
  }, 200)
  t.same(up, { status: 'ready', checks: { livekit: 'ok', redis: 'ok' } })
})

t.test('a Redis that is away at start-up, or refuses the connection, is no crash: /ready is 503 until Redis answers', { skip: redisMissing() ?? false }, async (t) => {
  const livekit = await startLivekit(t)
  const redisPort = await freePort()
  // First a server that answers as a protected-mode Redis does, and hangs up.
  const refusing = createServer((socket) => { socket.end('-DENIED Redis is running in protected mode\r\n', () => socket.destroy()) })
  await new Promise<void>((resolve) => refusing.listen(redisPort, '127.0.0.1', resolve))
  const app = await build(t, { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: livekit.apiKey, LIVEKIT_API_SECRET: livekit.apiSecret, REDIS_URL: `redis://127.0.0.1:${redisPort}` })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  const down = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(down.statusCode, 503)
  t.match(down.json(), { status: 'not_ready', checks: { livekit: 'ok', redis: /^Redis is unreachable/ } })
  await new Promise((resolve) => refusing.close(resolve))
  const redis = await startRedisServer({ port: redisPort })
  t.teardown(async () => { await redis.stop() })
  const up = await until(async () => {
    const answer = await app.inject({ method: 'GET', url: '/ready' })
    return answer.statusCode === 200 ? answer.json() : undefined
  }, 200)
  t.same(up, { status: 'ready', checks: { livekit: 'ok', redis: 'ok' } })
})
