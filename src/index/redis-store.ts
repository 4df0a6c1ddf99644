import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { isAgentType } from '#agents/agent-types.js'
import type { RedisKeys } from '#redis/keys.js'
import type { ReadCache } from './read-cache.js'
import {
  ENTRY_TTL_MS,
  TOMBSTONE_TTL_MS,
  type ChangeResult,
  type IndexedParticipant,
  type IndexedSession,
  type NewSession,
  type SessionStore
} from './session-store.js'

/** A script's reply when the session's hash no longer names the user its caller read first: read again. */
const USER_CHANGED = 'user-changed'

/** `indexReserve`'s reply when the place is held. */
const RESERVED = 'reserved'

/** Reads of a session's user before an operation that needs it gives up (a room's user changes only if it ends and comes back). */
const USER_READS = 3

// `checked` only moves forward: a late webhook never makes a fresher confirmation look older.
const RAISE_CHECKED = `
local function raise_checked (key, at)
  local previous = tonumber(redis.call('HGET', key, 'checked') or '0')
  if tonumber(at) > previous then redis.call('HSET', key, 'checked', at) end
end
`

// A session recorded live (add, confirm): 0, and nothing written, once its room has ended.
const RECORD = `${RAISE_CHECKED}
local function record (session, user, rooms, ended, room, user_id, type, created, checked, ttl)
  if redis.call('EXISTS', ended) == 1 then return 0 end
  redis.call('HSET', session, 'user', user_id, 'type', type, 'created', created)
  raise_checked(session, checked)
  redis.call('PEXPIRE', session, ttl)
  redis.call('SADD', user, room)
  redis.call('PEXPIRE', user, ttl)
  redis.call('ZADD', rooms, created, room)
  return 1
end
`

/** A change script's reply when its webhook event was applied before. */
const DUPLICATE = 'duplicate'

// A change a webhook event carries names the event's key after its own keys (nil when the event has
// no id), and the time it arrived (heard, 0 for the service's own changes). Seen once, the event
// changes nothing more; applied, its id is kept for its ttl, and the room it spoke of, while indexed,
// is heard of then (only forward).
const WEBHOOK_EVENT = `
local function seen (event)
  return event ~= nil and redis.call('EXISTS', event) == 1
end
local function applied (event, ttl, session, heard)
  if event ~= nil then redis.call('SET', event, '1', 'PX', ttl) end
  if session == nil or tonumber(heard) == 0 or redis.call('EXISTS', session) == 0 then return end
  if tonumber(heard) > tonumber(redis.call('HGET', session, 'heard') or '0') then redis.call('HSET', session, 'heard', heard) end
end
`

/** Lua scripts: each operation is atomic per room, whatever the number of replicas. */
const SCRIPTS = {
  // KEYS: session, user, rooms, ended, the user's reservations, all reservations, [event]. ARGV: room, user, type,
  // created, checked, entry ttl, event ttl, heard. The room's reservation goes in the same step, even when the room has ended.
  indexAdd: [undefined, `${RECORD}${WEBHOOK_EVENT}
    if seen(KEYS[7]) then return '${DUPLICATE}' end
    redis.call('ZREM', KEYS[5], ARGV[1])
    redis.call('ZREM', KEYS[6], ARGV[1])
    local added = record(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
    applied(KEYS[7], ARGV[7], KEYS[1], ARGV[8])
    return added`],
  // KEYS: rooms, then session, user, ended for each session. ARGV: checked, entry ttl, then room, user, type,
  // created for each session.
  indexConfirm: [undefined, `${RECORD}
    for i = 0, (#KEYS - 1) / 3 - 1 do
      local k, a = 1 + 3 * i, 2 + 4 * i
      record(KEYS[k + 1], KEYS[k + 2], KEYS[1], KEYS[k + 3], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[1], ARGV[2])
    end
    return 1`],
  // KEYS: the user's rooms, all rooms, the user's reservations, all reservations. ARGV: room, per-user cap,
  // live cap (0: none), now, ttl. A reservation set expires with its last reservation; a refusal writes nothing.
  indexReserve: [4, `
    local function hold (key, room, expires, now)
      redis.call('ZADD', key, expires, room)
      local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      redis.call('PEXPIRE', key, tonumber(last[2]) - now)
    end
    local now = tonumber(ARGV[4])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
    local mine = redis.call('SCARD', KEYS[1]) + redis.call('ZCARD', KEYS[3])
    if mine >= tonumber(ARGV[2]) then return { 'user', mine } end
    local live = redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[4])
    if tonumber(ARGV[3]) > 0 and live >= tonumber(ARGV[3]) then return { 'service', live } end
    hold(KEYS[3], ARGV[1], now + tonumber(ARGV[5]), now)
    hold(KEYS[4], ARGV[1], now + tonumber(ARGV[5]), now)
    return '${RESERVED}'`],
  // KEYS: session, participants, departed, rooms, ended, the user's rooms when the caller read a user, [event].
  // ARGV: room, tombstone ttl (the event's too), the user the caller read ('': none).
  indexEnd: [undefined, `${WEBHOOK_EVENT}
    local event = KEYS[ARGV[3] == '' and 6 or 7]
    if seen(event) then return '${DUPLICATE}' end
    local user = redis.call('HGET', KEYS[1], 'user') or ''
    if user ~= ARGV[3] then return '${USER_CHANGED}' end
    redis.call('SET', KEYS[5], '1', 'PX', ARGV[2])
    local session = redis.call('HGETALL', KEYS[1])
    local participants = redis.call('HGETALL', KEYS[2])
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
    redis.call('ZREM', KEYS[4], ARGV[1])
    if user ~= '' then redis.call('SREM', KEYS[6], ARGV[1]) end
    applied(event, ARGV[2], nil, 0)
    return { session, participants }`],
  // KEYS: a session and its participants, for each room read. One command however many rooms (MULTI is
  // four, and ioredis sends each MULTI on its own rather than in its automatic pipeline).
  indexRead: [undefined, `
    local replies = {}
    for i = 1, #KEYS, 2 do
      replies[#replies + 1] = { redis.call('HGETALL', KEYS[i]), redis.call('HGETALL', KEYS[i + 1]) }
    end
    return replies`],
  // KEYS: the lead. ARGV: this replica. Gives up the lead only if this replica holds it.
  indexResign: [1, `
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0`],
  // KEYS: session, participants, departed, [event]. ARGV: sid, participant JSON, at, entry ttl, event ttl, heard.
  indexJoined: [undefined, `${RAISE_CHECKED}${WEBHOOK_EVENT}
    if seen(KEYS[4]) then return '${DUPLICATE}' end
    local joined = 0
    if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then
      redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
      redis.call('PEXPIRE', KEYS[2], ARGV[4])
      raise_checked(KEYS[1], ARGV[3])
      joined = 1
    end
    applied(KEYS[4], ARGV[5], KEYS[1], ARGV[6])
    return joined`],
  // KEYS: session, participants, departed, [event]. ARGV: sid, at, tombstone ttl (the event's too), heard.
  indexLeft: [undefined, `${RAISE_CHECKED}${WEBHOOK_EVENT}
    if seen(KEYS[4]) then return '${DUPLICATE}' end
    local participant = false
    if redis.call('EXISTS', KEYS[1]) == 1 then
      redis.call('SADD', KEYS[3], ARGV[1])
      redis.call('PEXPIRE', KEYS[3], ARGV[3])
      participant = redis.call('HGET', KEYS[2], ARGV[1])
      redis.call('HDEL', KEYS[2], ARGV[1])
      raise_checked(KEYS[1], ARGV[2])
    end
    applied(KEYS[4], ARGV[3], KEYS[1], ARGV[4])
    return participant`],
  // KEYS: session, participants. ARGV: checked, entry ttl, then sid / participant JSON pairs.
  indexReplaceParticipants: [2, `${RAISE_CHECKED}
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    if tonumber(redis.call('HGET', KEYS[1], 'checked') or '0') > tonumber(ARGV[1]) then return 0 end
    redis.call('DEL', KEYS[2])
    for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
    raise_checked(KEYS[1], ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1`]
} as const

type ScriptName = keyof typeof SCRIPTS
type Scripted = Record<ScriptName, (...args: Array<string | number>) => Promise<unknown>>

/** A Redis hash reply (HGETALL, or a flat array from a script) as an object. */
function fields (reply: Record<string, string> | string[]): Record<string, string> {
  if (!Array.isArray(reply)) return reply
  const result: Record<string, string> = {}
  for (let i = 0; i + 1 < reply.length; i += 2) result[reply[i] as string] = reply[i + 1] as string
  return result
}

function participantsOf (reply: Record<string, string> | string[]): IndexedParticipant[] {
  return Object.entries(fields(reply)).map(([sid, json]) => ({ sid, ...JSON.parse(json) as Omit<IndexedParticipant, 'sid'> }))
}

function participantJson ({ identity, role }: IndexedParticipant): string {
  return JSON.stringify({ identity, role })
}

/**
 * A change script's reply as a webhook event's outcome: DUPLICATE; else a session or participant
 * (under `as`) or 1 is applied, anything else (0, undefined) ignored.
 */
function changeResult (reply: unknown, as?: 'ended' | 'left'): ChangeResult {
  if (reply === DUPLICATE) return { outcome: 'duplicate' }
  if (reply === 1) return { outcome: 'applied' }
  if (as === undefined || reply === undefined || reply === 0) return { outcome: 'ignored' }
  return as === 'ended' ? { outcome: 'applied', ended: reply as IndexedSession } : { outcome: 'applied', left: reply as IndexedParticipant }
}

function sessionOf (roomName: string, session: Record<string, string> | string[], participants: Record<string, string> | string[]): IndexedSession | undefined {
  const { user, type, created, checked, heard } = fields(session)
  if (user === undefined || !isAgentType(type)) return undefined
  return {
    roomName,
    userId: user,
    agentType: type,
    createdAtMs: Number(created),
    checkedAtMs: Number(checked ?? 0),
    heardAtMs: Number(heard ?? 0),
    participants: participantsOf(participants)
  }
}

/**
 * The session index in Redis, shared by every replica (REDIS_URL), under the keys `keys` lays out
 * (REDIS_KEY_PREFIX). One hash per session, one per session's participants, a set of departed
 * SIDs, a set of rooms per user and a sorted set of all rooms; entries expire ENTRY_TTL_MS after
 * their last confirmation. Every key a script touches is one of its KEYS, but it needs a single
 * Redis (or a primary), not Redis Cluster: a script touches the keys of a room and of its user, and
 * reads and confirmations take many rooms' keys at once.
 * https://github.com/redis/ioredis
 */
export function createRedisStore (redis: Redis, keys: RedisKeys, cache?: ReadCache): SessionStore {
  for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys, lua })
  const scripts = redis as unknown as Scripted
  const replicaId = randomUUID()

  /**
   * The reply of a script that needs the user a session names: the user is read first, so that
   * the user's key arrives in KEYS; the script refuses if the hash names another user by then,
   * and the user is read again, USER_READS times at most.
   */
  async function withSessionUser (roomName: string, run: (user: string | null) => Promise<unknown>): Promise<unknown> {
    for (let read = 0; read < USER_READS; read++) {
      const reply = await run(await redis.hget(keys.session(roomName), 'user'))
      if (reply !== USER_CHANGED) return reply
    }
    throw new Error(`The user of the session in ${roomName} changed ${USER_READS} times while it was being updated`)
  }

  /** The sessions of these rooms as the index holds them (undefined: not indexed), in the order given, in one atomic read. */
  async function readRedis (roomNames: string[]): Promise<Array<IndexedSession | undefined>> {
    if (roomNames.length === 0) return []
    const roomKeys = roomNames.flatMap((roomName) => [keys.session(roomName), keys.participants(roomName)])
    const replies = await scripts.indexRead(roomKeys.length, ...roomKeys) as Array<[string[], string[]]>
    return replies.map(([session, participants], i) => sessionOf(roomNames[i] as string, session, participants))
  }

  /** The sessions of these rooms, from what `cache` kept of them where it can. */
  async function read (roomNames: string[]): Promise<Array<IndexedSession | undefined>> {
    return await (cache === undefined ? readRedis(roomNames) : cache.sessions(roomNames, readRedis))
  }

  /** A write's answer, once what the cache kept of what it touched is gone. */
  async function wrote<T> (write: Promise<T>, roomName: string | undefined, userId?: string): Promise<T> {
    try {
      return await write
    } finally {
      cache?.forget(roomName, userId)
    }
  }

  async function get (roomName: string): Promise<IndexedSession | undefined> {
    const [session] = await read([roomName])
    return session
  }

  // The changes: `event` is the key of the webhook event that carries one, if it has an id, and
  // `heardAtMs` when it arrived (0: the service's own change).

  async function add (session: NewSession, checkedAtMs: number, event: string[] = [], heardAtMs = 0): Promise<unknown> {
    const sessionKeys = [
      keys.session(session.roomName), keys.user(session.userId), keys.rooms, keys.ended(session.roomName),
      keys.userReservations(session.userId), keys.reservations, ...event
    ]
    return await wrote(scripts.indexAdd(
      sessionKeys.length, ...sessionKeys,
      session.roomName, session.userId, session.agentType, session.createdAtMs, checkedAtMs, ENTRY_TTL_MS, TOMBSTONE_TTL_MS, heardAtMs
    ), session.roomName, session.userId)
  }

  /** The ended session, undefined when it was not indexed, or DUPLICATE. */
  async function end (roomName: string, event: string[] = []): Promise<IndexedSession | undefined | typeof DUPLICATE> {
    const room = [keys.session(roomName), keys.participants(roomName), keys.departed(roomName), keys.rooms, keys.ended(roomName)]
    // The user's key is known once read: what the cache kept of the room and of that user goes with the answer.
    let userId: string | undefined
    try {
      const reply = await withSessionUser(roomName, async (user) => {
        userId = user ?? undefined
        const sessionKeys = user === null ? [...room, ...event] : [...room, keys.user(user), ...event]
        return await scripts.indexEnd(sessionKeys.length, ...sessionKeys, roomName, TOMBSTONE_TTL_MS, user ?? '')
      })
      if (reply === DUPLICATE) return DUPLICATE
      const [session, participants] = reply as [string[], string[]]
      return sessionOf(roomName, session, participants)
    } finally {
      cache?.forget(roomName, userId)
    }
  }

  async function joined (roomName: string, participant: IndexedParticipant, atMs: number, event: string[] = [], heardAtMs = 0): Promise<unknown> {
    const sessionKeys = [keys.session(roomName), keys.participants(roomName), keys.departed(roomName), ...event]
    return await wrote(scripts.indexJoined(sessionKeys.length, ...sessionKeys, participant.sid, participantJson(participant), atMs, ENTRY_TTL_MS, TOMBSTONE_TTL_MS, heardAtMs), roomName)
  }

  /** The participant who left, undefined when the session or the SID was not indexed, or DUPLICATE. */
  async function left (roomName: string, sid: string, atMs: number, event: string[] = [], heardAtMs = 0): Promise<IndexedParticipant | undefined | typeof DUPLICATE> {
    const sessionKeys = [keys.session(roomName), keys.participants(roomName), keys.departed(roomName), ...event]
    const json = await wrote(scripts.indexLeft(sessionKeys.length, ...sessionKeys, sid, atMs, TOMBSTONE_TTL_MS, heardAtMs), roomName)
    if (json === DUPLICATE) return DUPLICATE
    return typeof json === 'string' ? { sid, ...JSON.parse(json) as Omit<IndexedParticipant, 'sid'> } : undefined
  }

  return {
    add: async (session, checkedAtMs) => await add(session, checkedAtMs) === 1,
    get,
    async listByUser (userId) {
      const userRooms = async () => await redis.smembers(keys.user(userId))
      const rooms = await (cache === undefined ? userRooms() : cache.userRooms(userId, userRooms))
      const sessions = await read(rooms)
      const gone = rooms.filter((_room, i) => sessions[i] === undefined)
      if (gone.length > 0) await wrote(redis.srem(keys.user(userId), ...gone), undefined, userId)
      return sessions.filter((session) => session !== undefined)
    },
    async count () {
      return await redis.zcard(keys.rooms)
    },
    async reserve (roomName, userId, caps, nowMs, ttlMs) {
      const reply = await scripts.indexReserve(
        keys.user(userId), keys.rooms, keys.userReservations(userId), keys.reservations,
        roomName, caps.perUser, caps.live, nowMs, ttlMs
      )
      if (reply === RESERVED) return { reserved: true }
      const [scope, live] = reply as ['user' | 'service', number]
      return { reserved: false, scope, live }
    },
    async release (roomName, userId) {
      await redis.multi().zrem(keys.userReservations(userId), roomName).zrem(keys.reservations, roomName).exec()
    },
    async startedBefore (createdBeforeMs) {
      // The set of all rooms is scored by creation time: the old ones are one range, at any size.
      return await redis.zrangebyscore(keys.rooms, '-inf', `(${createdBeforeMs}`)
    },
    end: async (roomName) => await end(roomName) as IndexedSession | undefined,
    joined: async (roomName, participant, atMs) => await joined(roomName, participant, atMs) === 1,
    left: async (roomName, sid, atMs) => await left(roomName, sid, atMs) as IndexedParticipant | undefined,
    async replaceParticipants (roomName, participants, checkedAtMs) {
      const pairs = participants.flatMap((participant) => [participant.sid, participantJson(participant)])
      await wrote(scripts.indexReplaceParticipants(keys.session(roomName), keys.participants(roomName), checkedAtMs, ENTRY_TTL_MS, ...pairs), roomName)
    },
    async confirm (sessions, checkedAtMs) {
      if (sessions.length === 0) return
      const sessionKeys = sessions.flatMap(({ roomName, userId }) => [keys.session(roomName), keys.user(userId), keys.ended(roomName)])
      const fields = sessions.flatMap(({ roomName, userId, agentType, createdAtMs }) => [roomName, userId, agentType, createdAtMs])
      try {
        await scripts.indexConfirm(sessionKeys.length + 1, keys.rooms, ...sessionKeys, checkedAtMs, ENTRY_TTL_MS, ...fields)
      } finally {
        for (const { roomName, userId } of sessions) cache?.forget(roomName, userId)
      }
    },
    async applyEvent (change, { id, atMs }) {
      const event = id === '' ? [] : [keys.event(id)]
      switch (change.event) {
        case 'room_started':
          return changeResult(await add(change.session, atMs, event, atMs))
        case 'room_finished':
          return changeResult(await end(change.roomName, event), 'ended')
        case 'participant_joined':
          return changeResult(await joined(change.roomName, change.participant, atMs, event, atMs))
        case 'participant_left':
          return changeResult(await left(change.roomName, change.sid, atMs, event, atMs), 'left')
      }
    },
    async lastHeard (roomNames) {
      if (roomNames.length === 0) return []
      const pipeline = redis.pipeline()
      for (const roomName of roomNames) pipeline.hmget(keys.session(roomName), 'user', 'heard')
      const replies = await pipeline.exec() ?? []
      return replies.map(([err, reply]) => {
        if (err !== null) throw err
        const [user, heard] = reply as [string | null, string | null]
        return user === null ? undefined : Number(heard ?? 0)
      })
    },
    async generation () {
      return await redis.get(keys.generation) ?? undefined
    },
    async setGeneration (generation) {
      // No expiry: only a Redis that lost its data loses it.
      await redis.set(keys.generation, generation)
    },
    async lead (job, ttlMs) {
      return await redis.set(keys.lead(job), replicaId, 'PX', ttlMs, 'NX') === 'OK'
    },
    async resign (job) {
      await scripts.indexResign(keys.lead(job), replicaId)
    },
    // The connection is the service's (plugins/app/redis.ts), closed with it.
    async close () {}
  }
}
