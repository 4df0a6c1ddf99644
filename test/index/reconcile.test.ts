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

async function reconcilerOverProxy (t: Test, rereadsPerPass?: number) {
  const proxy = await recordingProxy(t, livekit.port)
  const client = createLivekit({ ...testConfig(livekitConfig(livekit)), LIVEKIT_URL: proxy.url })
  const store = createMemoryStore()
  const reconciler = createReconciler({ store, livekit: client, intervalMs: 60_000, log: silent, rereadsPerPass })
  return { store, reconciler, calls: proxy.calls, twirp: proxy.twirp }
}

/** A session's room in LiveKit, indexed as started 10 s ago: a pass judges only sessions started before its list (and a margin for clocks). */
async function room (name: string, userId: string) {
  const created = await rooms.createRoom({ name, metadata: JSON.stringify(sessionMetadata(userId, 'general', new Date())) })
  t.teardown(() => rooms.deleteRoom(name).catch(() => {}))
  return { roomName: name, userId, agentType: 'general' as const, createdAtMs: Number(created.creationTime) * 1000 - 10_000 }
}

t.test('people are read again only in sessions no webhook spoke of since the last pass; every room is confirmed', async (t) => {
  const { store, reconciler, calls } = await reconcilerOverProxy(t)
  const heard = await room('fitness-voice-olga-00000001', 'olga')
  const quiet = await room('fitness-voice-olga-00000002', 'olga')
  const old = Date.now() - 120_000
  await store.add(heard, old)
  await store.add(quiet, old)
  await store.applyEvent({ event: 'room_started', session: heard }, { id: '', atMs: Date.now() })
  const result = await reconciler.reconcile()
  t.same(result, { checked: 2, closed: 0, reread: 1 })
  t.same(calls.filter((call) => call === 'ListParticipants').length, 1, 'one participant read: the quiet session\'s')
  for (const name of [heard.roomName, quiet.roomName]) t.ok((await store.get(name))!.checkedAtMs > old, `${name} confirmed`)
})

t.test('one full ListRooms a pass; a room gone from LiveKit leaves the index, none is skipped, and one started after the list is left for the next pass', async (t) => {
  const { store, reconciler, calls } = await reconcilerOverProxy(t)
  const live = []
  for (let i = 0; i < 3; i++) live.push(await room(`fitness-voice-pia-1000000${i}`, 'pia'))
  for (const session of live) {
    await store.add(session, Date.now())
    await store.applyEvent({ event: 'room_started', session }, { id: '', atMs: Date.now() })
  }
  // 150 rooms LiveKit never had, around the live ones: more than one chunk of RECONCILE_BATCH (100).
  const before = Date.now() - 60_000
  for (let i = 0; i < 150; i++) await store.add({ roomName: `fitness-voice-pia-gone${String(i).padStart(4, '0')}`, userId: 'pia', agentType: 'general', createdAtMs: before }, Date.now())
  // Started as the pass lists LiveKit's rooms: not in the list, not yet judged.
  await store.add({ roomName: 'fitness-voice-pia-starting', userId: 'pia', agentType: 'general', createdAtMs: Date.now() }, Date.now())
  const result = await reconciler.reconcile()
  t.same(result, { checked: 153, closed: 150, reread: 0 })
  t.same(calls.filter((call) => call === 'ListRooms').length, 1, 'one ListRooms')
  t.same((await store.startedBefore(Number.MAX_SAFE_INTEGER)).sort(), [...live.map((session) => session.roomName), 'fitness-voice-pia-starting'].sort())
})

t.test('quiet sessions past the re-reads a pass allows take turns: each is read again within the passes it takes', async (t) => {
  const { store, reconciler, twirp } = await reconcilerOverProxy(t, 2)
  const quiet = []
  for (let i = 0; i < 3; i++) quiet.push(await room(`fitness-voice-quinn-2000000${i}`, 'quinn'))
  for (const session of quiet) await store.add(session, Date.now() - 120_000)
  const passes = [await reconciler.reconcile(), await reconciler.reconcile()]
  t.same(passes.map((pass) => pass.reread), [2, 2], 'two a pass')
  t.same(passes.map((pass) => pass.checked), [3, 3], 'every session confirmed each pass')
  const read = twirp.filter((call) => call.method === 'ListParticipants').map((call) => (call.body as { room: string }).room)
  t.equal(read.length, 4)
  t.same([...new Set(read)].sort(), quiet.map((session) => session.roomName).sort(), 'each quiet session in its turn')
})
