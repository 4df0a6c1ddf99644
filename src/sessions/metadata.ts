import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Room } from 'livekit-server-sdk'
import { AgentTypeSchema, isAgentType, type AgentType } from '#agents/agent-types.js'
import { createdAtMsOf } from '#livekit/room-time.js'

/** What the service writes into a session room's metadata: the room's owner and its agent. */
export const SessionMetadataSchema = Type.Object({
  user_id: Type.String({ minLength: 1 }),
  agent_type: AgentTypeSchema,
  mode: Type.Literal('voice'),
  created_at: Type.String()
})

export type SessionMetadata = Static<typeof SessionMetadataSchema>

const checker = TypeCompiler.Compile(SessionMetadataSchema)

export function sessionMetadata (userId: string, agentType: AgentType, createdAt: Date): SessionMetadata {
  return { user_id: userId, agent_type: agentType, mode: 'voice', created_at: createdAt.toISOString() }
}

/**
 * Reads a room's metadata. A room whose metadata is missing, not JSON or not of
 * this shape was not made by this service and belongs to nobody: `undefined`.
 */
export function parseSessionMetadata (raw: string | undefined): SessionMetadata | undefined {
  if (raw === undefined || raw === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return undefined
  }
  // The compiled checker does not look inside the agent type's `enum`; isAgentType does.
  return checker.Check(value) && isAgentType(value.agent_type) ? value : undefined
}

/** A session as its room tells it: the room, its owner and agent type (from the metadata), and when LiveKit created it. */
export interface RoomSession {
  roomName: string
  userId: string
  agentType: AgentType
  createdAtMs: number
}

/** The session a LiveKit room holds, or undefined for a room this service did not make. */
export function sessionOfRoom (room: Pick<Room, 'name' | 'metadata' | 'creationTime' | 'creationTimeMs'>): RoomSession | undefined {
  const metadata = parseSessionMetadata(room.metadata)
  return metadata === undefined ? undefined : { roomName: room.name, userId: metadata.user_id, agentType: metadata.agent_type, createdAtMs: createdAtMsOf(room) }
}
