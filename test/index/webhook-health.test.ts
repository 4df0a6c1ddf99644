import t from 'tap'
import { createWebhookHealth } from '#index/webhook-health.js'

/** Whether webhooks arrive, from what the index heard of the rooms this replica created (a fake index: pure logic). */
function harness () {
  let now = 1_000_000
  const heard = new Map<string, number | undefined>()
  const warnings: string[] = []
  const log = { warn: (_: unknown, msg: string) => { warnings.push(msg) }, info () {} } as never
  const store = { lastHeard: async (names: string[]) => names.map((name) => heard.has(name) ? heard.get(name) : 0) }
  const health = createWebhookHealth({ store, log, confirmWithinMs: 5000, windowMs: 60_000, now: () => now })
  return { health, heard, warnings, later: (ms: number) => { now += ms } }
}

t.test('unknown until a room could have been heard of; silent when none was, said once; arriving once one is', async (t) => {
  const { health, heard, warnings, later } = harness()
  t.equal(await health.check(), 'unknown')
  health.expect('room-1')
  later(4000)
  t.equal(await health.check(), 'unknown', 'its room_started may still come')
  later(1000)
  t.equal(await health.check(), 'silent')
  health.expect('room-2')
  later(5000)
  t.equal(await health.check(), 'silent')
  t.equal(warnings.filter((msg) => msg.startsWith('LiveKit webhooks are not arriving')).length, 1, 'said once')
  heard.set('room-2', 123)
  t.equal(await health.check(), 'arriving')
})

t.test('one lost room_started among heard rooms is no silence; two are', async (t) => {
  const { health, heard, later } = harness()
  health.expect('room-1')
  heard.set('room-1', 1)
  later(5000)
  t.equal(await health.check(), 'arriving')
  health.expect('room-2')
  later(5000)
  t.equal(await health.check(), 'arriving', 'one room unheard')
  health.expect('room-3')
  later(5000)
  t.equal(await health.check(), 'silent', 'two rooms unheard since the last heard one')
})

t.test('a room that left the index (ended) proves nothing; rooms older than the window no longer count', async (t) => {
  const { health, heard, later } = harness()
  health.expect('room-ended')
  heard.set('room-ended', undefined)
  later(5000)
  t.equal(await health.check(), 'unknown')
  health.expect('room-1')
  later(5000)
  t.equal(await health.check(), 'silent')
  later(60_000)
  health.expect('room-2')
  heard.set('room-2', 1)
  later(5000)
  t.equal(await health.check(), 'arriving')
})
