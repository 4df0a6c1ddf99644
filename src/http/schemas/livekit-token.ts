import { Type } from '@sinclair/typebox'

const Ignored = 'Ignored: the service decides it'

/**
 * LiveKit's standard TokenSource request (livekit.TokenSourceRequest with proto field names),
 * as client SDKs send it from `TokenSource.endpoint`. Fields the standard may add later are let through.
 */
export const TokenSourceRequestSchema = Type.Object({
  room_name: Type.Optional(Type.String({ description: `${Ignored}: every call starts a new session in a new room` })),
  participant_identity: Type.Optional(Type.String({ description: `${Ignored}: the identity is the user id from the JWT` })),
  participant_name: Type.Optional(Type.String({ description: `${Ignored}: the name is the email from the JWT` })),
  participant_metadata: Type.Optional(Type.String({ description: Ignored })),
  participant_attributes: Type.Optional(Type.Record(Type.String(), Type.String(), { description: Ignored })),
  room_config: Type.Optional(Type.Object({
    agents: Type.Optional(Type.Array(Type.Object({
      agent_name: Type.Optional(Type.String({ description: 'Honoured when it is one of the agents this service dispatches; any other name is a 400' })),
      metadata: Type.Optional(Type.String({ description: `${Ignored}: the agent gets the session's user, agent type and room` }))
    }), { maxItems: 1 }))
  }, { description: 'Room settings; only `agents[0].agent_name` is read' }))
}, { description: 'LiveKit TokenSource request; every field is optional' })

export const TokenSourceResponseSchema = Type.Object({
  server_url: Type.String({ description: 'The LiveKit server URL to connect to' }),
  participant_token: Type.String({ description: 'LiveKit access token that joins the new session\'s room (for LIVEKIT_TOKEN_TTL_SECONDS, 6 hours by default; microphone only)' }),
  room_name: Type.String({ description: 'The new session\'s room, for status, token refresh and end' }),
  participant_name: Type.String({ description: 'The name the user has in the room' })
}, { description: 'LiveKit TokenSource response' })
