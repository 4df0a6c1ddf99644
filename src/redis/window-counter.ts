import type { Redis } from 'ioredis'
import type { SharedCounter } from '#ops/rate-limiter.js'

// KEYS: the count. ARGV: how many to add, the window (ms). The window starts with the first count; the count expires with it.
const ADD_TO_WINDOW = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2])
end
return { total, left }`

interface Scripted { rateWindowAdd: (key: string, count: number, windowMs: number) => Promise<[number, number]> }

/** The rate limits' counts shared by every replica: one Redis counter per key and window, under `namespace`. */
export function redisWindowCounter (redis: Redis, namespace: string): SharedCounter {
  redis.defineCommand('rateWindowAdd', { numberOfKeys: 1, lua: ADD_TO_WINDOW })
  const scripted = redis as unknown as Scripted
  return async (key, count, windowMs) => {
    const [total, resetInMs] = await scripted.rateWindowAdd(`${namespace}${key}`, count, windowMs)
    return { total, resetInMs }
  }
}
