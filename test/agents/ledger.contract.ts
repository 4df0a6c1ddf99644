import type { Test } from 'tap'
import type { DispatchLedger } from '#agents/ledger.js'

/** What every DispatchLedger must do; a shared (e.g. Redis) ledger runs the same. */
export async function dispatchLedgerContract (t: Test, ledger: DispatchLedger): Promise<void> {
  t.equal(await ledger.isClaimed('a'), false)
  t.equal(await ledger.claim('a'), true, 'the first claim wins')
  t.equal(await ledger.claim('a'), false, 'a second one loses')
  t.same(await Promise.all([ledger.claim('b'), ledger.claim('b'), ledger.claim('b')]), [true, false, false], 'exactly one of claims at once')
  t.equal(await ledger.isClaimed('a'), true)
  await ledger.release('a')
  t.equal(await ledger.isClaimed('a'), false)
  t.equal(await ledger.claim('a'), true, 'claimed again once released')

  t.equal(await ledger.dispatchesMade('a'), undefined)
  t.equal(await ledger.countDispatch('a'), 1)
  t.equal(await ledger.countDispatch('a'), 2)
  t.equal(await ledger.dispatchesMade('a'), 2)
  await ledger.release('a')
  t.equal(await ledger.dispatchesMade('a'), 2, 'the count outlives the claim')
  await ledger.forget('b')
  t.equal(await ledger.isClaimed('b'), false, 'forget drops the claim')
  await ledger.forget('a')
  t.equal(await ledger.dispatchesMade('a'), undefined, 'and the count')
}
