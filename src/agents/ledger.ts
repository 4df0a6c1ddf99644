/**
 * The per-room dispatch state that every replica must agree on: who is dispatching a room's agent
 * right now (the claim: one watch per room, so one agent per room) and how many dispatches were
 * made into the room (the bound, AGENT_DISPATCH_ATTEMPTS).
 *
 * A claim expires unless its holder renews it, so that a replica that died holding it does not
 * block the room for good. Each claim carries a fence, a number that only grows per room: a watch
 * whose claim lapsed (its replica stalled, a LiveKit read took too long) and was taken by another
 * watch can neither renew nor release the new claim, and learns that it lost the room when it next
 * renews.
 *
 * One implementation per file: memory-ledger.ts (one replica), redis-ledger.ts (shared by every
 * replica); test/agents/ledger.contract.ts holds both to this contract.
 */
export interface DispatchLedger {
  /** Takes the room's dispatch duty: its fence, or undefined when another holds it. Atomic. */
  claim: (roomName: string) => Promise<number | undefined>
  /** Extends the claim for another lifetime if it is still the one with this fence; false when it was lost. */
  renew: (roomName: string, fence: number) => Promise<boolean>
  /** Whether anyone holds the room's dispatch duty. */
  isClaimed: (roomName: string) => Promise<boolean>
  /** Gives the claim with this fence back; a claim taken since, by anyone, stays. */
  release: (roomName: string, fence: number) => Promise<void>
  /** Dispatches made into the room (its own, from `createRoom`, included); undefined when none is recorded. */
  dispatchesMade: (roomName: string) => Promise<number | undefined>
  /**
   * Counts one more dispatch into the room if fewer than `bound` were made, in one atomic step:
   * resolves with the new count, or undefined when the bound was reached (nothing counted).
   */
  countDispatchBelow: (roomName: string, bound: number) => Promise<number | undefined>
  /** Forgets the room (its session ended): its claim and its count. Fences keep growing. */
  forget: (roomName: string) => Promise<void>
}
