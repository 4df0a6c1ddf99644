import type { DispatchLedger } from './ledger.js'

/** Rooms whose dispatch count memory keeps; past this, the least recently counted are forgotten. */
export const REMEMBERED_ROOMS = 10_000

/**
 * The ledger of one replica. A claim lasts `claimTtlMs` from its last renewal (by default until it
 * is released: in one replica every watch ends and releases its claim). Fences come from one
 * counter, so they only grow, per room too. Counts outlive claims so that the bound holds when
 * `status` heals a session later, and only the most recent `capacity` are kept.
 */
export function createMemoryDispatchLedger ({ capacity = REMEMBERED_ROOMS, claimTtlMs = Infinity, now = Date.now }: {
  capacity?: number
  claimTtlMs?: number
  now?: () => number
} = {}): DispatchLedger {
  const claims = new Map<string, { fence: number, expiresAtMs: number }>()
  const counts = new Map<string, number>()
  let lastFence = 0

  /** The room's claim while it lasts. */
  function claimOf (roomName: string): { fence: number, expiresAtMs: number } | undefined {
    const claim = claims.get(roomName)
    if (claim !== undefined && claim.expiresAtMs <= now()) claims.delete(roomName)
    return claims.get(roomName)
  }

  return {
    claim: async (roomName) => {
      if (claimOf(roomName) !== undefined) return undefined
      const fence = ++lastFence
      claims.set(roomName, { fence, expiresAtMs: now() + claimTtlMs })
      return fence
    },
    renew: async (roomName, fence) => {
      const claim = claimOf(roomName)
      if (claim?.fence !== fence) return false
      claim.expiresAtMs = now() + claimTtlMs
      return true
    },
    isClaimed: async (roomName) => claimOf(roomName) !== undefined,
    release: async (roomName, fence) => {
      if (claimOf(roomName)?.fence === fence) claims.delete(roomName)
    },
    dispatchesMade: async (roomName) => counts.get(roomName),
    countDispatchBelow: async (roomName, bound) => {
      const count = (counts.get(roomName) ?? 0) + 1
      if (count > bound) return undefined
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
