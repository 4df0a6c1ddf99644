/**
 * The per-room dispatch state that every replica must agree on: who is dispatching a room's agent
 * right now (the claim: one watch per room, so one agent per room) and how many dispatches were
 * made into the room (the bound, AGENT_DISPATCH_ATTEMPTS). Only the holder of a room's claim
 * dispatches into it or counts a dispatch.
 *
 * `createMemoryDispatchLedger` keeps it in this replica's memory. A shared implementation (a lock
 * per room that expires unless its holder renews it, a counter per room) slots in through
 * `createAgentDispatch`'s `ledger` option; every method is async for that reason.
 */
export interface DispatchLedger {
  /** Takes the room's dispatch duty; resolves false when it is already held. Atomic. */
  claim: (roomName: string) => Promise<boolean>
  /** Whether the room's dispatch duty is held. */
  isClaimed: (roomName: string) => Promise<boolean>
  /** Gives the room's dispatch duty back. */
  release: (roomName: string) => Promise<void>
  /** Dispatches made into the room (its own, from `createRoom`, included); undefined when none is recorded. */
  dispatchesMade: (roomName: string) => Promise<number | undefined>
  /** Counts one more dispatch into the room; resolves with the new count. */
  countDispatch: (roomName: string) => Promise<number>
  /** Forgets the room (its session ended): its claim and its count. */
  forget: (roomName: string) => Promise<void>
}

/** Rooms whose dispatch count memory keeps; past this, the least recently counted are forgotten. */
export const REMEMBERED_ROOMS = 10_000

/**
 * The ledger of one replica. Claims live as long as their watch; counts outlive it so that the
 * bound holds when `status` heals a session later, and only the most recent `capacity` are kept.
 */
export function createMemoryDispatchLedger (capacity = REMEMBERED_ROOMS): DispatchLedger {
  const claims = new Set<string>()
  const counts = new Map<string, number>()

  return {
    claim: async (roomName) => {
      if (claims.has(roomName)) return false
      claims.add(roomName)
      return true
    },
    isClaimed: async (roomName) => claims.has(roomName),
    release: async (roomName) => { claims.delete(roomName) },
    dispatchesMade: async (roomName) => counts.get(roomName),
    countDispatch: async (roomName) => {
      const count = (counts.get(roomName) ?? 0) + 1
      // Re-inserted, so that a Map's insertion order is the order of the last count.
      counts.delete(roomName)
      counts.set(roomName, count)
      for (const oldest of counts.keys()) {
        if (counts.size <= capacity) break
        counts.delete(oldest)
      }
      return count
    },
    forget: async (roomName) => {
      claims.delete(roomName)
      counts.delete(roomName)
    }
  }
}
