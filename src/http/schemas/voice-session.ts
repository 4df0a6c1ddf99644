import { Type } from '@sinclair/typebox'
import { MAX_UTF8_BYTES } from './byte-length.js'

// The API's own words for what the domain knows (src/agents, src/sessions); test/http/schemas.test.ts
// checks that they agree.

/** LiveKit's longest room name, in UTF-8 bytes. */
export const MAX_ROOM_NAME_BYTES = 256

/** The kinds of voice agent a session can be started with. */
export const AGENT_TYPES = ['workout', 'diet', 'supplement', 'tracker', 'scheduler', 'general'] as const

/** Where a session's voice agent is. */
export const AGENT_STATES = ['connected', 'dispatching', 'missing', 'none'] as const

// A JSON Schema `enum` rather than a union of literals: OpenAPI client generators turn it into a proper enum.
export const AgentTypeSchema = Type.Unsafe<typeof AGENT_TYPES[number]>(Type.String({
  enum: [...AGENT_TYPES],
  description: 'The kind of voice agent that serves the session'
}))

const RoomNameSchema = Type.String({
  description: 'The session\'s LiveKit room, as returned by `start`',
  examples: ['fitness-voice-user-42-9f86d081']
})

const CreatedAtSchema = Type.String({ format: 'date-time', description: 'When LiveKit created the room (ISO 8601)' })
const EndsAtSchema = Type.String({ format: 'date-time', description: 'When the service ends the session if it is still live: its creation plus MAX_SESSION_SECONDS (ISO 8601)' })

export const RoomNameParamsSchema = Type.Object({
  room_name: Type.String({
    minLength: 1,
    maxLength: MAX_ROOM_NAME_BYTES,
    // LiveKit's limit is in bytes: 256 ASCII characters, fewer of any other script.
    [MAX_UTF8_BYTES]: MAX_ROOM_NAME_BYTES,
    // No control characters; LiveKit accepts any other character in a room name.
    pattern: '^[^\\u0000-\\u001f\\u007f]+$',
    description: 'The session\'s LiveKit room name (at most 256 bytes in UTF-8; percent-encode it in the URL)'
  })
})

export const StartSessionBodySchema = Type.Object({
  agent_type: Type.Optional(AgentTypeSchema)
}, { additionalProperties: false, description: 'An empty body starts a `general` session' })

const TokenSchema = Type.String({ description: 'LiveKit access token for the user: joins this room only, until `expires_at` (LIVEKIT_TOKEN_TTL_SECONDS, 6 hours by default); publishes the microphone only' })
const LivekitUrlSchema = Type.String({ description: 'The LiveKit server URL the client connects to' })
const ExpiresAtSchema = Type.String({ format: 'date-time', description: 'When the token expires (ISO 8601)' })

export const StartedSessionSchema = Type.Object({
  room_name: RoomNameSchema,
  token: TokenSchema,
  livekit_url: LivekitUrlSchema,
  agent_type: AgentTypeSchema,
  expires_at: ExpiresAtSchema,
  ends_at: EndsAtSchema
}, { description: 'A started voice session and the credentials to join it' })

export const SessionTokenSchema = Type.Object({
  room_name: RoomNameSchema,
  token: TokenSchema,
  livekit_url: LivekitUrlSchema,
  expires_at: ExpiresAtSchema
}, { description: 'A fresh token for a live session' })

const AgentStateSchema = Type.Unsafe<typeof AGENT_STATES[number]>(Type.String({
  enum: [...AGENT_STATES],
  description: '`connected`: the voice agent is in the room. `dispatching`: it was dispatched and has not joined yet ' +
    '(the service dispatches it again while it stays away). `missing`: every dispatch went unanswered, or the agent left. ' +
    '`none`: no agent is dispatched for this agent type'
}))

export const SessionStatusSchema = Type.Object({
  room_name: RoomNameSchema,
  active: Type.Boolean({ description: 'At least one person is in the room' }),
  participants: Type.Integer({ minimum: 0, description: 'People in the room, once connected (agents are not counted)' }),
  agent_connected: Type.Boolean({ description: 'A voice agent is in the room, its media connected' }),
  agent_state: AgentStateSchema,
  created_at: CreatedAtSchema,
  ends_at: EndsAtSchema
}, { description: 'Who is in a voice session right now' })

export const EndedSessionSchema = Type.Object({
  status: Type.Literal('ended'),
  room_name: RoomNameSchema
}, { description: 'The session was ended: its room is deleted and everyone disconnected' })

export const ActiveSessionSchema = Type.Object({
  room_name: RoomNameSchema,
  agent_type: AgentTypeSchema,
  participants: Type.Integer({ minimum: 0, description: 'People in the room, once connected (agents are not counted)' }),
  agent_state: AgentStateSchema,
  created_at: CreatedAtSchema,
  ends_at: EndsAtSchema
})

export const ActiveSessionsSchema = Type.Object({
  sessions: Type.Array(ActiveSessionSchema)
}, { description: 'The caller\'s live voice sessions' })
