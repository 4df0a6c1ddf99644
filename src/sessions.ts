import { httpErrors } from '@fastify/sensible'
import type { Static } from '@sinclair/typebox'
import type { Room } from 'livekit-server-sdk'
import type { AgentDispatch, AgentState } from './agent-dispatch.js'
import type { AgentType } from './agent-types.js'
import type { Livekit } from './livekit.js'
import { isRoomNotFound, toServiceError } from './livekit-errors.js'
import { mapLimited } from './map-limited.js'
import { presenceOf, type RoomPresence } from './room-presence.js'
import { isSessionRoomName, newRoomName } from './room-name.js'
import type { ActiveSessionsSchema, EndedSessionSchema, SessionStatusSchema, SessionTokenSchema, StartedSessionSchema } from './schemas/voice-session.js'
import { parseSessionMetadata, sessionMetadata, type SessionMetadata } from './session-metadata.js'

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

export interface SessionsOptions {
  livekit: Livekit
  agents: AgentDispatch
  requestTimeoutMs: number
}

/** The rooms that are sessions of this user, judged by the owner their metadata names. */
export function sessionsOf<R extends Pick<Room, 'metadata'>> (rooms: readonly R[], userId: string): Array<{ room: R, metadata: SessionMetadata }> {
  return rooms.flatMap((room) => {
    const metadata = parseSessionMetadata(room.metadata)
    return metadata?.user_id === userId ? [{ room, metadata }] : []
  })
}

/** The name the user has in the room: the email, or the id when the JWT has none. */
export function displayName (user: SessionUser): string {
  return user.email === '' ? user.id : user.email
}

/** When LiveKit created the room, in ms; `creationTime` is a bigint of seconds, `creationTimeMs` finer when set. */
function createdAtMsOf (room: Pick<Room, 'creationTime' | 'creationTimeMs'>): number {
  return Number(room.creationTimeMs > 0n ? room.creationTimeMs : room.creationTime * 1000n)
}

/** When LiveKit created the room, as ISO 8601. */
export function createdAtOf (room: Pick<Room, 'creationTime' | 'creationTimeMs'>): string {
  return new Date(createdAtMsOf(room)).toISOString()
}

/**
 * The one module that speaks to LiveKit: starts, reads, lists and ends voice sessions
 * and maps LiveKit's failures to deliberate HTTP errors. Routes only call this.
 */
export function createSessions ({ livekit, agents, requestTimeoutMs }: SessionsOptions) {
  const { rooms } = livekit

  /** One LiveKit call; its failure becomes a deliberate HTTP error that says what was being done. */
  async function call<T> (action: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request()
    } catch (err) {
      throw toServiceError(err, requestTimeoutMs, action)
    }
  }

  /** The user's session room, or 404 / 403. Reads one room, never the whole list. */
  async function ownedRoom (user: SessionUser, roomName: string): Promise<{ room: Room, metadata: SessionMetadata }> {
    if (!isSessionRoomName(roomName)) throw httpErrors.notFound('Session not found')
    const [room] = await call('read the room', () => rooms.listRooms([roomName]))
    if (room === undefined) throw httpErrors.notFound('Session not found')
    const metadata = parseSessionMetadata(room.metadata)
    if (metadata?.user_id !== user.id) throw httpErrors.forbidden('Not your session')
    return { room, metadata }
  }

  async function agentStateRedispatchingIfLost (room: Room, metadata: SessionMetadata, presence: RoomPresence): Promise<AgentState> {
    const session = { user_id: metadata.user_id, agent_type: metadata.agent_type, room_name: room.name }
    return await agents.agentStateRedispatchingIfLost(session, presence, Date.now() - createdAtMsOf(room))
  }

  async function peopleIn (roomName: string): Promise<RoomPresence> {
    return presenceOf(await call('list the room\'s participants', () => rooms.listParticipants(roomName)))
  }

  async function issueToken (user: SessionUser, roomName: string): Promise<Static<typeof SessionTokenSchema>> {
    const { token, expiresAt } = await livekit.issueToken({ identity: user.id, name: displayName(user), room: roomName })
    return { room_name: roomName, token, livekit_url: livekit.url, expires_at: expiresAt.toISOString() }
  }

  /** Creates the session's room, with its agent dispatched into it, and a token that joins it. */
  async function start (user: SessionUser, agentType: AgentType): Promise<Static<typeof StartedSessionSchema>> {
    const roomName = newRoomName(user.id)
    const metadata = sessionMetadata(user.id, agentType, new Date())
    const dispatch = { user_id: user.id, agent_type: agentType, room_name: roomName }
    await call('create the room', () => rooms.createRoom({
      name: roomName,
      metadata: JSON.stringify(metadata),
      emptyTimeout: EMPTY_TIMEOUT_SECONDS,
      departureTimeout: DEPARTURE_TIMEOUT_SECONDS,
      maxParticipants: MAX_PARTICIPANTS,
      // In the room itself: LiveKit ignores a token's dispatch for a room that already exists.
      agents: agents.roomDispatches(agentType, dispatch)
    }))
    await agents.watch(dispatch)
    return { ...await issueToken(user, roomName), agent_type: agentType }
  }

  /** A fresh token for the owner of a live session, e.g. to reconnect after the first one expired. */
  async function refreshToken (user: SessionUser, roomName: string): Promise<Static<typeof SessionTokenSchema>> {
    await ownedRoom(user, roomName)
    return await issueToken(user, roomName)
  }

  async function status (user: SessionUser, roomName: string): Promise<Static<typeof SessionStatusSchema>> {
    // Ownership first: LiveKit is never asked about who is in another user's room.
    const { room, metadata } = await ownedRoom(user, roomName)
    const presence = await peopleIn(roomName)
    return {
      room_name: roomName,
      active: presence.people > 0,
      participants: presence.people,
      agent_connected: presence.agentConnected,
      agent_state: await agentStateRedispatchingIfLost(room, metadata, presence),
      created_at: createdAtOf(room)
    }
  }

  async function end (user: SessionUser, roomName: string): Promise<Static<typeof EndedSessionSchema>> {
    await ownedRoom(user, roomName)
    try {
      await rooms.deleteRoom(roomName)
    } catch (err) {
      // Closed by LiveKit (or ended elsewhere) since it was read: the session is gone all the same.
      if (isRoomNotFound(err)) throw httpErrors.notFound('Session not found')
      throw toServiceError(err, requestTimeoutMs, 'delete the room')
    }
    await agents.unwatch(roomName)
    return { status: 'ended', room_name: roomName }
  }

  async function listActive (user: SessionUser): Promise<Static<typeof ActiveSessionsSchema>> {
    const owned = sessionsOf(await call('list rooms', () => rooms.listRooms()), user.id)
    const sessions = await mapLimited(owned, PARTICIPANT_READS_AT_ONCE, async ({ room, metadata }) => {
      const presence = await peopleIn(room.name)
      return {
        room_name: room.name,
        agent_type: metadata.agent_type,
        participants: presence.people,
        agent_state: await agentStateRedispatchingIfLost(room, metadata, presence),
        created_at: createdAtOf(room)
      }
    })
    return { sessions }
  }

  return { start, refreshToken, status, end, listActive }
}

export type Sessions = ReturnType<typeof createSessions>
