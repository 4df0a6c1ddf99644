import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { createRedisDispatchLedger } from '#agents/redis-ledger.js'
import { createRedisStore, KEY_PREFIX } from '#index/redis-store.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { dispatchLedgerContract } from '../agents/ledger.contract.js'
import { sessionStoreContract } from './session-store.contract.js'

// Skipped, saying why, where redis-server is not installed; .ci/run installs it.
t.test('the Redis session store, on a real redis-server', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)

  /** A connection for the test, closed after it. */
  function connect (t: Test): Redis {
    const client = new Redis(redis.url)
    t.teardown(() => client.quit())
    return client
  }

  /** A store on a Redis emptied for the test. */
  async function newStore (t: Test) {
    const client = connect(t)
    await client.flushall()
    return createRedisStore(client)
  }

  sessionStoreContract(t, newStore, 40)

  t.test('redis: the shared dispatch ledger keeps the contract; a claim expires with its holder', async (t) => {
    const client = connect(t)
    await client.flushall()
    await dispatchLedgerContract(t, createRedisDispatchLedger({ redis: client, claimTtlMs: 60_000 }))
    const one = createRedisDispatchLedger({ redis: client, claimTtlMs: 100 })
    const two = createRedisDispatchLedger({ redis: connect(t), claimTtlMs: 100 })
    t.equal(await one.claim('room-x'), true)
    t.equal(await two.claim('room-x'), false, 'held by another replica')
    await two.release('room-x')
    t.equal(await one.isClaimed('room-x'), true, 'only the holder releases a claim')
    for (let i = 0; i < 50 && await one.isClaimed('room-x'); i++) await sleep(20)
    t.equal(await two.claim('room-x'), true, 'a claim whose holder died expires and can be taken')
    t.equal(await one.countDispatch('room-x'), 1)
    t.equal(await two.countDispatch('room-x'), 2, 'one count across replicas')
  })

  t.test('redis: two replicas share one index; one of them leads a job at a time', async (t) => {
    const one = await newStore(t)
    const two = createRedisStore(connect(t))
    await one.add({ roomName: 'room-1', userId: 'a', agentType: 'general', createdAtMs: Date.now() }, Date.now())
    t.match(await two.get('room-1'), { userId: 'a' }, 'written by one, read by the other')
    await two.end('room-1')
    t.equal(await one.get('room-1'), undefined)
    t.equal(await one.add({ roomName: 'room-1', userId: 'a', agentType: 'general', createdAtMs: Date.now() }, Date.now()), false, 'the tombstone is shared')
    t.equal(await one.firstDelivery('EV_1'), true)
    t.equal(await two.firstDelivery('EV_1'), false, 'an event applied by one is a duplicate for the other')
    t.equal(await one.lead('reconcile', 60_000), true)
    t.equal(await two.lead('reconcile', 60_000), false)
    t.equal(await one.lead('reconcile', 60_000), false, 'until the lease runs out')
  })

  t.test('redis: every key carries the prefix and an expiry, so nothing grows without bound', async (t) => {
    const store = await newStore(t)
    await store.add({ roomName: 'room-1', userId: 'a', agentType: 'general', createdAtMs: Date.now() }, Date.now())
    await store.joined('room-1', { sid: 'PA_1', identity: 'a', role: 'person' }, Date.now())
    await store.left('room-1', 'PA_2', Date.now())
    await store.end('room-2')
    await store.firstDelivery('EV_1')
    const admin = new Redis(redis.url)
    t.teardown(() => admin.quit())
    const keys = await admin.keys('*')
    t.ok(keys.length >= 6)
    for (const key of keys) {
      t.ok(key.startsWith(KEY_PREFIX), key)
      // The set of all rooms is trimmed by the reconcile (and holds live rooms only); every other key expires.
      if (key !== `${KEY_PREFIX}rooms`) t.ok(await admin.pttl(key) > 0, `${key} expires`)
    }
  })
})
