import fc from 'fast-check'
import t from 'tap'
import { statusBody } from '#http/voice-session-bodies.js'

t.test('dates are ISO 8601 of the given times, whatever was formatted before (the formatted dates are reused)', async (t) => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 4_102_444_800_000 }), { minLength: 1, maxLength: 50 }), (times) => {
    for (const ms of [...times, ...times]) {
      const body = statusBody({ roomName: 'room', people: 0, agentConnected: false, agentState: 'none', createdAtMs: ms, endsAtMs: ms + 1000 })
      if (body.created_at !== new Date(ms).toISOString() || body.ends_at !== new Date(ms + 1000).toISOString()) return false
    }
    return true
  }), { numRuns: 200 })
  // More times than are kept: the oldest are dropped and made again, still right.
  for (let ms = 0; ms < 25_000; ms++) {
    const body = statusBody({ roomName: 'room', people: 0, agentConnected: false, agentState: 'none', createdAtMs: ms * 1000, endsAtMs: ms * 1000 })
    if (body.created_at !== new Date(ms * 1000).toISOString()) t.fail(`wrong date for ${ms * 1000}`)
  }
  t.pass('25,000 distinct dates, each right')
})
