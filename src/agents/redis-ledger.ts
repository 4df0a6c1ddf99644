import type { Redis } from 'ioredis'
import type { DispatchLedger } from './ledger.js'
import { ENTRY_TTL_MS } from '#index/session-store.js'
import type { RedisKeys } from '#redis/keys.js'

/** Lua scripts, each one atomic step on one room's keys, every key among its KEYS. */
const SCRIPTS = {
  // KEYS: claim, fence. ARGV: claim ttl, fence ttl. The fence only grows: it outlives every claim by far.
  dispatchClaim: [2, `
    if redis.call('EXISTS', KEYS[1]) == 1 then return false end
    local fence = redis.call('INCR', KEYS[2])
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
    redis.call('SET', KEYS[1], fence, 'PX', ARGV[1])
    return fence`],
  // KEYS: claim. ARGV: fence, claim ttl. A claim that lapsed is not revived, even if nobody took it.
  dispatchRenew: [1, `
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])`],
  // KEYS: claim. ARGV: fence.
  dispatchRelease: [1, `
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
    return redis.call('DEL', KEYS[1])`],
  // KEYS: count. ARGV: bound, count ttl.
  dispatchCountBelow: [1, `
    if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return false end
    local count = redis.call('INCR', KEYS[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return count`]
} as const

type Scripted = Record<keyof typeof SCRIPTS, (...args: Array<string | number>) => Promise<number | null>>

/**
 * The dispatch ledger shared by every replica through Redis: a room's claim is a key that only one
 * watch can set, holding its fence (a per-room counter, incremented in the same script); it expires
 * `claimTtlMs` after its last renewal. The count of dispatches is a counter that expires with the
 * session's index entry, incremented only below the bound. So one session never gets two
 * dispatches for the same attempt, nor more than the bound.
 */
export function createRedisDispatchLedger ({ redis, keys, claimTtlMs }: { redis: Redis, keys: RedisKeys, claimTtlMs: number }): DispatchLedger {
  for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys, lua })
  const scripts = redis as unknown as Scripted
  const { dispatchClaim: claimKey, dispatchFence: fenceKey, dispatchCount: countKey } = keys

  return {
    claim: async (roomName) => await scripts.dispatchClaim(claimKey(roomName), fenceKey(roomName), claimTtlMs, ENTRY_TTL_MS) ?? undefined,
    renew: async (roomName, fence) => await scripts.dispatchRenew(claimKey(roomName), fence, claimTtlMs) === 1,
    isClaimed: async (roomName) => await redis.exists(claimKey(roomName)) === 1,
    release: async (roomName, fence) => { await scripts.dispatchRelease(claimKey(roomName), fence) },
    dispatchesMade: async (roomName) => {
      const count = await redis.get(countKey(roomName))
      return count === null ? undefined : Number(count)
    },
    countDispatchBelow: async (roomName, bound) => await scripts.dispatchCountBelow(countKey(roomName), bound, ENTRY_TTL_MS) ?? undefined,
    forget: async (roomName) => { await redis.del(claimKey(roomName), countKey(roomName)) }
  }
}
