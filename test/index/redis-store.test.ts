import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { createRedisDispatchLedger } from '#agents/redis-ledger.js'
import { createRedisStore } from '#index/redis-store.js'
import type { NewSession } from '#index/session-store.js'
import { DEFAULT_KEY_PREFIX, redisKeys } from '#redis/keys.js'
import { dispatchLedgerContract } from '../agents/ledger.contract.js'
import { redisConnection } from '../helper.js'
import { sessionStoreContract } from './session-store.contract.js'

const keys = redisKeys(DEFAULT_KEY_PREFIX)

function session (roomName: string, userId = 'a', agentType: NewSession['agentType'] = 'general'): NewSession {
  return { roomName, userId, agentType, createdAtMs: Date.now() }
}

// Skipped, saying why, where redis-server is not installed; .ci/run installs it.
t.test('the Redis session store, on a real redis-server', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)

  /** A connection for the test, closed after it. */
  const connect = (t: Test): Redis => redisConnection(t, redis.url)

  /** A store on a Redis emptied for the test. */
  async function newStore (t: Test) {
    const client = connect(t)
    await client.flushall()
    return createRedisStore(client, keys)
  }

  sessionStoreContract(t, newStore, 40)

  t.test('redis: the shared dispatch ledger keeps the contract, between two replicas', async (t) => {
    dispatchLedgerContract(t, async (t, claimTtlMs) => {
      await connect(t).flushall()
      return [createRedisDispatchLedger({ redis: connect(t), keys, claimTtlMs }), createRedisDispatchLedger({ redis: connect(t), keys, claimTtlMs })]
    })
  })

  t.test('redis: two replicas share one index; one of them leads a job at a time', async (t) => {
    const one = await newStore(t)
    const two = createRedisStore(connect(t), keys)
    await one.add({ roomName: 'room-1', userId: 'a', agentType: 'general', createdAtMs: Date.now() }, Date.now())
    t.match(await two.get('room-1'), { userId: 'a' }, 'written by one, read by the other')
    await two.end('room-1')
    t.equal(await one.get('room-1'), undefined)
    t.equal(await one.add({ roomName: 'room-1', userId: 'a', agentType: 'general', createdAtMs: Date.now() }, Date.now()), false, 'the tombstone is shared')
    const finished = { event: 'room_finished', roomName: 'room-2' } as const
    await one.applyEvent(finished, { id: 'EV_1', atMs: Date.now() })
    t.same(await two.applyEvent(finished, { id: 'EV_1', atMs: Date.now() }), { outcome: 'duplicate' }, 'an event applied by one is a duplicate for the other')
    t.equal(await one.lead('reconcile', 60_000), true)
    t.equal(await two.lead('reconcile', 60_000), false)
    t.equal(await one.lead('reconcile', 60_000), false, 'until the lease runs out')
    await two.resign('reconcile')
    t.equal(await two.lead('reconcile', 60_000), false, 'resigning a lead another holds changes nothing')
    await one.resign('reconcile')
    t.equal(await two.lead('reconcile', 60_000), true, 'once its holder resigns, another may lead')
  })

  t.test('redis: every key carries the prefix and an expiry, so nothing grows without bound', async (t) => {
    const store = await newStore(t)
    await store.add({ roomName: 'room-1', userId: 'a', agentType: 'general', createdAtMs: Date.now() }, Date.now())
    await store.joined('room-1', { sid: 'PA_1', identity: 'a', role: 'person' }, Date.now())
    await store.left('room-1', 'PA_2', Date.now())
    await store.end('room-2')
    await store.reserve('room-3', 'a', { perUser: 3, live: 0 }, Date.now(), 60_000)
    await store.applyEvent({ event: 'participant_joined', roomName: 'room-1', participant: { sid: 'PA_3', identity: 'a', role: 'person' } }, { id: 'EV_1', atMs: Date.now() })
    const admin = new Redis(redis.url)
    t.teardown(() => admin.quit())
    const written = await admin.keys('*')
    t.ok(written.length >= 6)
    for (const key of written) {
      t.ok(key.startsWith(DEFAULT_KEY_PREFIX), key)
      // The set of all rooms is trimmed by the reconcile (and holds live rooms only); every other key expires.
      if (key !== keys.rooms) t.ok(await admin.pttl(key) > 0, `${key} expires`)
    }
  })

  t.test('redis: a store under another prefix writes only its keys; two prefixes on one Redis do not see each other', async (t) => {
    const client = connect(t)
    await client.flushall()
    const stagingKeys = redisKeys('staging:')
    const staging = createRedisStore(client, stagingKeys)
    const production = createRedisStore(connect(t), keys)
    const ledger = createRedisDispatchLedger({ redis: client, keys: stagingKeys, claimTtlMs: 60_000 })
    await staging.add(session('room-1'), Date.now())
    await staging.add(session('room-2'), Date.now())
    await staging.joined('room-1', { sid: 'PA_1', identity: 'a', role: 'person' }, Date.now())
    await staging.left('room-1', 'PA_2', Date.now())
    await staging.confirm([session('room-1')], Date.now())
    await staging.end('room-2')
    await staging.reserve('room-3', 'a', { perUser: 3, live: 3 }, Date.now(), 60_000)
    await staging.applyEvent({ event: 'room_finished', roomName: 'room-4' }, { id: 'EV_1', atMs: Date.now() })
    await staging.setGeneration('g-1')
    await staging.lead('reconcile', 60_000)
    await ledger.claim('room-1')
    await ledger.countDispatchBelow('room-1', 1)
    const written = await client.keys('*')
    t.ok(written.length >= 10)
    for (const key of written) t.ok(key.startsWith('staging:'), key)

    t.equal(await production.get('room-1'), undefined)
    t.same(await production.listByUser('a'), [])
    t.equal(await production.count(), 0)
    t.equal(await production.add(session('room-1', 'a', 'workout'), Date.now()), true)
    t.equal(await production.add(session('room-2'), Date.now()), true, 'the other prefix\'s tombstone is not this one\'s')
    t.match(await production.get('room-1'), { agentType: 'workout', participants: [] })
    t.match(await staging.get('room-1'), { agentType: 'general', participants: [{ sid: 'PA_1' }] })
    t.same((await staging.listByUser('a')).map((s) => s.roomName), ['room-1'])
    t.same((await production.listByUser('a')).map((s) => s.roomName).sort(), ['room-1', 'room-2'])
    t.equal(await staging.count(), 1)
    t.equal(await production.count(), 2)
    await production.end('room-1')
    t.match(await staging.get('room-1'), { userId: 'a' }, 'ending under one prefix leaves the other')
    t.same((await staging.listByUser('a')).map((s) => s.roomName), ['room-1'])
    t.same(await production.applyEvent({ event: 'room_finished', roomName: 'room-4' }, { id: 'EV_1', atMs: Date.now() }), { outcome: 'ignored' }, 'the other prefix\'s event ids are not this one\'s')
    t.equal(await production.generation(), undefined)
    t.equal(await production.lead('reconcile', 60_000), true)
    t.equal(await ledger.isClaimed('room-1'), true)
    t.equal(await createRedisDispatchLedger({ redis: client, keys, claimTtlMs: 60_000 }).isClaimed('room-1'), false)
  })

  // The user a session names is read before the script that needs its key; another replica can
  // change it in between, which only a stub of the read makes happen on demand.
  t.test('redis: end reads the session\'s user again when it changed after it read it', async (t) => {
    const client = connect(t)
    await client.flushall()
    const store = createRedisStore(client, keys)
    const other = createRedisStore(connect(t), keys)
    const hget = client.hget.bind(client)
    let beforeRead = async () => {}
    client.hget = (async (key: string, field: string) => {
      const user = await hget(key, field)
      await beforeRead()
      beforeRead = async () => {}
      return user
    }) as typeof client.hget

    // Read while absent, added by another replica before the script runs.
    beforeRead = async () => { await other.add(session('room-1'), Date.now()) }
    t.match(await store.end('room-1'), { roomName: 'room-1', userId: 'a' })
    t.same(await client.smembers(keys.user('a')), [], 'the room left its user\'s rooms')

    // Read as one user, named another's by the time the script runs (ended, and come back).
    await store.add(session('room-2', 'a'), Date.now())
    beforeRead = async () => {
      await other.end('room-2')
      await client.del(keys.ended('room-2'))
      await other.add(session('room-2', 'b'), Date.now())
    }
    t.match(await store.end('room-2'), { roomName: 'room-2', userId: 'b' })
    t.same(await client.smembers(keys.user('b')), [], 'the room left its current user\'s rooms')

    await client.del(keys.ended('room-2'))
    await store.add(session('room-2', 'a'), Date.now())
    client.hget = (async () => 'nobody') as typeof client.hget
    await t.rejects(store.end('room-2'), /changed 3 times/, 'a bounded number of reads')
  })
})
