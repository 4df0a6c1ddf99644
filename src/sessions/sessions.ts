import type { Room } from 'livekit-server-sdk'
import type { AgentDispatch, AgentState } from '#agents/dispatch.js'
import { DEFAULT_AGENT_TYPE, type AgentType } from '#agents/agent-types.js'
import { NO_NODE_RETRY_MS, type Livekit } from '#livekit/livekit.js'
import { isRoomNotFound, LivekitTimeoutError, toLivekitError } from '#livekit/errors.js'
import { chunks } from '#ops/chunks.js'
import { mapLimited } from '#ops/map-limited.js'
import { indexedParticipants, presenceOfIndexed } from './room-presence.js'
import { isSessionRoomName, newRoomName } from './room-name.js'
import { createdAtMsOf } from '#livekit/room-time.js'
import { RECONCILE_BATCH } from '#index/reconcile.js'
import { CONFIRM_WITHIN_MS } from '#index/webhook-health.js'
import type { SessionIndex } from '#index/session-index.js'
import type { IndexedSession } from '#index/session-store.js'
import { noMetrics, type EndReason, type Metrics } from '#ops/metrics.js'
import { CapReachedError, IndexUnavailableError, NotYourSessionError, SessionNotFoundError, type CapScope } from './errors.js'
import { parseSessionMetadata, sessionMetadata, sessionOfRoom, type RoomSession } from './metadata.js'

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

/** Margin of a reservation's life over the start it covers (the event loop of a busy replica, Redis's answer). */
const RESERVATION_MARGIN_MS = 5_000

/**
 * How long a start's reservation holds its place under the caps: CreateRoom and the index write
 * after it, each about one LIVEKIT_REQUEST_TIMEOUT_MS at most, CreateRoom's retries while LiveKit
 * has no node for the room, and a margin. A start that takes
 * longer has its room counted once it is recorded; a replica that dies mid-start frees its place
 * after this.
 */
export const reservationTtlMs = (requestTimeoutMs: number): number => 2 * requestTimeoutMs + NO_NODE_RETRY_MS + RESERVATION_MARGIN_MS

/** How long a live read from LiveKit is answered from again: a client polling status costs LiveKit at most one read a second. */
export const LIVE_READ_REUSE_MS = 1000
/** How long a start waits for an index being rebuilt before it answers 503 (a rebuild at 10,000 rooms takes 1-2 s). */
const REBUILD_WAIT_MS = 10_000

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

  /** How long the reconcile's confirmation holds: its interval, and a margin for a pass that takes long. */
  const confirmedForMs = reconcileIntervalMs * 1.5
  const { webhooks } = index

  /**
   * Whether the index's word on a session is the truth, so that LiveKit need not be asked. LiveKit
   * read just now (LIVE_READ_REUSE_MS): yes. Otherwise only while webhooks tell the index of the
   * session's changes, proven rather than assumed: a webhook spoke of this room (or, once webhooks
   * are seen arriving, the room is older than their delay), webhooks have not gone silent, and the
   * reconcile confirmed the room within its interval and a margin. Without webhooks every answer is live.
   */
  function isFresh (session: IndexedSession): boolean {
    const age = now() - session.checkedAtMs
    if (age < LIVE_READ_REUSE_MS) return true
    const state = webhooks.state()
    if (state === 'silent' || age >= confirmedForMs) return false
    return session.heardAtMs > 0 || (state === 'arriving' && now() - session.createdAtMs >= CONFIRM_WITHIN_MS)
  }

  /** Records what LiveKit said of a room as the index's truth, and returns it as the index holds it. */
  async function learn (room: Room, participants: IndexedSession['participants'], checkedAtMs: number, heardAtMs: number): Promise<IndexedSession | undefined> {
    const session = sessionOfRoom(room)
    if (session === undefined) return undefined
    await indexed(async () => {
      await store.add(session, checkedAtMs)
      await store.replaceParticipants(room.name, participants, checkedAtMs)
    })
    return { ...session, checkedAtMs, heardAtMs, participants }
  }

  /** The people and agents in a room, as LiveKit lists them now. */
  async function participantsIn (roomName: string): Promise<IndexedSession['participants']> {
    return indexedParticipants(await call('list the room\'s participants', () => rooms.listParticipants(roomName)))
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
    return await learn(room, await participantsIn(roomName), checkedAtMs, known?.heardAtMs ?? 0) as IndexedSession
  }

  /** The sessions given, each brought up to date from LiveKit unless the index holds it fresh; those LiveKit closed are left out. */
  async function current (sessions: IndexedSession[]): Promise<IndexedSession[]> {
    const stale = sessions.filter((session) => !isFresh(session)).map((session) => session.roomName)
    if (stale.length === 0) return sessions
    const checkedAtMs = now()
    const live = new Map<string, Room>()
    for (const batch of chunks(stale, RECONCILE_BATCH)) {
      for (const room of await call('read the rooms', () => rooms.listRooms(batch))) live.set(room.name, room)
    }
    const refreshed = await mapLimited(sessions, PARTICIPANT_READS_AT_ONCE, async (session) => {
      if (isFresh(session)) return session
      const room = live.get(session.roomName)
      if (room === undefined) {
        await forget(session.roomName, 'reconciled')
        return undefined
      }
      return await learn(room, await participantsIn(room.name), checkedAtMs, session.heardAtMs)
    })
    return refreshed.filter((session) => session !== undefined)
  }

  /** The state of the session's agent; a GET's side effect: it may have the agent dispatched again (see AgentDispatch). */
  async function agentStateRedispatchingIfLost (session: IndexedSession): Promise<AgentState> {
    const dispatch = { user_id: session.userId, agent_type: session.agentType, room_name: session.roomName }
    // The dispatch ledger is in Redis too: its failure is the index's.
    return await indexed(() => agents.agentStateRedispatchingIfLost(dispatch, presenceOfIndexed(session.participants), now() - session.createdAtMs))
  }

  function issueToken (user: SessionUser, roomName: string): SessionToken {
    const { token, expiresAt } = livekit.issueToken({ identity: user.id, name: displayName(user), room: roomName })
    return { roomName, token, livekitUrl: livekit.url, expiresAt }
  }

  /** When the service ends a session started at this time (MAX_SESSION_SECONDS). */
  const endsAtMs = (createdAtMs: number): number => createdAtMs + limits.lengthMs

  /** A cap refusal, counted, naming the cap, its limit and the sessions live. */
  function capReached (scope: CapScope, limit: number, live: number): Error {
    metrics.sessionCapRefused(scope)
    return new CapReachedError(scope, limit, live)
  }

  /**
   * Holds a place for the room under the user's cap and the service's, in one atomic step with the
   * count (the store's `reserve`), so that concurrent starts through any number of replicas never
   * pass a cap; past one, CapReachedError. At the user's cap, the user's stale entries are checked
   * with LiveKit first, which can only free places.
   */
  async function reserve (user: SessionUser, roomName: string): Promise<void> {
    const caps = { perUser: limits.perUser, live: limits.live }
    const held = async () => await indexed(() => store.reserve(roomName, user.id, caps, now(), reservationTtlMs(requestTimeoutMs)))
    let reservation = await held()
    // At the user's cap: those of the user's sessions the index does not hold fresh are checked with
    // LiveKit (which can only free places), and the place is asked for again. A start under the cap,
    // the usual one, costs one round trip to the store.
    if (!reservation.reserved && reservation.scope === 'user') {
      await current(await indexed(() => store.listByUser(user.id)))
      reservation = await held()
    }
    if (!reservation.reserved) throw capReached(reservation.scope, reservation.scope === 'user' ? caps.perUser : caps.live, reservation.live)
  }

  /** Gives the place back (the start failed); should the store be away, the reservation expires by itself. */
  async function release (user: SessionUser, roomName: string): Promise<void> {
    await store.release(roomName, user.id).catch(() => {})
  }

  /**
   * Creates the session's room, with its agent dispatched into it, records it in the index and
   * returns a token that joins it. A room the index cannot record is deleted again: never a
   * session nobody can see.
   */
  async function start (user: SessionUser, agentType: AgentType = DEFAULT_AGENT_TYPE): Promise<StartedSession> {
    const roomName = newRoomName(user.id)
    // The caps count what the index holds: a start waits for an index being rebuilt. One LiveKit
    // failed to list for the rebuild is asked to create the room all the same: its answer says how it is.
    if (await index.reconciler.whenUsable(REBUILD_WAIT_MS) === 'unavailable') throw new IndexUnavailableError()
    await reserve(user, roomName)
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
    })).catch(async (err: unknown) => {
      // A timed-out CreateRoom may have made the room: its place stays held until the room is recorded
      // (its room_started) or the reservation expires.
      if (!(err instanceof LivekitTimeoutError)) await release(user, roomName)
      throw err
    })
    const createdAtMs = createdAtMsOf(created) || createdAt.getTime()
    webhooks.expect(roomName)
    try {
      await indexed(() => store.add({ roomName, userId: user.id, agentType, createdAtMs }, now()))
    } catch (err) {
      await rooms.deleteRoom(roomName).catch(() => {})
      await release(user, roomName)
      throw err
    }
    metrics.sessionStarted(agentType)
    if (agents.agentNameFor(agentType) !== undefined) metrics.agentDispatched('with_room')
    await agents.watch(dispatch)
    return { ...issueToken(user, roomName), agentType, endsAtMs: endsAtMs(createdAtMs) }
  }

  /** A fresh token for the owner of a live session, e.g. to reconnect after the first one expired. */
  async function refreshToken (user: SessionUser, roomName: string): Promise<SessionToken> {
    await ownedSession(user, roomName)
    return issueToken(user, roomName)
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

  /**
   * The caller's sessions as LiveKit holds them, from its full room list: while the index is being
   * rebuilt (it lost its data), whatever it costs.
   */
  async function sessionsInLivekit (user: SessionUser): Promise<IndexedSession[]> {
    const checkedAtMs = now()
    const mine = (await call('list rooms', () => rooms.listRooms())).map(sessionOfRoom).filter((session): session is RoomSession => session?.userId === user.id)
    return await mapLimited(mine, PARTICIPANT_READS_AT_ONCE, async (session) => ({ ...session, checkedAtMs, heardAtMs: 0, participants: await participantsIn(session.roomName) }))
  }

  /** The caller's live sessions, from the index (the cost depends on this user's sessions only), or from LiveKit while the index is rebuilt. */
  async function listActive (user: SessionUser): Promise<ActiveSession[]> {
    // A replica just started has not yet looked whether the index is whole: it asks, rather than reading LiveKit's every room.
    if (!index.reconciler.usable()) await index.reconciler.looked()
    const sessions = index.reconciler.usable() ? await current(await indexed(() => store.listByUser(user.id))) : await sessionsInLivekit(user)
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
