import {
  ENTRY_TTL_MS,
  TOMBSTONE_TTL_MS,
  type ChangeResult,
  type EventOutcome,
  type IndexChange,
  type IndexedParticipant,
  type IndexedSession,
  type NewSession,
  type SessionStore
} from './session-store.js'

/** Keys that are forgotten `ttlMs` after they were set; bounded by the rooms and events of that time. */
function expiringSet (ttlMs: number, now: () => number) {
  const until = new Map<string, number>()
  function sweep (): void {
    const at = now()
    // Insertion order is expiry order: every key lives the same ttl.
    for (const [key, expiry] of until) {
      if (expiry > at) break
      until.delete(key)
    }
  }
  return {
    has (key: string): boolean {
      sweep()
      return until.has(key)
    },
    add (key: string): void {
      sweep()
      until.delete(key)
      until.set(key, now() + ttlMs)
    }
  }
}

interface Entry {
  session: Omit<IndexedSession, 'participants'>
  participants: Map<string, IndexedParticipant>
  departed: Set<string>
}

/** The session index in this process's memory: for one replica (no REDIS_URL). */
export function createMemoryStore ({ now = Date.now }: { now?: () => number } = {}): SessionStore {
  const entries = new Map<string, Entry>()
  const byUser = new Map<string, Set<string>>()
  const ended = expiringSet(TOMBSTONE_TTL_MS, now)
  const events = expiringSet(TOMBSTONE_TTL_MS, now)
  /** Rooms being started (`reserve`): their user, and when the reservation expires. */
  const reservations = new Map<string, { userId: string, expiresAtMs: number }>()
  let generation: string | undefined

  function live (roomName: string): Entry | undefined {
    const entry = entries.get(roomName)
    if (entry !== undefined && now() - entry.session.checkedAtMs > ENTRY_TTL_MS) {
      remove(roomName)
      return undefined
    }
    return entry
  }

  function view (entry: Entry): IndexedSession {
    return { ...entry.session, participants: [...entry.participants.values()] }
  }

  function remove (roomName: string): Entry | undefined {
    const entry = entries.get(roomName)
    if (entry === undefined) return undefined
    entries.delete(roomName)
    const rooms = byUser.get(entry.session.userId)
    rooms?.delete(roomName)
    if (rooms?.size === 0) byUser.delete(entry.session.userId)
    return entry
  }

  /** Changes, each in one tick: atomic with one replica. */
  function add (session: NewSession, checkedAtMs: number): boolean {
    reservations.delete(session.roomName)
    return record(session, checkedAtMs)
  }

  /** `add` without the reservation. */
  function record (session: NewSession, checkedAtMs: number): boolean {
    if (ended.has(session.roomName)) return false
    const existing = live(session.roomName)
    if (existing !== undefined) {
      existing.session.checkedAtMs = Math.max(existing.session.checkedAtMs, checkedAtMs)
      return true
    }
    entries.set(session.roomName, { session: { ...session, checkedAtMs, heardAtMs: 0 }, participants: new Map(), departed: new Set() })
    const rooms = byUser.get(session.userId) ?? new Set<string>()
    rooms.add(session.roomName)
    byUser.set(session.userId, rooms)
    return true
  }

  function end (roomName: string): IndexedSession | undefined {
    ended.add(roomName)
    const entry = remove(roomName)
    return entry === undefined ? undefined : view(entry)
  }

  function joined (roomName: string, participant: IndexedParticipant, atMs: number): boolean {
    const entry = live(roomName)
    if (entry === undefined || entry.departed.has(participant.sid)) return false
    entry.participants.set(participant.sid, participant)
    entry.session.checkedAtMs = Math.max(entry.session.checkedAtMs, atMs)
    return true
  }

  function left (roomName: string, sid: string, atMs: number): IndexedParticipant | undefined {
    const entry = live(roomName)
    if (entry === undefined) return undefined
    entry.departed.add(sid)
    const participant = entry.participants.get(sid)
    entry.participants.delete(sid)
    entry.session.checkedAtMs = Math.max(entry.session.checkedAtMs, atMs)
    return participant
  }

  function change (what: IndexChange, atMs: number): ChangeResult {
    const outcome = (applied: boolean): EventOutcome => applied ? 'applied' : 'ignored'
    switch (what.event) {
      case 'room_started':
        return { outcome: outcome(add(what.session, atMs)) }
      case 'room_finished': {
        const session = end(what.roomName)
        return session === undefined ? { outcome: 'ignored' } : { outcome: 'applied', ended: session }
      }
      case 'participant_joined':
        return { outcome: outcome(joined(what.roomName, what.participant, atMs)) }
      case 'participant_left': {
        const participant = left(what.roomName, what.sid, atMs)
        return participant === undefined ? { outcome: 'ignored' } : { outcome: 'applied', left: participant }
      }
    }
  }

  return {
    add: async (session, checkedAtMs) => add(session, checkedAtMs),
    async get (roomName) {
      const entry = live(roomName)
      return entry === undefined ? undefined : view(entry)
    },
    async listByUser (userId) {
      return [...byUser.get(userId) ?? []].flatMap((roomName) => {
        const entry = live(roomName)
        return entry === undefined ? [] : [view(entry)]
      })
    },
    async count () {
      return entries.size
    },
    // No await before the write: one tick, so atomic.
    async reserve (roomName, userId, caps, nowMs, ttlMs) {
      for (const [room, { expiresAtMs }] of reservations) if (expiresAtMs <= nowMs) reservations.delete(room)
      const reservedByUser = [...reservations.values()].filter((reservation) => reservation.userId === userId).length
      const mine = [...byUser.get(userId) ?? []].filter((room) => live(room) !== undefined).length + reservedByUser
      if (mine >= caps.perUser) return { reserved: false, scope: 'user', live: mine }
      const all = entries.size + reservations.size
      if (caps.live > 0 && all >= caps.live) return { reserved: false, scope: 'service', live: all }
      reservations.set(roomName, { userId, expiresAtMs: nowMs + ttlMs })
      return { reserved: true }
    },
    async release (roomName) {
      reservations.delete(roomName)
    },
    async startedBefore (createdBeforeMs) {
      return [...entries.values()].filter((entry) => entry.session.createdAtMs < createdBeforeMs).map((entry) => entry.session.roomName)
    },
    end: async (roomName) => end(roomName),
    joined: async (roomName, participant, atMs) => joined(roomName, participant, atMs),
    left: async (roomName, sid, atMs) => left(roomName, sid, atMs),
    async replaceParticipants (roomName, participants, checkedAtMs) {
      const entry = live(roomName)
      if (entry === undefined || entry.session.checkedAtMs > checkedAtMs) return
      entry.participants = new Map(participants.map((participant) => [participant.sid, participant]))
      entry.session.checkedAtMs = Math.max(entry.session.checkedAtMs, checkedAtMs)
    },
    async confirm (sessions, checkedAtMs) {
      for (const session of sessions) record(session, checkedAtMs)
    },
    async applyEvent (what, { id, atMs }) {
      if (id !== '' && events.has(id)) return { outcome: 'duplicate' }
      const result = change(what, atMs)
      const entry = live(what.event === 'room_started' ? what.session.roomName : what.roomName)
      if (entry !== undefined) entry.session.heardAtMs = Math.max(entry.session.heardAtMs, atMs)
      if (id !== '') events.add(id)
      return result
    },
    async lastHeard (roomNames) {
      return roomNames.map((roomName) => live(roomName)?.session.heardAtMs)
    },
    // Memory forgets only with its process, whose new memory is rebuilt at start.
    generation: async () => generation,
    async setGeneration (value) {
      generation = value
    },
    async lead () {
      return true
    },
    async resign () {},
    async close () {}
  }
}
