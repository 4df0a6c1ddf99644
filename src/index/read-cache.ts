import type { Redis } from 'ioredis'
import type { RedisKeys } from '#redis/keys.js'
import type { IndexedSession } from './session-store.js'

/**
 * The channel Redis tells a tracking client's invalidations on when the client speaks RESP2 (ioredis
 * 6 speaks RESP3 by default, whose invalidation pushes it drops): `connection` must speak RESP2.
 */
const INVALIDATE = '__redis__:invalidate'

/** Entries kept at most, each kind (the oldest goes first). */
const MAX_ENTRIES = 50_000

export interface ReadCacheOptions {
  /** The longest an entry answers without Redis, invalidation or not: the bound on staleness should invalidations stop without the connection closing. */
  maxAgeMs?: number
  now?: () => number
  onTrouble?: (err: Error) => void
}

interface Kept<T> {
  value: T
  atMs: number
}

/**
 * What this replica read of the index in Redis, answered again from memory until Redis says it
 * changed: Redis's client-side caching (CLIENT TRACKING, broadcasting mode) tells `connection`, a
 * connection of the cache's own, of every write to a session's hash, its participants or a user's
 * rooms, by any replica, before it answers the write. A read costs no round trip while nothing
 * it read changed, and a fresh read (webhooks arriving) is as fast as in memory.
 *
 * Correctness, case by case:
 * - a read overlapping a change to what it read (or a flush, or tracking stopping or starting) is
 *   answered but not kept; changes to other sessions do not stop it from being kept;
 * - this replica's own writes drop what they touched when they are answered (`forget`), before
 *   the invalidation arrives;
 * - the tracking connection closing (Redis restarted, flushed, the network) empties the cache and
 *   stops it until tracking is on again; FLUSHALL / FLUSHDB empties it;
 * - an entry never answers past `maxAgeMs` (1 s): a connection that stays open and tells nothing
 *   (a stalled or partitioned Redis) serves at most that old an answer;
 * - another replica's write is seen here as soon as its invalidation arrives: it leaves Redis
 *   before the write's own answer does, so a client that heard the write answered and then asks
 *   this replica sees it, save for a race of under a millisecond on one host.
 * https://redis.io/docs/latest/develop/reference/client-side-caching/
 */
export function createReadCache (connection: Redis, keys: RedisKeys, { maxAgeMs = 1000, now = Date.now, onTrouble = () => {} }: ReadCacheOptions = {}) {
  const prefixes = { session: keys.session(''), participants: keys.participants(''), user: keys.user('') }
  const sessions = new Map<string, Kept<IndexedSession | undefined>>()
  const users = new Map<string, Kept<string[]>>()
  let tracking = false
  /** Moves on every change this cache hears of: a read notes it before it asks Redis. */
  let generation = 0
  /** The generation at which everything was last dropped (tracking stopped or started, a flush). */
  let clearedAt = 0
  /**
   * The generation at which each room (`s:` + name) or user (`u:` + id) last changed, oldest first:
   * only reads in flight need it, so what changed before the oldest of them began is let go.
   */
  const changedAt = new Map<string, number>()
  /** The generations at which the reads in flight began, oldest first, with how many began at each. */
  const readsBegunAt = new Map<number, number>()

  function clear (): void {
    sessions.clear()
    users.clear()
    changedAt.clear()
    clearedAt = ++generation
  }

  /** Lets go of the changes that no read in flight began before. */
  function forgetChangesBeforeReads (): void {
    const oldestRead = readsBegunAt.keys().next().value ?? generation
    for (const [slot, at] of changedAt) {
      if (at > oldestRead) break
      changedAt.delete(slot)
    }
  }

  function changed (slot: string): void {
    // Deleted first, so that the map stays in the order of the generations.
    changedAt.delete(slot)
    changedAt.set(slot, ++generation)
    forgetChangesBeforeReads()
    // Bounded, should a read never end: past it, forgetting which changed is forgetting everything, for reads in flight.
    if (changedAt.size > 2 * MAX_ENTRIES) {
      changedAt.clear()
      clearedAt = generation
    }
  }

  /** A read begins: the generation it began at, that `readEnded` is given back. */
  function readBegins (): number {
    readsBegunAt.set(generation, (readsBegunAt.get(generation) ?? 0) + 1)
    return generation
  }

  function readEnded (begunAt: number): void {
    const reads = (readsBegunAt.get(begunAt) ?? 1) - 1
    if (reads > 0) readsBegunAt.set(begunAt, reads)
    else readsBegunAt.delete(begunAt)
    forgetChangesBeforeReads()
  }

  /** Whether what a read of `slot` that began at generation `before` found may be kept. */
  function unchangedSince (slot: string, before: number): boolean {
    return tracking && clearedAt <= before && (changedAt.get(slot) ?? 0) <= before
  }

  async function track (): Promise<void> {
    try {
      const id = await connection.call('CLIENT', 'ID') as number
      await connection.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', id, 'BCAST', 'PREFIX', prefixes.session, 'PREFIX', prefixes.participants, 'PREFIX', prefixes.user)
      await connection.subscribe(INVALIDATE)
      clear()
      tracking = true
    } catch (err) {
      onTrouble(err as Error)
    }
  }

  function untrack (): void {
    tracking = false
    clear()
  }

  function roomChanged (roomName: string): void {
    sessions.delete(roomName)
    changed(`s:${roomName}`)
  }

  function userChanged (userId: string): void {
    users.delete(userId)
    changed(`u:${userId}`)
  }

  function invalidate (key: string): void {
    if (key.startsWith(prefixes.session)) roomChanged(key.slice(prefixes.session.length))
    else if (key.startsWith(prefixes.participants)) roomChanged(key.slice(prefixes.participants.length))
    else if (key.startsWith(prefixes.user)) userChanged(key.slice(prefixes.user.length))
  }

  // The service's own connection reports Redis's errors; this one's are the same.
  connection.on('error', () => {})
  connection.on('ready', () => { track().catch(() => {}) })
  connection.on('close', untrack)
  connection.on('messageBuffer', (channel: Buffer, keysChanged: Buffer[] | Buffer | null) => {
    if (channel.toString() !== INVALIDATE) return
    // No keys: the database was flushed.
    if (!Array.isArray(keysChanged)) clear()
    else for (const key of keysChanged) invalidate(key.toString())
  })

  /** Whether an entry may answer at `at`: tracking is on and the entry is younger than `maxAgeMs`. */
  function answers<T> (kept: Kept<T> | undefined, at: number): kept is Kept<T> {
    return tracking && kept !== undefined && at - kept.atMs < maxAgeMs
  }

  /** Keeps `value`, and lets go of the oldest entries: those too old to answer, and one past MAX_ENTRIES. */
  function keep<T> (map: Map<string, Kept<T>>, key: string, value: T, atMs: number): void {
    // Deleted first, so that the map stays in the order of the entries' times.
    map.delete(key)
    for (const [oldKey, kept] of map) {
      if (map.size < MAX_ENTRIES && atMs - kept.atMs < maxAgeMs) break
      map.delete(oldKey)
    }
    map.set(key, { value, atMs })
  }

  return {
    /** The sessions of these rooms: those kept from memory, the rest by `load` (one call for all of them). */
    async sessions (roomNames: string[], load: (roomNames: string[]) => Promise<Array<IndexedSession | undefined>>): Promise<Array<IndexedSession | undefined>> {
      const at = now()
      const found: Array<IndexedSession | undefined> = new Array(roomNames.length)
      const missing: number[] = []
      roomNames.forEach((roomName, i) => {
        const kept = sessions.get(roomName)
        if (answers(kept, at)) found[i] = kept.value
        else missing.push(i)
      })
      if (missing.length === 0) return found
      const before = readBegins()
      try {
        const loaded = await load(missing.map((i) => roomNames[i] as string))
        missing.forEach((i, j) => {
          const roomName = roomNames[i] as string
          found[i] = loaded[j]
          if (unchangedSince(`s:${roomName}`, before)) keep(sessions, roomName, loaded[j], at)
        })
        return found
      } finally {
        readEnded(before)
      }
    },
    /** The user's rooms: kept, or `load`'s. */
    async userRooms (userId: string, load: () => Promise<string[]>): Promise<string[]> {
      const at = now()
      const kept = users.get(userId)
      if (answers(kept, at)) return kept.value
      const before = readBegins()
      try {
        const rooms = await load()
        if (unchangedSince(`u:${userId}`, before)) keep(users, userId, rooms, at)
        return rooms
      } finally {
        readEnded(before)
      }
    },
    /** This replica wrote these: what it kept of them goes now, and reads of them in flight keep nothing. */
    forget (roomName: string | undefined, userId?: string): void {
      if (roomName !== undefined) roomChanged(roomName)
      if (userId !== undefined) userChanged(userId)
    },
    tracking: () => tracking,
    /** Entries kept (sessions and users' rooms). */
    size: () => sessions.size + users.size,
    /** Changes remembered for the reads in flight. */
    changesRemembered: () => changedAt.size,
    close (): void {
      untrack()
      connection.disconnect()
    }
  }
}

export type ReadCache = ReturnType<typeof createReadCache>
