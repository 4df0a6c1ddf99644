import type { FastifyBaseLogger } from 'fastify'
import type { Livekit } from '#livekit/livekit.js'
import { isRoomNotFound } from '#livekit/errors.js'
import { mapLimited } from '#ops/map-limited.js'
import { createPeriodicJob } from '#ops/periodic-job.js'
import type { IndexedSession, SessionStore } from '#index/session-store.js'

/** Rooms deleted at once by one sweep. */
const DELETES_AT_ONCE = 4

export interface SessionExpiryOptions {
  store: SessionStore
  livekit: Pick<Livekit, 'rooms'>
  /** MAX_SESSION_SECONDS, in ms. */
  maxSessionMs: number
  log: FastifyBaseLogger
  /** A session the service ended because it reached its longest length. */
  onExpired?: (session: IndexedSession) => void
  now?: () => number
}

/**
 * Ends sessions older than MAX_SESSION_SECONDS: deletes their rooms (everyone in them sees
 * ROOM_DELETED) and removes them from the index. It sweeps every few seconds, in one replica at a
 * time (the store's lead), and finds the old sessions by creation time, never by listing rooms.
 */
export function createSessionExpiry ({ store, livekit, maxSessionMs, log, onExpired, now = Date.now }: SessionExpiryOptions) {
  // Often enough that a session ends within seconds of its time, never more often than every second.
  const sweepEveryMs = Math.min(5000, Math.max(1000, Math.floor(maxSessionMs / 4)))

  /** Rooms this replica is deleting for their length: LiveKit's room_finished for them is this, not a close. */
  const ending = new Set<string>()

  async function expire (roomName: string): Promise<void> {
    ending.add(roomName)
    // Long enough for LiveKit's room_finished webhook to come back.
    setTimeout(() => ending.delete(roomName), 60_000).unref()
    try {
      await livekit.rooms.deleteRoom(roomName)
    } catch (err) {
      // Already closed by LiveKit: it only leaves the index.
      if (!isRoomNotFound(err)) throw err
    }
    const ended = await store.end(roomName)
    if (ended === undefined) return
    log.info({ room: roomName, user: ended.userId, maxSessionSeconds: maxSessionMs / 1000 }, 'session ended: it reached MAX_SESSION_SECONDS')
    onExpired?.(ended)
  }

  /** One sweep: ends every session past its time; resolves with how many rooms it deleted. */
  async function sweep (): Promise<number> {
    const old = await store.startedBefore(now() - maxSessionMs)
    await mapLimited(old, DELETES_AT_ONCE, expire)
    return old.length
  }

  const job = createPeriodicJob({
    name: 'ending sessions past MAX_SESSION_SECONDS',
    everyMs: sweepEveryMs,
    log,
    run: async () => {
      if (await store.lead('expiry', sweepEveryMs)) await sweep()
    }
  })

  return {
    sweep,
    /** Whether this replica ended the room for its length (its room_finished is counted as such). */
    isEnding: (roomName: string) => ending.has(roomName),
    start: job.start,
    stop: job.stop
  }
}
