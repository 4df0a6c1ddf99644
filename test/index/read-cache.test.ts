import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { createReadCache, type ReadCache } from '#index/read-cache.js'
import { createRedisStore } from '#index/redis-store.js'
import type { SessionStore } from '#index/session-store.js'
import { DEFAULT_KEY_PREFIX, redisKeys } from '#redis/keys.js'
import { waitFor } from '../clients.js'
import { redisConnection } from '../helper.js'
import { sessionStoreContract } from './session-store.contract.js'

/**
 * The Redis session store with its client-side cache, on a real redis-server: the same contract as
 * without it, reads answered from memory until Redis says what they read changed, whoever wrote it.
 */

const keys = redisKeys(DEFAULT_KEY_PREFIX)
const session = (roomName: string, userId = 'ann') => ({ roomName, userId, agentType: 'general' as const, createdAtMs: Date.now() })

t.test('the cached Redis store', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)

  const connect = (t: Test): Redis => redisConnection(t, redis.url)

  /** A store whose reads are cached (an hour at most: what a test sees changing, Redis told it), once tracking is on. */
  async function cachedStore (t: Test, client = connect(t)): Promise<{ store: SessionStore, cache: ReadCache }> {
    const cache = createReadCache(client.duplicate({ protocol: 2, autoResubscribe: false }), keys, { maxAgeMs: 3_600_000 })
    t.teardown(cache.close)
    await waitFor(() => cache.tracking() || undefined, { tries: 50, intervalMs: 20 })
    return { store: createRedisStore(client, keys, cache), cache }
  }

  /** How many scripts Redis has run (the index's reads are one script each). */
  async function scriptsRun (client: Redis): Promise<number> {
    const stats = await client.info('commandstats')
    return [...stats.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((sum, [, calls]) => sum + Number(calls), 0)
  }

  sessionStoreContract(t, async (t) => {
    const client = connect(t)
    await client.flushall()
    return (await cachedStore(t, client)).store
  }, 40)

  t.test('a read again costs Redis nothing; a write by another replica is seen at once, and so is a flush', async (t) => {
    const admin = connect(t)
    await admin.flushall()
    const { store: one, cache } = await cachedStore(t)
    const two = createRedisStore(connect(t), keys)
    await two.add(session('room-1'), Date.now())
    // Redis's word of the add arrives before the reads, which are then kept.
    await sleep(50)
    t.match(await one.get('room-1'), { userId: 'ann', participants: [] })
    t.same((await one.listByUser('ann')).map((s) => s.roomName), ['room-1'])
    const before = await scriptsRun(admin)
    t.match(await one.get('room-1'), { userId: 'ann' })
    t.same((await one.listByUser('ann')).map((s) => s.roomName), ['room-1'])
    t.equal(await scriptsRun(admin), before, 'answered from memory')

    await two.joined('room-1', { sid: 'PA_1', identity: 'ann', role: 'person' }, Date.now())
    const joined = await waitFor(async () => (await one.get('room-1'))?.participants.length === 1 || undefined, { tries: 50, intervalMs: 10 })
    t.ok(joined, 'a join written by the other replica')
    await two.add(session('room-2'), Date.now())
    t.ok(await waitFor(async () => (await one.listByUser('ann')).length === 2 || undefined, { tries: 50, intervalMs: 10 }), 'a start by the other replica')
    await two.end('room-1')
    t.ok(await waitFor(async () => (await one.get('room-1')) === undefined || undefined, { tries: 50, intervalMs: 10 }), 'an end by the other replica')

    t.ok(cache.size() > 0)
    await admin.flushall()
    t.ok(await waitFor(() => cache.size() === 0 || undefined, { tries: 50, intervalMs: 10 }), 'FLUSHALL empties it')
    t.equal(await one.get('room-2'), undefined)
  })

  t.test('its own writes are read back at once, before Redis\'s word arrives', async (t) => {
    await connect(t).flushall()
    const { store } = await cachedStore(t)
    for (let i = 0; i < 20; i++) {
      const room = `room-own-${i}`
      t.equal(await store.get(room), undefined)
      await store.add(session(room), Date.now())
      t.match(await store.get(room), { roomName: room }, `${room} read back`)
      await store.end(room)
      t.equal(await store.get(room), undefined, `${room} gone`)
    }
  })

  t.test('a read that overlaps a change to what it read is answered, not kept; a change to another room does not matter', async (t) => {
    const admin = connect(t)
    await admin.flushall()
    const { cache } = await cachedStore(t)
    const answers = await cache.sessions(['room-x'], async () => {
      await admin.hset(keys.session('room-x'), 'user', 'ann')
      await sleep(50)
      return [undefined]
    })
    t.same(answers, [undefined])
    t.equal(cache.size(), 0, 'nothing kept')
    await cache.sessions(['room-y'], async () => {
      await admin.hset(keys.session('room-z'), 'user', 'ann')
      await admin.hset(keys.participants('room-w'), 'PA_1', '{}')
      await sleep(50)
      return [undefined]
    })
    t.equal(cache.size(), 1, 'kept')
    await cache.userRooms('bo', async () => {
      await admin.sadd(keys.user('bo'), 'room-y')
      await sleep(50)
      return []
    })
    t.equal(cache.size(), 1, 'a user\'s rooms that changed meanwhile are not kept either')
  })

  t.test('what it keeps is what can still answer: an entry older than maxAgeMs goes when another is kept', async (t) => {
    await connect(t).flushall()
    let nowMs = 1_000_000
    const cache = createReadCache(connect(t).duplicate({ protocol: 2, autoResubscribe: false }), keys, { maxAgeMs: 1000, now: () => nowMs })
    t.teardown(cache.close)
    await waitFor(() => cache.tracking() || undefined, { tries: 50, intervalMs: 20 })
    const none = async (roomNames: string[]) => roomNames.map(() => undefined)
    await cache.sessions(['room-a', 'room-b'], none)
    await cache.userRooms('ann', async () => ['room-a'])
    t.equal(cache.size(), 3)
    nowMs += 999
    await cache.sessions(['room-c'], none)
    t.equal(cache.size(), 4, 'all still young enough to answer')
    nowMs += 1
    await cache.sessions(['room-d'], none)
    t.equal(cache.size(), 3, 'room-a and room-b went; room-c and room-d, and the user, stay')
    nowMs += 1000
    await cache.userRooms('bo', async () => [])
    t.equal(cache.size(), 3, 'a user kept lets go of the users too old to answer, not of sessions')
  })

  t.test('it remembers what changed only while a read that began before is in flight', async (t) => {
    const admin = connect(t)
    await admin.flushall()
    const { cache } = await cachedStore(t)
    // Changes with no read in flight: nothing to remember (Redis's word of each one arrives, then goes).
    for (let i = 0; i < 50; i++) await admin.hset(keys.session(`room-${i}`), 'user', 'ann')
    await admin.ping()
    await sleep(50)
    t.equal(cache.changesRemembered(), 0)

    let answer = (): void => {}
    const reading = cache.sessions(['room-r'], async (roomNames) => {
      await new Promise<void>((resolve) => { answer = resolve })
      return roomNames.map(() => undefined)
    })
    for (let i = 0; i < 3; i++) await admin.hset(keys.session(`room-${i}`), 'user', 'bo')
    await admin.hset(keys.session('room-r'), 'user', 'bo')
    t.ok(await waitFor(() => cache.changesRemembered() === 4 || undefined, { tries: 50, intervalMs: 10 }), 'remembered while the read is in flight')
    answer()
    await reading
    t.equal(cache.changesRemembered(), 0, 'let go once it ended')
    t.equal(cache.size(), 0, 'and the read, whose room changed meanwhile, was not kept')
  })

  t.test('the tracking connection killed: the cache empties and stops, then comes back', async (t) => {
    const admin = connect(t)
    await admin.flushall()
    const { store, cache } = await cachedStore(t)
    const two = createRedisStore(connect(t), keys)
    await two.add(session('room-k'), Date.now())
    // Kept once no word of the add is still on its way.
    t.ok(await waitFor(async () => { await store.get('room-k'); return cache.size() > 0 || undefined }, { tries: 50, intervalMs: 10 }))
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    t.ok(await waitFor(() => cache.size() === 0 || undefined, { tries: 50, intervalMs: 10 }), 'emptied')
    t.ok(await waitFor(() => cache.tracking() || undefined, { tries: 100, intervalMs: 50 }), 'tracking again')
    await two.end('room-k')
    t.ok(await waitFor(async () => (await store.get('room-k')) === undefined || undefined, { tries: 50, intervalMs: 10 }), 'and told of changes again')
  })
})
