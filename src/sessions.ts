import { httpErrors } from '@fastify/sensible'
import type { Static } from '@sinclair/typebox'
import type { Room } from 'livekit-server-sdk'
import type { AgentType } from './agent-types.js'
import type { Livekit } from './livekit.js'
import { toServiceError } from './livekit-errors.js'
import { presenceOf } from './room-presence.js'
import { isSessionRoomName, newRoomName } from './room-name.js'
import type { ActiveSessionsSchema, EndedSessionSchema, SessionStatusSchema, StartedSessionSchema } from './schemas/voice-session.js'
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

export interface SessionsOptions {
  livekit: Livekit
  requestTimeoutMs: number
}

/** The rooms that are sessions of this user, judged by the owner their metadata names. */
export function sessionsOf<R extends Pick<Room, 'metadata'>> (rooms: readonly R[], userId: string): Array<{ room: R, metadata: SessionMetadata }> {
  return rooms.flatMap((room) => {
    const metadata = parseSessionMetadata(room.metadata)
    return metadata?.user_id === userId ? [{ room, metadata }] : []
  })
}

/** When LiveKit created the room; `creationTime` is a bigint of seconds, `creationTimeMs` finer when set. */
export function createdAtOf (room: Pick<Room, 'creationTime' | 'creationTimeMs'>): string {
  const ms = room.creationTimeMs > 0n ? room.creationTimeMs : room.creationTime * 1000n
  return new Date(Number(ms)).toISOString()
}

/**
 * The one module that speaks to LiveKit: starts, reads, lists and ends voice sessions
 * and maps LiveKit's failures to deliberate HTTP errors. Routes only call this.
 */
export function createSessions ({ livekit, requestTimeoutMs }: SessionsOptions) {
  const { rooms } = livekit

  async function call<T> (request: () => Promise<T>): Promise<T> {
    try {
      return await request()
    } catch (err) {
      throw toServiceError(err, requestTimeoutMs)
    }
  }

  /** The user's session room, or 404 / 403. Reads one room, never the whole list. */
  async function ownedRoom (user: SessionUser, roomName: string): Promise<{ room: Room, metadata: SessionMetadata }> {
    if (!isSessionRoomName(roomName)) throw httpErrors.notFound('Session not found')
    const [room] = await call(() => rooms.listRooms([roomName]))
    if (room === undefined) throw httpErrors.notFound('Session not found')
    const metadata = parseSessionMetadata(room.metadata)
    if (metadata?.user_id !== user.id) throw httpErrors.forbidden('Not your session')
    return { room, metadata }
  }

  async function peopleIn (roomName: string): Promise<ReturnType<typeof presenceOf>> {
    return presenceOf(await call(() => rooms.listParticipants(roomName)))
  }

  async function start (user: SessionUser, agentType: AgentType): Promise<Static<typeof StartedSessionSchema>> {
    const roomName = newRoomName(user.id)
    const metadata = sessionMetadata(user.id, agentType, new Date())
    await call(() => rooms.createRoom({
      name: roomName,
      metadata: JSON.stringify(metadata),
      emptyTimeout: EMPTY_TIMEOUT_SECONDS,
      departureTimeout: DEPARTURE_TIMEOUT_SECONDS,
      maxParticipants: MAX_PARTICIPANTS
    }))
    const { token, expiresAt } = await livekit.issueToken({ identity: user.id, name: user.email || user.id, room: roomName })
    return { room_name: roomName, token, livekit_url: livekit.url, agent_type: agentType, expires_at: expiresAt.toISOString() }
  }

  async function status (user: SessionUser, roomName: string): Promise<Static<typeof SessionStatusSchema>> {
    const [{ room }, presence] = await Promise.all([ownedRoom(user, roomName), peopleIn(roomName)])
    return {
      room_name: roomName,
      active: presence.people > 0,
      participants: presence.people,
      agent_connected: presence.agentConnected,
      created_at: createdAtOf(room)
    }
  }

  async function end (user: SessionUser, roomName: string): Promise<Static<typeof EndedSessionSchema>> {
    await ownedRoom(user, roomName)
    await call(() => rooms.deleteRoom(roomName))
    return { status: 'ended', room_name: roomName }
  }

  async function listActive (user: SessionUser): Promise<Static<typeof ActiveSessionsSchema>> {
    const owned = sessionsOf(await call(() => rooms.listRooms()), user.id)
    const sessions = await Promise.all(owned.map(async ({ room, metadata }) => ({
      room_name: room.name,
      agent_type: metadata.agent_type,
      participants: (await peopleIn(room.name)).people,
      created_at: createdAtOf(room)
    })))
    return { sessions }
  }

  return { start, status, end, listActive }
}

export type Sessions = ReturnType<typeof createSessions>
