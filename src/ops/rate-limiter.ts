/** What the limiter says of one request: let through, or refused until its window ends. */
export type RateVerdict = { allowed: true } | { allowed: false, retryInMs: number }

/** A shared count after an addition: the total in the window, and how long the window has left. */
export interface SharedCount {
  total: number
  resetInMs: number
}

/**
 * Where the counts of every replica meet (Redis): adds `count` to the key's count, whose window of
 * `windowMs` starts with its first count, and resolves to the total.
 */
export type SharedCounter = (key: string, count: number, windowMs: number) => Promise<SharedCount>

export interface RateLimiterOptions {
  max: number
  windowMs: number
  /** The replicas' shared counts; without it the limit holds in this process alone, exactly. */
  shared?: SharedCounter
  /** How long counts far from the limit wait before they are added to the shared count. */
  flushEveryMs?: number
  now?: () => number
}

interface Bucket {
  /** When the window ends: its first request plus the window here, corrected by the shared count's. */
  resetAtMs: number
  /** The total as the shared counter last gave it (every replica's counts), or this process's count. */
  known: number
  /** Counted here and not yet added to the shared count. */
  pending: number
}

const ALLOWED: RateVerdict = { allowed: true }

/**
 * A fixed-window rate limit per key (a user): a window starts with the key's first request. In one
 * process, an exact count in memory. Shared (REDIS_URL), a request far from the limit costs no
 * round trip: while this replica's last known total plus what it counted since stays under half
 * the limit, the request is let through and its count added in the background (every
 * `flushEveryMs`); from half the limit on, every request is counted in Redis before it is answered,
 * with whatever was pending. The price: requests that other replicas let through in their last
 * `flushEveryMs` are not yet in the total, so with N replicas a window may pass the limit by at
 * most (N - 1) x max / 2, and only when the requests over it come through different replicas at
 * almost the same time. A failed shared count lets the request through (a Redis outage is the
 * session index's to answer).
 */
export function createRateLimiter ({ max, windowMs, shared, flushEveryMs = 100, now = Date.now }: RateLimiterOptions) {
  const buckets = new Map<string, Bucket>()
  const unflushed = new Set<string>()
  const localUpTo = Math.floor(max / 2)
  let timer: NodeJS.Timeout | undefined

  function bucketOf (key: string, at: number): Bucket {
    let bucket = buckets.get(key)
    if (bucket === undefined || at >= bucket.resetAtMs) {
      bucket = { resetAtMs: at + windowMs, known: 0, pending: 0 }
      buckets.set(key, bucket)
    }
    return bucket
  }

  /** The shared total once `count` is added to it, or undefined when it could not be. */
  async function addShared (key: string, bucket: Bucket, count: number): Promise<number | undefined> {
    try {
      const { total, resetInMs } = await (shared as SharedCounter)(key, count, windowMs)
      bucket.known = Math.max(bucket.known, total)
      bucket.resetAtMs = now() + resetInMs
      return total
    } catch {
      return undefined
    }
  }

  /** Adds what each bucket counted in the background; forgets the buckets whose window is over. */
  function flush (): void {
    timer = undefined
    for (const key of unflushed) {
      const bucket = buckets.get(key)
      if (bucket === undefined || bucket.pending === 0) continue
      const count = bucket.pending
      bucket.pending = 0
      addShared(key, bucket, count).catch(() => {})
    }
    unflushed.clear()
    const at = now()
    for (const [key, bucket] of buckets) if (at >= bucket.resetAtMs && bucket.pending === 0) buckets.delete(key)
  }

  const refused = (bucket: Bucket, at: number): RateVerdict => ({ allowed: false, retryInMs: bucket.resetAtMs - at })

  /** Counts one request of `key`; the verdict is synchronous unless it had to ask the shared count. */
  function take (key: string): RateVerdict | Promise<RateVerdict> {
    const at = now()
    const bucket = bucketOf(key, at)
    if (bucket.known >= max) return refused(bucket, at)
    if (shared === undefined) {
      bucket.known++
      return ALLOWED
    }
    if (bucket.known + bucket.pending < localUpTo) {
      bucket.pending++
      unflushed.add(key)
      timer ??= setTimeout(flush, flushEveryMs).unref()
      return ALLOWED
    }
    const count = bucket.pending + 1
    bucket.pending = 0
    return addShared(key, bucket, count).then((total) => total === undefined || total <= max ? ALLOWED : refused(bucket, now()))
  }

  /** Adds what is pending now and stops the background count. */
  function close (): void {
    clearTimeout(timer)
    if (shared !== undefined) flush()
  }

  return { take, close, buckets: () => buckets.size }
}

export type RateLimiter = ReturnType<typeof createRateLimiter>
