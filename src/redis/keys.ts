/** The prefix of every key when REDIS_KEY_PREFIX is not set. */
export const DEFAULT_KEY_PREFIX = 'voice-sessions:'

/**
 * The one place that knows the service's Redis key layout. Every key starts with `prefix`
 * (REDIS_KEY_PREFIX), so that a Redis can hold other data too, and two environments can share
 * one Redis under different prefixes without seeing each other's sessions.
 */
export function redisKeys (prefix: string) {
  return {
    /** A session's hash: its user, agent type, creation and last confirmation. */
    session: (room: string) => `${prefix}s:${room}`,
    /** A session's participants: SID to participant JSON. */
    participants: (room: string) => `${prefix}p:${room}`,
    /** The SIDs that left a session, so that a late join is ignored. */
    departed: (room: string) => `${prefix}l:${room}`,
    /** A user's rooms. */
    user: (userId: string) => `${prefix}u:${userId}`,
    /** An ended room's tombstone. */
    ended: (room: string) => `${prefix}x:${room}`,
    /** A webhook event already applied. */
    event: (id: string) => `${prefix}e:${id}`,
    /** The replica leading a job (the reconcile, the expiry sweep). */
    lead: (job: string) => `${prefix}lead:${job}`,
    /** Every indexed room, scored by creation time. */
    rooms: `${prefix}rooms`,
    /** The rooms a user is starting (a place held under the caps until the session is recorded), scored by the reservation's expiry. */
    userReservations: (userId: string) => `${prefix}r:${userId}`,
    /** The rooms every user is starting, scored by the reservation's expiry. */
    reservations: `${prefix}reservations`,
    /** The index's generation, written by the rebuild from LiveKit: its absence says Redis lost the index. */
    generation: `${prefix}generation`,
    /** The watch dispatching a room's agent: its claim, holding the claim's fence. */
    dispatchClaim: (room: string) => `${prefix}dispatch-claim:${room}`,
    /** The last fence given to a claim on a room: it only grows. */
    dispatchFence: (room: string) => `${prefix}dispatch-fence:${room}`,
    /** The dispatches made into a room. */
    dispatchCount: (room: string) => `${prefix}dispatch-count:${room}`,
    /** The rate limits' counters, one per bucket, user and window (src/redis/window-counter.ts). */
    rateLimitNamespace: `${prefix}rate:`
  }
}

export type RedisKeys = ReturnType<typeof redisKeys>
