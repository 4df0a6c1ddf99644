import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { emptyBodyAsObject } from '#http/empty-body.js'
import { errorResponses } from '#http/schemas/error.js'
import { OPTIONAL_BODY } from '#http/schemas/optional-body.js'
import { activeBody, endedBody, startedBody, statusBody, tokenBody } from '#http/voice-session-bodies.js'
import {
  ActiveSessionsSchema,
  EndedSessionSchema,
  RoomNameParamsSchema,
  SessionStatusSchema,
  SessionTokenSchema,
  StartSessionBodySchema,
  StartedSessionSchema
} from '#http/schemas/voice-session.js'

const tags = ['voice-sessions']
const security = [{ bearerAuth: [] }]
const upstreamErrors = errorResponses(502, 503, 504)
/** What GET status and GET active may change: `agents.agentStateRedispatchingIfLost`. */
const redispatchSideEffect = 'when a person waits in a session whose voice agent is not in the room, this call has the ' +
  'agent dispatched again (`agent_state` is then `dispatching`) once LiveKit lists every earlier dispatch as lost ' +
  '(no job, or a job whose agent is gone); at most AGENT_DISPATCH_ATTEMPTS dispatches per session in all.'

/** /api/v1/voice-sessions: start, inspect, list and end the signed-in user's voice sessions. */
const voiceSessions: FastifyPluginAsyncTypebox = async function (fastify) {
  const { sessions, rateLimits } = fastify

  fastify.post('/start', {
    preHandler: rateLimits.start,
    schema: {
      tags,
      security,
      operationId: 'startVoiceSession',
      summary: 'Start a voice session',
      description: 'Creates a LiveKit room for the signed-in user and returns the LiveKit URL and a token that joins it. ' +
        'The body is optional; `agent_type` defaults to `general`.',
      body: StartSessionBodySchema,
      [OPTIONAL_BODY]: true,
      response: { 200: StartedSessionSchema, ...errorResponses(400, 401, 413, 415, 429, 500), ...upstreamErrors }
    },
    // A POST with no body at all starts a `general` session.
    preValidation: emptyBodyAsObject
  }, async (request) => {
    return startedBody(await sessions.start(request.user, request.body.agent_type))
  })

  fastify.get('/active', {
    preHandler: rateLimits.api,
    schema: {
      tags,
      security,
      operationId: 'listActiveVoiceSessions',
      summary: 'List my live voice sessions',
      description: 'The signed-in user\'s sessions whose rooms are live in LiveKit, with the people in each. ' +
        `Side effect: ${redispatchSideEffect}`,
      response: { 200: ActiveSessionsSchema, ...errorResponses(401, 429, 500), ...upstreamErrors }
    }
  }, async (request) => {
    return activeBody(await sessions.listActive(request.user))
  })

  fastify.get('/:room_name/status', {
    preHandler: rateLimits.api,
    schema: {
      tags,
      security,
      operationId: 'getVoiceSessionStatus',
      summary: 'Get a voice session\'s status',
      description: 'Who is in the session now: the people (agents not counted) and whether the voice agent is connected. ' +
        '404 when the room does not exist, 403 when it is another user\'s. ' +
        `Side effect: ${redispatchSideEffect}`,
      params: RoomNameParamsSchema,
      response: { 200: SessionStatusSchema, ...errorResponses(400, 401, 403, 404, 429, 500), ...upstreamErrors }
    }
  }, async (request) => {
    return statusBody(await sessions.status(request.user, request.params.room_name))
  })

  fastify.post('/:room_name/token', {
    preHandler: rateLimits.api,
    schema: {
      tags,
      security,
      operationId: 'refreshVoiceSessionToken',
      summary: 'Get a fresh token for a voice session',
      description: 'Issues a new LiveKit token for the owner of a live session, e.g. so that a client can reconnect ' +
        'after its token expired. Same 403 / 404 rules as status.',
      params: RoomNameParamsSchema,
      // A body is not read, but one that is sent must be JSON of at most 16 KiB.
      response: { 200: SessionTokenSchema, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 500), ...upstreamErrors }
    }
  }, async (request) => {
    return tokenBody(await sessions.refreshToken(request.user, request.params.room_name))
  })

  fastify.delete('/:room_name', {
    preHandler: rateLimits.api,
    schema: {
      tags,
      security,
      operationId: 'endVoiceSession',
      summary: 'End a voice session',
      description: 'Deletes the session\'s room: everyone in it, the voice agent too, is disconnected.',
      params: RoomNameParamsSchema,
      response: { 200: EndedSessionSchema, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 500), ...upstreamErrors }
    }
  }, async (request) => {
    await sessions.end(request.user, request.params.room_name)
    return endedBody(request.params.room_name)
  })
}

export default voiceSessions
