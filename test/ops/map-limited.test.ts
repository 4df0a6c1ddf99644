import fc from 'fast-check'
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { mapLimited } from '#ops/map-limited.js'

t.test('property: same results as Promise.all, in order, never more than the limit at once', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 40 }), fc.integer({ min: 1, max: 10 }), async (delays, limit) => {
    let running = 0
    let most = 0
    const results = await mapLimited(delays, limit, async (delay) => {
      running++
      most = Math.max(most, running)
      await sleep(delay)
      running--
      return delay * 2
    })
    return most <= limit && results.every((value, i) => value === (delays[i] ?? 0) * 2) && results.length === delays.length
  }), { numRuns: 100 })
  t.pass('100 runs')
})

t.test('a failing task rejects the whole', async (t) => {
  await t.rejects(mapLimited([1, 2, 3], 2, async (n) => { if (n === 2) throw new Error('two'); return n }), /two/)
})
