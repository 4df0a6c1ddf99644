import type { Room } from 'livekit-server-sdk'
import type { AgentDispatch, AgentState } from '#agents/dispatch.js'
import { DEFAULT_AGENT_TYPE, type AgentType } from '#agents/agent-types.js'
import type { Livekit } from '#livekit/livekit.js'
import { isRoomNotFound, toLivekitError } from '#livekit/errors.js'
import { mapLimited } from '#ops/map-limited.js'
import { indexedParticipants, presenceOfIndexed } from './room-presence.js'
import { isSessionRoomName, newRoomName } from './room-name.js'
import { createdAtMsOf } from '#livekit/room-time.js'
import { RECONCILE_BATCH } from '#index/reconcile.js'
import type { SessionIndex } from '#index/session-index.js'
import type { IndexedSession } from '#index/session-store.js'
import { noMetrics, type EndReason, type Metrics } from '#ops/metrics.js'
import { CapReachedError, IndexUnavailableError, NotYourSessionError, SessionNotFoundError, type CapScope } from './errors.js'
import { parseSessionMetadata, sessionMetadata } from './metadata.js'

/** The signed-in user a session belongs to: the app JWT's `sub` and `email`. */
export interface SessionUser {
  id: string
  email: string
}

/** Seconds a room waits for its first person before LiveKit closes it. */
export const EMPTY_TIMEOUT_SECONDS = 300
/**
 * Seconds a room outlives its last person: long enough for a phone to reconnect after a network
 * change, short enough that an abandoned session (whose agent never leaves by itself) ends soon.
 */
export const DEPARTURE_TIMEOUT_SECONDS = 20
/** The user and one more person (e.g. a coach); agents do not count against this limit. */
export const MAX_PARTICIPANTS = 2

/** Participant lists read at once for one `active` call, so that a user with many sessions cannot swamp LiveKit. */
const PARTICIPANT_READS_AT_ONCE = 8

/** How many sessions may live at once, and for how long. */
export interface SessionLimits {
  /** MAX_SESSIONS_PER_USER. */
  perUser: number
  /** MAX_LIVE_SESSIONS; 0 = no cap. */
  live: number
  /** MAX_SESSION_SECONDS, in ms. */
  lengthMs: number
}

export interface SessionsOptions {
  livekit: Livekit
  agents: AgentDispatch
  index: SessionIndex
  limits: SessionLimits
  metrics?: Metrics
  requestTimeoutMs: number
  /** An index entry confirmed by LiveKit this recently is answered from without calling LiveKit. */
  reconcileIntervalMs: number
  now?: () => number
}

/** The name the user has in the room: the email, or the id when the JWT has none. */
export function displayName (user: SessionUser): string {
  return user.email === '' ? user.id : user.email
}

/** A token that joins a session's room. */
export interface SessionToken {
  roomName: string
  token: string
  livekitUrl: string
  expiresAt: Date
}

/** A session just started: its token, and when the service will end it. */
export interface StartedSession extends SessionToken {
  agentType: AgentType
  endsAtMs: number
}

/** Who is in a session now. */
export interface SessionStatus {
  roomName: string
  /** People in the room; agents are not counted. */
  people: number
  agentConnected: boolean
  agentState: AgentState
  createdAtMs: number
  endsAtMs: number
}

/** One of a user's live sessions, as `listActive` gives it. */
export interface ActiveSession {
  roomName: string
  agentType: AgentType
  people: number
  agentState: AgentState
  createdAtMs: number
  endsAtMs: number
}

/**
 * The one module that speaks to LiveKit: starts, reads, lists and ends voice sessions, and turns
 * LiveKit's failures into the service's own errors (src/sessions/errors.ts, src/livekit/errors.ts).
 * Routes only call this. Reads are answered from the
 * session index while LiveKit confirmed the session within RECONCILE_INTERVAL_MS (webhooks and the
 * reconcile keep it so); a session the index does not hold fresh is read from LiveKit, and the
 * index learns what was read.
 */
export function createSessions ({ livekit, agents, index, limits, metrics = noMetrics, requestTimeoutMs, reconcileIntervalMs, now = Date.now }: SessionsOptions) {
  const { rooms } = livekit
  const { store } = index

  /** One LiveKit call; its failure becomes the service's own error, which says what was being done. */
  async function call<T> (action: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request()
    } catch (err) {
      throw toLivekitError(err, requestTimeoutMs, action)
    }
  }

  /** One session-index operation; a store that fails (Redis down) is IndexUnavailableError, never a guess. */
  async function indexed<T> (operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (err) {
      throw new IndexUnavailableError({ cause: err })
    }
  }

  /** Rooms this replica is deleting for their users (`isDeleting`): LiveKit's room_finished for one can beat DeleteRoom's answer. */
  const deleting = new Set<string>()

  const isFresh = (session: IndexedSession): boolean => now() - session.checkedAtMs < reconcileIntervalMs

  /** Records what LiveKit said of a room as the index's truth, and returns it as the index holds it. */
  async function learn (room: Room, participants: IndexedSession['participants'], checkedAtMs: number): Promise<IndexedSession | undefined> {
    const metadata = parseSessionMetadata(room.metadata)
    if (metadata === undefined) return undefined
    const session = { roomName: room.name, userId: metadata.user_id, agentType: metadata.agent_type, createdAtMs: createdAtMsOf(room) }
    await indexed(async () => {
      await store.add(session, checkedAtMs)
      await store.replaceParticipants(room.name, participants, checkedAtMs)
    })
    return { ...session, checkedAtMs, participants }
  }

  /** The session is over: the index forgets it, its watch stops, and it is counted with its reason. */
  async function forget (roomName: string, reason: EndReason): Promise<void> {
    const ended = await indexed(() => store.end(roomName))
    await agents.unwatch(roomName)
    if (ended !== undefined) metrics.sessionEnded(reason)
  }

  /**
   * The user's session, or SessionNotFoundError / NotYourSessionError: from the index while it is fresh, else from LiveKit (one
   * room by name, never the whole list), whose participants are asked for only once the room
   * proved to be the caller's.
   */
  async function ownedSession (user: SessionUser, roomName: string): Promise<IndexedSession> {
    if (!isSessionRoomName(roomName)) throw new SessionNotFoundError(roomName)
    const known = await indexed(() => store.get(roomName))
    if (known !== undefined && isFresh(known)) {
      if (known.userId !== user.id) throw new NotYourSessionError(roomName)
      return known
    }
    const checkedAtMs = now()
    const [room] = await call('read the room', () => rooms.listRooms([roomName]))
    if (room === undefined) {
      if (known !== undefined) await forget(roomName, 'reconciled')
      throw new SessionNotFoundError(roomName)
    }
    if (parseSessionMetadata(room.metadata)?.user_id !== user.id) throw new NotYourSessionError(roomName)
    const participants = indexedParticipants(await call('list the room\'s participants', () => rooms.listParticipants(roomName)))
    return await learn(room, participants, checkedAtMs) as IndexedSession
  }

  /** The sessions given, each brought up to date from LiveKit unless the index holds it fresh; those LiveKit closed are left out. */
  async function current (sessions: IndexedSession[]): Promise<IndexedSession[]> {
    const stale = sessions.filter((session) => !isFresh(session)).map((session) => session.roomName)
    if (stale.length === 0) return sessions
    const checkedAtMs = now()
    const live = new Map<string, Room>()
    for (let i = 0; i < stale.length; i += RECONCILE_BATCH) {
      for (const room of await call('read the rooms', () => rooms.listRooms(stale.slice(i, i + RECONCILE_BATCH)))) live.set(room.name, room)
    }
    const refreshed = await mapLimited(sessions, PARTICIPANT_READS_AT_ONCE, async (session) => {
      if (isFresh(session)) return session
      const room = live.get(session.roomName)
      if (room === undefined) {
        await forget(session.roomName, 'reconciled')
        return undefined
      }
      return await learn(room, indexedParticipants(await call('list the room\'s participants', () => rooms.listParticipants(room.name))), checkedAtMs)
    })
    return refreshed.filter((session) => session !== undefined)
  }

  /** The state of the session's agent; a GET's side effect: it may have the agent dispatched again (see AgentDispatch). */
  async function agentStateRedispatchingIfLost (session: IndexedSession): Promise<AgentState> {
    const dispatch = { user_id: session.userId, agent_type: session.agentType, room_name: session.roomName }
    return await agents.agentStateRedispatchingIfLost(dispatch, presenceOfIndexed(session.participants), now() - session.createdAtMs)
  }

  async function issueToken (user: SessionUser, roomName: string): Promise<SessionToken> {
    const { token, expiresAt } = await livekit.issueToken({ identity: user.id, name: displayName(user), room: roomName })
    return { roomName, token, livekitUrl: livekit.url, expiresAt }
  }

  /** When the service ends a session started at this time (MAX_SESSION_SECONDS). */
  const endsAtMs = (createdAtMs: number): number => createdAtMs + limits.lengthMs

  /** A cap refusal, counted, naming the cap, its limit and the sessions live. */
  function capReached (scope: CapScope, limit: number, live: number): Error {
    metrics.sessionCapRefused(scope)
    return new CapReachedError(scope, limit, live)
  }

  /** Refuses a start past the user's cap or the service's, counted from the index (LiveKit is asked only about stale entries). */
  async function ensureBelowCaps (user: SessionUser): Promise<void> {
    const mine = await current(await indexed(() => store.listByUser(user.id)))
    if (mine.length >= limits.perUser) throw capReached('user', limits.perUser, mine.length)
    if (limits.live === 0) return
    const live = await indexed(() => store.count())
    if (live >= limits.live) throw capReached('service', limits.live, live)
  }

  /**
   * Creates the session's room, with its agent dispatched into it, records it in the index and
   * returns a token that joins it. A room the index cannot record is deleted again: never a
   * session nobody can see.
   */
  async function start (user: SessionUser, agentType: AgentType = DEFAULT_AGENT_TYPE): Promise<StartedSession> {
    await ensureBelowCaps(user)
    const roomName = newRoomName(user.id)
    const createdAt = new Date()
    const dispatch = { user_id: user.id, agent_type: agentType, room_name: roomName }
    const created = await call('create the room', () => rooms.createRoom({
      name: roomName,
      metadata: JSON.stringify(sessionMetadata(user.id, agentType, createdAt)),
      emptyTimeout: EMPTY_TIMEOUT_SECONDS,
      departureTimeout: DEPARTURE_TIMEOUT_SECONDS,
      maxParticipants: MAX_PARTICIPANTS,
      // In the room itself: LiveKit ignores a token's dispatch for a room that already exists.
      agents: agents.roomDispatches(agentType, dispatch)
    }))
    const createdAtMs = createdAtMsOf(created) || createdAt.getTime()
    try {
      await indexed(() => store.add({ roomName, userId: user.id, agentType, createdAtMs }, now()))
    } catch (err) {
      await rooms.deleteRoom(roomName).catch(() => {})
      throw err
    }
    metrics.sessionStarted(agentType)
    if (agents.agentNameFor(agentType) !== undefined) metrics.agentDispatched('with_room')
    await agents.watch(dispatch)
    return { ...await issueToken(user, roomName), agentType, endsAtMs: endsAtMs(createdAtMs) }
  }

  /** A fresh token for the owner of a live session, e.g. to reconnect after the first one expired. */
  async function refreshToken (user: SessionUser, roomName: string): Promise<SessionToken> {
    await ownedSession(user, roomName)
    return await issueToken(user, roomName)
  }

  async function status (user: SessionUser, roomName: string): Promise<SessionStatus> {
    const session = await ownedSession(user, roomName)
    const presence = presenceOfIndexed(session.participants)
    return {
      roomName,
      people: presence.people,
      agentConnected: presence.agentConnected,
      agentState: await agentStateRedispatchingIfLost(session),
      createdAtMs: session.createdAtMs,
      endsAtMs: endsAtMs(session.createdAtMs)
    }
  }

  /** Deletes the session's room (everyone in it is disconnected) and forgets the session. */
  async function end (user: SessionUser, roomName: string): Promise<void> {
    await ownedSession(user, roomName)
    deleting.add(roomName)
    try {
      await rooms.deleteRoom(roomName)
    } catch (err) {
      deleting.delete(roomName)
      // Closed by LiveKit (or ended elsewhere) since it was read: the session is gone all the same.
      if (isRoomNotFound(err)) {
        await forget(roomName, 'reconciled')
        throw new SessionNotFoundError(roomName)
      }
      throw toLivekitError(err, requestTimeoutMs, 'delete the room')
    }
    await forget(roomName, 'deleted').finally(() => deleting.delete(roomName))
  }

  /** The caller's live sessions, from the index: the cost depends on this user's sessions only. */
  async function listActive (user: SessionUser): Promise<ActiveSession[]> {
    await call('list rooms', () => index.reconciler.whenRebuilt())
    const sessions = await current(await indexed(() => store.listByUser(user.id)))
    sessions.sort((a, b) => a.createdAtMs - b.createdAtMs)
    return await Promise.all(sessions.map(async (session) => ({
      roomName: session.roomName,
      agentType: session.agentType,
      people: presenceOfIndexed(session.participants).people,
      agentState: await agentStateRedispatchingIfLost(session),
      createdAtMs: session.createdAtMs,
      endsAtMs: endsAtMs(session.createdAtMs)
    })))
  }

  return { start, refreshToken, status, end, listActive, isDeleting: (roomName: string) => deleting.has(roomName) }
}

export type Sessions = ReturnType<typeof createSessions>
