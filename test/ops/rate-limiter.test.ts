import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { createRateLimiter, type RateVerdict, type SharedCounter } from '#ops/rate-limiter.js'

/** The limiter's own logic, with a clock it is given and a shared count in a Map (test/routes/limits.test.ts has a real Redis). */

/** A shared count as Redis keeps it (src/redis/window-counter.ts): a window starts with its first count; the calls it got. */
function mapCounter (clock: { ms: number }) {
  const counts = new Map<string, { total: number, resetAtMs: number }>()
  const calls: number[] = []
  const counter: SharedCounter = async (key, count, windowMs) => {
    calls.push(count)
    let entry = counts.get(key)
    if (entry === undefined || clock.ms >= entry.resetAtMs) entry = { total: 0, resetAtMs: clock.ms + windowMs }
    entry.total += count
    counts.set(key, entry)
    return { total: entry.total, resetInMs: entry.resetAtMs - clock.ms }
  }
  return { counter, calls, total: (key: string) => counts.get(key)?.total ?? 0 }
}

const allowed = async (verdict: RateVerdict | Promise<RateVerdict>) => (await verdict).allowed

t.test('in one process: exactly max per window from its first request, then refused until it ends', async (t) => {
  const clock = { ms: 1_000_000 }
  const limiter = createRateLimiter({ max: 3, windowMs: 60_000, now: () => clock.ms })
  t.teardown(limiter.close)
  const verdicts = [limiter.take('ann'), limiter.take('ann'), limiter.take('ann')]
  t.same(verdicts, [{ allowed: true }, { allowed: true }, { allowed: true }], 'synchronous verdicts')
  clock.ms += 20_000
  t.same(limiter.take('ann'), { allowed: false, retryInMs: 40_000 }, 'refused for what is left of the window')
  t.same(limiter.take('bo'), { allowed: true }, 'another key has its own window')
  clock.ms += 40_000
  t.same(limiter.take('ann'), { allowed: true }, 'a new window')
})

t.test('shared: under half the limit, no round trip before the answer; the counts follow in the background', async (t) => {
  const clock = { ms: 0 }
  const shared = mapCounter(clock)
  const limiter = createRateLimiter({ max: 10, windowMs: 1000, shared: shared.counter, flushEveryMs: 1, now: () => clock.ms })
  t.teardown(limiter.close)
  const verdicts = Array.from({ length: 5 }, () => limiter.take('ann'))
  t.ok(verdicts.every((verdict) => !(verdict instanceof Promise) && verdict.allowed), 'five synchronous yeses')
  t.same(shared.calls, [], 'nothing asked yet')
  await sleep(20)
  t.same(shared.calls, [5], 'one addition of five')
  t.ok(limiter.take('ann') instanceof Promise, 'from half the limit on, every request is counted before its answer')
})

t.test('shared: two replicas keep one limit; far apart in time, exactly; at once, within (N - 1) x max / 2', async (t) => {
  for (const max of [1, 2, 3, 10, 101]) {
    const clock = { ms: 0 }
    const shared = mapCounter(clock)
    const replicas = [0, 1].map(() => createRateLimiter({ max, windowMs: 60_000, shared: shared.counter, flushEveryMs: 1, now: () => clock.ms }))
    let through = 0
    for (let i = 0; i < 3 * max; i++) {
      if (await allowed((replicas[i % 2] as typeof replicas[0]).take('ann'))) through++
      await sleep(3)
    }
    t.equal(through, max, `max ${max}: requests a flush apart`)

    const atOnce = [0, 1].map(() => createRateLimiter({ max, windowMs: 60_000, shared: shared.counter, flushEveryMs: 60_000, now: () => clock.ms }))
    let burst = 0
    for (let i = 0; i < 3 * max; i++) if (await allowed((atOnce[i % 2] as typeof atOnce[0]).take('bo'))) burst++
    t.ok(burst >= max && burst <= max + Math.floor(max / 2), `max ${max}: ${burst} let through at once`)
    for (const limiter of [...replicas, ...atOnce]) limiter.close()
  }
})

t.test('shared: the window is the shared one, and a failed count lets requests through', async (t) => {
  const clock = { ms: 0 }
  const shared = mapCounter(clock)
  await shared.counter('ann', 1, 60_000)
  clock.ms = 50_000
  const limiter = createRateLimiter({ max: 2, windowMs: 60_000, shared: shared.counter, now: () => clock.ms })
  t.teardown(limiter.close)
  t.same(await limiter.take('ann'), { allowed: true }, 'the second of the shared window')
  t.same(await limiter.take('ann'), { allowed: false, retryInMs: 10_000 }, 'refused until the shared window ends, not its own')

  const failing = createRateLimiter({ max: 1, windowMs: 1000, shared: async () => { throw new Error('Redis is away') } })
  t.teardown(failing.close)
  t.same([await failing.take('ann'), await failing.take('ann')], [{ allowed: true }, { allowed: true }])
})

t.test('buckets of windows gone by are forgotten', async (t) => {
  const clock = { ms: 0 }
  const limiter = createRateLimiter({ max: 4, windowMs: 1000, shared: mapCounter(clock).counter, flushEveryMs: 1, now: () => clock.ms })
  t.teardown(limiter.close)
  for (let i = 0; i < 50; i++) limiter.take(`user-${i}`)
  t.equal(limiter.buckets(), 50)
  clock.ms = 1000
  await sleep(10)
  t.equal(limiter.buckets(), 0)
})
