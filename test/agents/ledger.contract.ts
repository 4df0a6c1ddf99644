import type { Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { DispatchLedger } from '#agents/ledger.js'

/** A claim's life where a test waits for one to lapse. */
const SHORT_TTL_MS = 200
/** Where none should: far longer than the test. */
const LONG_TTL_MS = 60_000

/**
 * Two replicas' views of one fresh, shared ledger: two connections to one Redis, or (for a ledger
 * that lives in one replica's memory) the same ledger twice. Each claim lasts `claimTtlMs` unless
 * renewed.
 */
export type NewReplicas = (t: Test, claimTtlMs: number) => Promise<[DispatchLedger, DispatchLedger]>

/** The fence of a claim the test expects to win. */
function won (fence: number | undefined): number {
  if (fence === undefined) throw new Error('the claim was expected to win')
  return fence
}

/** Waits (5 s at most) until nobody holds the room's claim. */
async function untilLapsed (ledger: DispatchLedger, roomName: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (!await ledger.isClaimed(roomName)) return
    await sleep(10)
  }
  throw new Error(`the claim on ${roomName} never lapsed`)
}

/** What every DispatchLedger must do, whether one replica or many share it. */
export function dispatchLedgerContract (t: Test, newReplicas: NewReplicas): void {
  t.test('one claim per room at a time, on any replica, each with a fence that only grows', async (t) => {
    const [one, two] = await newReplicas(t, LONG_TTL_MS)
    t.equal(await one.isClaimed('a'), false)
    const first = won(await one.claim('a'))
    t.equal(await two.claim('a'), undefined, 'a second claim loses, from any replica')
    t.equal(await two.isClaimed('a'), true)
    const racing = await Promise.all([one.claim('b'), two.claim('b'), one.claim('b'), two.claim('b')])
    t.equal(racing.filter((fence) => fence !== undefined).length, 1, 'exactly one of claims at once wins')

    await one.release('a', first)
    t.equal(await two.isClaimed('a'), false, 'released by its fence')
    const second = won(await two.claim('a'))
    t.ok(second > first, 'claimed again, with a greater fence')
    await one.release('a', first)
    t.equal(await one.isClaimed('a'), true, 'a stale fence releases nothing')
    t.equal(await one.renew('a', first), false, 'nor renews anything')
    t.equal(await two.renew('a', second), true, 'the current fence renews')
    await two.release('a', second)
    t.equal(await two.renew('a', second), false, 'a released claim is not renewed back')
    t.equal(await one.isClaimed('a'), false)

    await one.forget('a')
    t.ok(won(await one.claim('a')) > second, 'fences keep growing after the room is forgotten')
  })

  t.test('a claim not renewed lapses; its old fence then neither renews nor releases the next claim', async (t) => {
    const [one, two] = await newReplicas(t, SHORT_TTL_MS)
    const stale = won(await one.claim('a'))
    await untilLapsed(two, 'a')
    t.equal(await one.renew('a', stale), false, 'a lapsed claim is not revived by its holder')
    t.equal(await one.isClaimed('a'), false)
    const fresh = won(await two.claim('a'))
    t.ok(fresh > stale, 'taken over with a greater fence')
    t.equal(await one.renew('a', stale), false, 'the old holder learns that it lost the room')
    await one.release('a', stale)
    t.equal(await two.renew('a', fresh), true, 'and leaves the new claim alone')
  })

  t.test('renewing a claim keeps it past the life it was taken with', async (t) => {
    const ttlMs = 2400
    const [one, two] = await newReplicas(t, ttlMs)
    const fence = won(await one.claim('a'))
    // The claim was set before this: it expires by then + ttlMs unless renewed.
    const claimedAt = Date.now()
    await sleep(ttlMs / 2)
    t.equal(await one.renew('a', fence), true, 'renewed halfway through its life')
    await sleep(Math.max(0, claimedAt + ttlMs + 100 - Date.now()))
    t.equal(await two.isClaimed('a'), true, 'still held after the life it was taken with')
    t.equal(await one.renew('a', fence), true)
  })

  t.test('a dispatch is counted only below the bound, in one step, even when every replica counts at once', async (t) => {
    const [one, two] = await newReplicas(t, LONG_TTL_MS)
    t.equal(await one.dispatchesMade('a'), undefined)
    t.equal(await one.countDispatchBelow('a', 2), 1)
    t.equal(await two.countDispatchBelow('a', 2), 2, 'one count across replicas')
    t.equal(await one.countDispatchBelow('a', 2), undefined, 'at the bound: nothing counted')
    t.equal(await two.dispatchesMade('a'), 2)
    t.equal(await one.countDispatchBelow('a', 3), 3, 'a greater bound counts on')

    const counts = await Promise.all(Array.from({ length: 24 }, async (_, i) => await (i % 2 === 0 ? one : two).countDispatchBelow('b', 5)))
    t.same(counts.filter((count) => count !== undefined).sort(), [1, 2, 3, 4, 5], '24 at once: each count given once, none past the bound')
    t.equal(await two.dispatchesMade('b'), 5)

    t.equal(await one.countDispatchBelow('c', 1), 1, 'the room\'s own dispatch, counted once')
    t.equal(await two.countDispatchBelow('c', 1), undefined)

    await one.release('a', won(await one.claim('a')))
    t.equal(await one.dispatchesMade('a'), 3, 'the count outlives the claim')
    const fence = won(await one.claim('a'))
    await two.forget('a')
    t.equal(await one.dispatchesMade('a'), undefined, 'forget drops the count')
    t.equal(await one.isClaimed('a'), false, 'and the claim')
    t.equal(await one.renew('a', fence), false)
  })
}
