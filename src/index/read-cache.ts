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
 * - a read overlapping an invalidation (any, the cache's generation moved) is answered but not kept;
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
  /** Moves on every invalidation, and when tracking stops or starts: a read that saw it move keeps nothing. */
  let generation = 0

  function clear (): void {
    sessions.clear()
    users.clear()
    generation++
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

  function invalidate (key: string): void {
    if (key.startsWith(prefixes.session)) sessions.delete(key.slice(prefixes.session.length))
    else if (key.startsWith(prefixes.participants)) sessions.delete(key.slice(prefixes.participants.length))
    else if (key.startsWith(prefixes.user)) users.delete(key.slice(prefixes.user.length))
  }

  // The service's own connection reports Redis's errors; this one's are the same.
  connection.on('error', () => {})
  connection.on('ready', () => { track().catch(() => {}) })
  connection.on('close', untrack)
  connection.on('messageBuffer', (channel: Buffer, keysChanged: Buffer[] | Buffer | null) => {
    if (channel.toString() !== INVALIDATE) return
    generation++
    // No keys: the database was flushed.
    if (!Array.isArray(keysChanged)) clear()
    else for (const key of keysChanged) invalidate(key.toString())
  })

  function keep<T> (map: Map<string, Kept<T>>, key: string, value: T, atMs: number): void {
    if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value as string)
    map.set(key, { value, atMs })
  }

  /** `key`'s value from `map` while it is current, else `load`'s, kept unless something changed meanwhile. */
  async function through<T> (map: Map<string, Kept<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const at = now()
    const kept = map.get(key)
    if (tracking && kept !== undefined && at - kept.atMs < maxAgeMs) return kept.value
    const before = generation
    const value = await load()
    if (tracking && generation === before) keep(map, key, value, at)
    return value
  }

  return {
    /** The sessions of these rooms: those kept from memory, the rest by `load` (one call for all of them). */
    async sessions (roomNames: string[], load: (roomNames: string[]) => Promise<Array<IndexedSession | undefined>>): Promise<Array<IndexedSession | undefined>> {
      const at = now()
      const answers: Array<IndexedSession | undefined> = new Array(roomNames.length)
      const missing: number[] = []
      roomNames.forEach((roomName, i) => {
        const kept = sessions.get(roomName)
        if (tracking && kept !== undefined && at - kept.atMs < maxAgeMs) answers[i] = kept.value
        else missing.push(i)
      })
      if (missing.length === 0) return answers
      const before = generation
      const loaded = await load(missing.map((i) => roomNames[i] as string))
      const unchanged = tracking && generation === before
      missing.forEach((i, j) => {
        answers[i] = loaded[j]
        if (unchanged) keep(sessions, roomNames[i] as string, loaded[j], at)
      })
      return answers
    },
    /** The user's rooms: kept, or `load`'s. */
    userRooms: async (userId: string, load: () => Promise<string[]>) => await through(users, userId, load),
    /** This replica wrote these: what it kept of them goes now, and reads in flight keep nothing. */
    forget (roomName: string | undefined, userId?: string): void {
      if (roomName !== undefined) sessions.delete(roomName)
      if (userId !== undefined) users.delete(userId)
      generation++
    },
    tracking: () => tracking,
    size: () => sessions.size + users.size,
    close (): void {
      untrack()
      connection.disconnect()
    }
  }
}

export type ReadCache = ReturnType<typeof createReadCache>
