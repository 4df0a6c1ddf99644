import { RoomServiceClient } from 'livekit-server-sdk'
import t, { type Test } from 'tap'
import { createMemoryStore } from '#index/memory-store.js'
import { createReconciler } from '#index/reconcile.js'
import { createLivekit } from '#livekit/livekit.js'
import { sessionMetadata } from '#sessions/metadata.js'
import { livekitConfig, startLivekit, testConfig } from '../helper.js'
import { recordingProxy } from '../livekit-proxy.js'

/** The reconcile against a real livekit-server, through a proxy that records its calls. */

const livekit = await startLivekit(t)
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const silent = { info () {}, debug () {}, warn () {}, error () {} } as never

async function reconcilerOverProxy (t: Test) {
  const proxy = await recordingProxy(t, livekit.port)
  const client = createLivekit({ ...testConfig(livekitConfig(livekit)), LIVEKIT_URL: proxy.url })
  const store = createMemoryStore()
  const reconciler = createReconciler({ store, livekit: client, intervalMs: 60_000, log: silent })
  return { store, reconciler, calls: proxy.calls }
}

async function room (name: string, userId: string) {
  const created = await rooms.createRoom({ name, metadata: JSON.stringify(sessionMetadata(userId, 'general', new Date())) })
  t.teardown(() => rooms.deleteRoom(name).catch(() => {}))
  return { roomName: name, userId, agentType: 'general' as const, createdAtMs: Number(created.creationTime) * 1000 }
}

t.test('people are read again only in sessions no webhook spoke of since the last pass; every room is confirmed', async (t) => {
  const { store, reconciler, calls } = await reconcilerOverProxy(t)
  const heard = await room('fitness-voice-olga-00000001', 'olga')
  const quiet = await room('fitness-voice-olga-00000002', 'olga')
  const old = Date.now() - 120_000
  await store.add(heard, old)
  await store.add(quiet, old)
  await store.heard(heard.roomName, Date.now())
  const result = await reconciler.reconcile()
  t.same(result, { checked: 2, closed: 0, reread: 1 })
  t.same(calls.filter((call) => call === 'ListParticipants').length, 1, 'one participant read: the quiet session\'s')
  for (const name of [heard.roomName, quiet.roomName]) t.ok((await store.get(name))!.checkedAtMs > old, `${name} confirmed`)
})

t.test('room names are read in chunks; a room gone from LiveKit leaves the index, and no room is skipped', async (t) => {
  const { store, reconciler, calls } = await reconcilerOverProxy(t)
  const live = []
  for (let i = 0; i < 3; i++) live.push(await room(`fitness-voice-pia-1000000${i}`, 'pia'))
  for (const session of live) {
    await store.add(session, Date.now())
    await store.heard(session.roomName, Date.now())
  }
  // 150 rooms LiveKit never had, around the live ones: more than one chunk of RECONCILE_BATCH (100).
  for (let i = 0; i < 150; i++) await store.add({ roomName: `fitness-voice-pia-gone${String(i).padStart(4, '0')}`, userId: 'pia', agentType: 'general', createdAtMs: Date.now() }, Date.now())
  const result = await reconciler.reconcile()
  t.same(result, { checked: 153, closed: 150, reread: 0 })
  t.ok(calls.filter((call) => call === 'ListRooms').length >= 2, 'more than one chunk')
  t.same((await store.roomNames(0, 1000)).sort(), live.map((session) => session.roomName).sort())
})
