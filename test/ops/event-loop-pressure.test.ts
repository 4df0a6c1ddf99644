import t from 'tap'
import { createEventLoopPressure, WINDOWS_OVER } from '#ops/event-loop-pressure.js'

/** A pressure fed the given window means, one per tick, on no timer. */
function fed (maxDelayMs: number, means: number[]) {
  const queue = [...means]
  const pressure = createEventLoopPressure({ maxDelayMs, sample: () => queue.shift() ?? 0, everyMs: 0 })
  t.teardown(pressure.stop)
  return pressure
}

t.test('overloaded only once the delay stays past the limit for WINDOWS_OVER windows in a row', async (t) => {
  t.equal(WINDOWS_OVER, 2)
  const pressure = fed(1000, [1500, 20, 1200, 1300, 1100, 30])
  const seen = []
  for (let i = 0; i < 6; i++) {
    pressure.tick()
    seen.push(pressure.overloaded())
  }
  t.same(seen, [false, false, false, true, true, false], 'one stall that passed is no overload; a lasting delay is, until it ends')
})

t.test('a window in which the loop never turned counts as past the limit', async (t) => {
  const pressure = fed(1000, [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY])
  pressure.tick()
  pressure.tick()
  t.equal(pressure.overloaded(), true)
  t.equal(pressure.delayMs(), Number.POSITIVE_INFINITY)
})

t.test('a limit of 0 is never overloaded (OVERLOAD_MAX_EVENT_LOOP_DELAY_MS=0: not checked)', async (t) => {
  const pressure = fed(0, [5000, 5000, 5000])
  for (let i = 0; i < 3; i++) pressure.tick()
  t.equal(pressure.overloaded(), false)
})

t.test('on Node\'s own delay histogram: a loop kept busy is overloaded, an idle one is not', async (t) => {
  const pressure = createEventLoopPressure({ maxDelayMs: 20, everyMs: 0 })
  t.teardown(pressure.stop)
  const busyFor = (ms: number) => { const until = performance.now() + ms; while (performance.now() < until); }
  for (let window = 0; window < WINDOWS_OVER; window++) {
    // Each window: the loop blocked 100 ms at a time, so its delay samples are far past 20 ms.
    for (let i = 0; i < 3; i++) {
      busyFor(100)
      await new Promise((resolve) => setTimeout(resolve, 15))
    }
    pressure.tick()
  }
  t.equal(pressure.overloaded(), true, `busy: ${pressure.delayMs().toFixed(0)} ms`)
  for (let window = 0; window < WINDOWS_OVER; window++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    pressure.tick()
  }
  t.equal(pressure.overloaded(), false, `idle again: ${pressure.delayMs().toFixed(0)} ms`)
})
