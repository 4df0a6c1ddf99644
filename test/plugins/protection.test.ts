import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build } from '../helper.js'
import { sessionRoom, signedDelivery, webhookEvent } from '../webhooks.js'

t.test('overloaded (heap in use past OVERLOAD_MAX_HEAP_RATIO): 503 with Retry-After and the error body; /health, /metrics and LiveKit\'s webhooks still answer, /ready says why it is not ready', async (t) => {
  // A ratio so small that any heap is past it: the service is overloaded from its first sample.
  const app = await build(t, { OVERLOAD_MAX_HEAP_RATIO: 0.000001 })
  let overloaded
  for (let i = 0; i < 40 && overloaded === undefined; i++) {
    const answer = await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active' })
    if (answer.statusCode === 503) overloaded = answer
    else await sleep(100)
  }
  t.ok(overloaded, 'a request was refused')
  t.equal(overloaded?.headers['retry-after'], '5')
  t.match(overloaded?.json(), { statusCode: 503, error: 'Service Unavailable', message: /overloaded \(heapUsedBytes\)/ })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, '/health still answers')
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200, '/metrics still answers')
  const delivery = await signedDelivery(webhookEvent('room_started', sessionRoom('fitness-voice-olga-0a1b2c3d', 'olga', 'general')), { apiKey: app.config.LIVEKIT_API_KEY, apiSecret: app.config.LIVEKIT_API_SECRET })
  const webhook = await app.inject({ method: 'POST', url: '/api/v1/livekit/webhook', headers: delivery.headers, payload: delivery.body })
  t.same([webhook.statusCode, webhook.json()], [200, { outcome: 'applied' }], 'a webhook is applied: refusing it would only delay it and the room\'s later events')
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.match(ready.json(), { status: 'not_ready', checks: { service: 'overloaded' } }, '/ready answers with its own body, as documented')
  const normal = await build(t, { OVERLOAD_MAX_HEAP_RATIO: 0.9 })
  t.equal((await normal.inject({ method: 'GET', url: '/api/v1/voice-sessions/active' })).statusCode, 401, 'with the default ratio, no pressure here')
})

t.test('overloaded (event-loop delay past OVERLOAD_MAX_EVENT_LOOP_DELAY_MS for half a second): 503 eventLoopDelay; after one stall that passed, served', async (t) => {
  const app = await build(t, { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 10 })
  const busyFor = (ms: number) => { const until = performance.now() + ms; while (performance.now() < until); }
  const status = async () => await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active' })
  // One stall of 800 ms: one sampling window holds it (its mean delay past 10 ms whatever else it
  // holds), and the loop turns freely after it.
  await sleep(600)
  busyFor(800)
  // The overdue sample runs first and finds the stall's window past the limit; the request comes after it.
  await sleep(50)
  t.equal((await status()).statusCode, 401, 'served (401: no JWT) right after one stall')
  // The loop blocked 100 ms at a time for a second: every window past 10 ms.
  for (let i = 0; i < 10; i++) {
    busyFor(100)
    await sleep(5)
  }
  const refused = await status()
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '5')
  t.match(refused.json(), { statusCode: 503, error: 'Service Unavailable', message: /overloaded \(eventLoopDelay\)/ })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, '/health still answers')
  t.match((await app.inject({ method: 'GET', url: '/ready' })).json(), { status: 'not_ready', checks: { service: 'overloaded' } })
})

t.test('security headers on the API and on Swagger UI, whose page keeps working under the CSP', async (t) => {
  const app = await build(t)
  for (const url of ['/api/v1/voice-sessions/active', '/api/docs/', '/health']) {
    const answer = await app.inject({ method: 'GET', url })
    t.match(answer.headers['content-security-policy'], /default-src 'self'/, url)
    // Swagger UI's own needs (seen in a browser: test/plugins/swagger-ui-browser.test.ts); and no upgrade to
    // https of a plain-http service's own assets, which leaves the page blank off loopback.
    t.match(answer.headers['content-security-policy'], /style-src [^;]*'unsafe-inline'/, url)
    t.match(answer.headers['content-security-policy'], /img-src [^;]*data:/, url)
    t.notMatch(answer.headers['content-security-policy'], /upgrade-insecure-requests/, url)
    t.equal(answer.headers['x-content-type-options'], 'nosniff', url)
    t.match(answer.headers['strict-transport-security'], /max-age=/, url)
  }
  const page = await app.inject({ method: 'GET', url: '/api/docs/' })
  t.equal(page.statusCode, 200)
  // Everything the page loads comes from the service itself, which the CSP allows.
  for (const asset of page.body.match(/(?:src|href)="([^"]+)"/g) ?? []) {
    const path = asset.replace(/^(?:src|href)="|"$/g, '')
    t.notMatch(path, /^https?:/, `${path} is the service's own`)
    const loaded = await app.inject({ method: 'GET', url: new URL(path, 'http://x/api/docs/').pathname })
    t.equal(loaded.statusCode, 200, `${path} loads`)
  }
})
