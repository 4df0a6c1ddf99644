import t from 'tap'
import { createMemoryStore } from '#index/memory-store.js'
import { ENTRY_TTL_MS, TOMBSTONE_TTL_MS } from '#index/session-store.js'
import { sessionStoreContract } from './session-store.contract.js'

sessionStoreContract(t, async () => createMemoryStore())

t.test('memory: entries, tombstones and event ids expire, so nothing grows without bound', async (t) => {
  let now = 1_000_000
  const store = createMemoryStore({ now: () => now })
  await store.add({ roomName: 'room-1', userId: 'a', agentType: 'general', createdAtMs: now }, now)
  await store.end('room-gone')
  const started = { event: 'room_started', session: { roomName: 'room-y', userId: 'a', agentType: 'general', createdAtMs: now } } as const
  await store.applyEvent(started, { id: 'EV_1', atMs: now })
  await store.end('room-y')
  now += TOMBSTONE_TTL_MS + 1
  t.same(await store.applyEvent(started, { id: 'EV_1', atMs: now }), { outcome: 'applied' }, 'an old event id (and tombstone) is forgotten')
  t.equal(await store.add({ roomName: 'room-gone', userId: 'a', agentType: 'general', createdAtMs: now }, now), true, 'an old tombstone is forgotten')
  now += ENTRY_TTL_MS + 1
  t.equal(await store.get('room-1'), undefined, 'an entry unconfirmed for a day is dropped')
  t.same(await store.listByUser('a'), [])
  t.equal(await store.lead('reconcile', 1000), true, 'one replica: always the leader')
})
