import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'

/**
 * Warns when Redis may evict the index's keys: its `maxmemory-policy` must be `noeviction`, or a
 * Redis under memory pressure silently forgets sessions (the index rebuilds itself once it notices
 * its generation gone, but keys evicted one by one go unnoticed until the reconcile). A Redis that
 * refuses CONFIG (managed services often do) is only noted: the operator is told what to check.
 */
export async function warnIfEvicting (redis: Pick<Redis, 'config'>, log: FastifyBaseLogger): Promise<string | undefined> {
  let policy: string | undefined
  try {
    const reply = await redis.config('GET', 'maxmemory-policy') as string[]
    policy = reply[1]
  } catch (err) {
    log.info({ err: { message: (err as Error).message } }, 'Redis: could not read maxmemory-policy (CONFIG refused?); it must be noeviction for the session index')
    return undefined
  }
  if (policy !== undefined && policy !== 'noeviction') {
    log.warn({ policy }, 'Redis may evict keys (maxmemory-policy is not noeviction): the session index can lose sessions; set maxmemory-policy noeviction')
  }
  return policy
}
