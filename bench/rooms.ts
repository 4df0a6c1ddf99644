import type { CreateOptions, Room, RoomServiceClient } from 'livekit-server-sdk'
import type { AgentType } from '#agents/agent-types.js'
import { mapLimited } from '#ops/map-limited.js'
import { sessionMetadata } from '#sessions/metadata.js'
import { newRoomName } from '#sessions/room-name.js'
import { DEPARTURE_TIMEOUT_SECONDS, EMPTY_TIMEOUT_SECONDS, MAX_PARTICIPANTS } from '#sessions/sessions.js'

/** Session rooms made with the bare SDK exactly as the service's start makes them, for the benches. */

/** The agent type of every session the benches make. */
export const AGENT_TYPE: AgentType = 'workout'
/** LiveKit calls in flight while a bench seeds and clears rooms (not measured). */
export const SETUP_CALLS_AT_ONCE = 16
/** Other users' rooms must outlive the whole run, nobody ever joining them. */
const OTHER_ROOM_EMPTY_TIMEOUT_SECONDS = 86_400

/** The options the service's start gives createRoom (src/sessions/sessions.ts), for a room of `userId`. */
export function sessionRoom (userId: string, name = newRoomName(userId)): CreateOptions {
  return {
    name,
    metadata: JSON.stringify(sessionMetadata(userId, AGENT_TYPE, new Date())),
    emptyTimeout: EMPTY_TIMEOUT_SECONDS,
    departureTimeout: DEPARTURE_TIMEOUT_SECONDS,
    maxParticipants: MAX_PARTICIPANTS,
    agents: []
  }
}

/**
 * The rooms of other users `other-user-{from}` to `other-user-{to - 1}` (one each), as the service
 * would have made them, SETUP_CALLS_AT_ONCE at a time; LiveKit's rooms, in that order.
 */
export async function createOtherRooms (sdk: RoomServiceClient, from: number, to: number): Promise<Room[]> {
  const indexes = Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
  return await mapLimited(indexes, SETUP_CALLS_AT_ONCE, async (i) =>
    await sdk.createRoom({ ...sessionRoom(`other-user-${i}`), emptyTimeout: OTHER_ROOM_EMPTY_TIMEOUT_SECONDS }))
}
