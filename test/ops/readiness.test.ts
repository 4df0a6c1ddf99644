import type { Redis } from 'ioredis'
import t from 'tap'
import { createReadiness, LIVEKIT_CHECK_EVERY_MS, type ReadinessOptions } from '#ops/readiness.js'

// A fake LiveKit and Redis: these are checks of the readiness logic itself; test/routes/health.test.ts
// and test/routes/dependency-faults.test.ts run it against real servers.

/** A promise settled from outside, for a dependency that answers when the test says so. */
function deferred<T> (): { promise: Promise<T>, resolve: (value: T) => void } {
  let settle: (value: T) => void = () => {}
  const promise = new Promise<T>((resolve) => { settle = resolve })
  return { promise, resolve: settle }
}

function livekitAnswering (listRooms: () => Promise<unknown>): ReadinessOptions['livekit'] {
  return { rooms: { listRooms } } as unknown as ReadinessOptions['livekit']
}

const up = livekitAnswering(async () => [])

/** /ready's body with LiveKit down for `reason` and no Redis: still ready, degraded. */
function livekitDown (reason: string) {
  return { status: 'ready', degraded: true, checks: { livekit: reason }, dependencies: { livekit: { state: 'down', reason } }, webhooks: 'unknown' }
}

t.test('LiveKit is asked at most every 2 s, however often /ready is asked', async (t) => {
  let asked = 0
  let clock = 0
  const readiness = createReadiness({ livekit: livekitAnswering(async () => { asked++; return [] }), redis: undefined, requestTimeoutMs: 1000, now: () => clock })
  for (; clock < LIVEKIT_CHECK_EVERY_MS; clock += 250) await readiness.check()
  t.equal(asked, 1, 'once in the first 2 s')
  clock = LIVEKIT_CHECK_EVERY_MS
  await readiness.check()
  t.equal(asked, 2, 'again once they have passed')
})

t.test('a dependency that is down leaves the replica ready, degraded, naming it with its reason', async (t) => {
  const readiness = createReadiness({ livekit: livekitAnswering(async () => { throw new TypeError('fetch failed') }), redis: undefined, requestTimeoutMs: 1000 })
  t.same(await readiness.check(), livekitDown('LiveKit is unreachable'))
})

t.test('a silent LiveKit is reported as not answering without being waited for; its late answer is read next time', async (t) => {
  const answer = deferred<unknown>()
  let asked = 0
  const readiness = createReadiness({ livekit: livekitAnswering(async () => { asked++; return await answer.promise }), redis: undefined, requestTimeoutMs: 5000, answerWithinMs: 20, now: () => 0 })
  t.same(await readiness.check(), livekitDown('LiveKit is not answering (nothing within 20 ms)'))
  await readiness.check()
  t.equal(asked, 1, 'no second check while one is in flight')
  answer.resolve([])
  t.match(await readiness.check(), { status: 'ready', degraded: false, checks: { livekit: 'ok' } })
})

t.test('Redis: one ping in flight at a time, and a silent one is reported as not answering', async (t) => {
  const pong = deferred<string>()
  let pings = 0
  const redis = { ping: async () => { pings++; return await pong.promise } } as unknown as Redis
  const readiness = createReadiness({ livekit: up, redis, requestTimeoutMs: 1000, answerWithinMs: 20 })
  const [first, second] = await Promise.all([readiness.check(), readiness.check()])
  t.equal(pings, 1)
  for (const answer of [first, second]) {
    t.match(answer, { status: 'ready', degraded: true, checks: { livekit: 'ok', redis: 'Redis is not answering (nothing within 20 ms)' }, dependencies: { livekit: { state: 'up' }, redis: { state: 'down' } } })
  }
  pong.resolve('PONG')
  t.same(await readiness.check(), { status: 'ready', degraded: false, checks: { livekit: 'ok', redis: 'ok' }, dependencies: { livekit: { state: 'up' }, redis: { state: 'up' } }, webhooks: 'unknown' }, 'the late answer is read')
  t.equal(pings, 1)
  await readiness.check()
  t.equal(pings, 2, 'the next check pings again, the last ping having answered')
})

t.test('503 only for what is the replica\'s own: shutting down, overloaded, its index not usable yet', async (t) => {
  let pressure = false
  let usable: () => boolean | Promise<boolean> = () => true
  const readiness = createReadiness({ livekit: up, redis: undefined, requestTimeoutMs: 1000, answerWithinMs: 20, overloaded: () => pressure, indexUsable: () => usable() })
  t.same(await readiness.check(), { status: 'ready', degraded: false, checks: { livekit: 'ok' }, dependencies: { livekit: { state: 'up' } }, webhooks: 'unknown' })

  usable = () => false
  t.same(await readiness.check(), { status: 'not_ready', degraded: false, checks: { livekit: 'ok', index: 'not usable yet' }, dependencies: { livekit: { state: 'up' } }, webhooks: 'unknown' })
  usable = async () => { throw new Error('no generation') }
  t.match(await readiness.check(), { status: 'not_ready', checks: { index: 'not usable (no generation)' } })
  usable = async () => await new Promise<boolean>(() => {})
  t.match(await readiness.check(), { status: 'not_ready', checks: { index: 'not usable (no answer within 20 ms)' } }, 'an index that does not say is not taken for usable')
  usable = async () => true

  pressure = true
  t.match(await readiness.check(), { status: 'not_ready', checks: { service: 'overloaded' } })
  pressure = false
  t.match(await readiness.check(), { status: 'ready' })
  readiness.drain()
  t.same(await readiness.check(), { status: 'not_ready', degraded: false, checks: { livekit: 'ok', service: 'shutting down' }, dependencies: { livekit: { state: 'up' } }, webhooks: 'unknown' })
})
