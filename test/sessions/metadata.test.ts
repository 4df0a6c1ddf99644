import fc from 'fast-check'
import t from 'tap'
import { AGENT_TYPES } from '#agents/agent-types.js'
import { parseSessionMetadata, sessionMetadata } from '#sessions/metadata.js'
import { createdAtOf } from '#livekit/room-time.js'

t.test('metadata names the owner, the agent type, the mode and the time', async (t) => {
  const metadata = sessionMetadata('user-1', 'diet', new Date('2026-01-02T03:04:05.000Z'))
  t.same(metadata, { user_id: 'user-1', agent_type: 'diet', mode: 'voice', created_at: '2026-01-02T03:04:05.000Z' })
  t.same(parseSessionMetadata(JSON.stringify(metadata)), metadata)
})

t.test('metadata that is missing, not JSON or of another shape belongs to nobody', async (t) => {
  for (const raw of [undefined, '', 'not json', '{', 'null', '42', '[]', '"user-1"', '{}',
    '{"user_id":"u","agent_type":"general","mode":"voice"}',
    '{"user_id":"","agent_type":"general","mode":"voice","created_at":"x"}',
    '{"user_id":"u","agent_type":"yoga","mode":"voice","created_at":"x"}',
    '{"user_id":"u","agent_type":"general","mode":"video","created_at":"x"}',
    '{"user_id":7,"agent_type":"general","mode":"voice","created_at":"x"}']) {
    t.equal(parseSessionMetadata(raw), undefined, String(raw))
  }
})

t.test('property: metadata survives the round trip through the room', async (t) => {
  fc.assert(fc.property(
    fc.string({ minLength: 1, maxLength: 128 }),
    fc.constantFrom(...AGENT_TYPES),
    fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
    (userId, agentType, date) => {
      const parsed = parseSessionMetadata(JSON.stringify(sessionMetadata(userId, agentType, date)))
      return parsed !== undefined && parsed.user_id === userId && parsed.agent_type === agentType &&
        parsed.mode === 'voice' && new Date(parsed.created_at).getTime() === date.getTime()
    }
  ), { numRuns: 200 })
  t.pass('200 runs')
})

t.test('created_at comes from the room\'s creation time', async (t) => {
  t.equal(createdAtOf({ creationTime: 1_700_000_000n, creationTimeMs: 0n }), '2023-11-14T22:13:20.000Z')
  t.equal(createdAtOf({ creationTime: 1_700_000_000n, creationTimeMs: 1_700_000_000_123n }), '2023-11-14T22:13:20.123Z')
})
