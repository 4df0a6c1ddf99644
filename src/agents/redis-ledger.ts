import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { DispatchLedger } from './ledger.js'
import { ENTRY_TTL_MS } from '#index/session-store.js'
import type { RedisKeys } from '#redis/keys.js'

// Deletes the claim only if this replica holds it: an expired claim taken over by another stays theirs.
const RELEASE = 'if redis.call(\'GET\', KEYS[1]) == ARGV[1] then return redis.call(\'DEL\', KEYS[1]) end return 0'

/**
 * The dispatch ledger shared by every replica through Redis: a room's claim is a key that only one
 * replica can set (`SET NX`), which expires after `claimTtlMs` so that a replica that died holding
 * it does not block the room for good; the count of dispatches is a counter that expires with the
 * session's index entry. So one session never gets two dispatches for the same attempt.
 */
export function createRedisDispatchLedger ({ redis, keys, claimTtlMs }: { redis: Redis, keys: RedisKeys, claimTtlMs: number }): DispatchLedger {
  const holder = randomUUID()
  const { dispatchClaim: claimKey, dispatchCount: countKey } = keys

  return {
    claim: async (roomName) => await redis.set(claimKey(roomName), holder, 'PX', claimTtlMs, 'NX') === 'OK',
    isClaimed: async (roomName) => await redis.exists(claimKey(roomName)) === 1,
    release: async (roomName) => { await redis.eval(RELEASE, 1, claimKey(roomName), holder) },
    dispatchesMade: async (roomName) => {
      const count = await redis.get(countKey(roomName))
      return count === null ? undefined : Number(count)
    },
    countDispatch: async (roomName) => {
      const replies = await redis.multi().incr(countKey(roomName)).pexpire(countKey(roomName), ENTRY_TTL_MS).exec()
      return Number(replies?.[0]?.[1])
    },
    forget: async (roomName) => { await redis.del(claimKey(roomName), countKey(roomName)) }
  }
}
