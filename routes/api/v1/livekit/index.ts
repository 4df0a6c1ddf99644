import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DEFAULT_AGENT_TYPE } from '#agents/agent-types.js'
import { emptyBodyAsObject } from '#http/empty-body.js'
import { errorResponses } from '#http/schemas/error.js'
import { OPTIONAL_BODY } from '#http/schemas/optional-body.js'
import { TokenSourceRequestSchema, TokenSourceResponseSchema } from '#http/schemas/livekit-token.js'
import { displayName } from '#sessions/sessions.js'

/** /api/v1/livekit: LiveKit's standard token endpoint, so client SDKs can use `TokenSource.endpoint`. */
const livekitTokenSource: FastifyPluginAsyncTypebox = async function (fastify) {
  const { sessions, agents, httpErrors, rateLimits } = fastify

  fastify.post('/token', {
    // The same bucket as start: each call starts a session.
    preHandler: rateLimits.start,
    schema: {
      tags: ['livekit'],
      security: [{ bearerAuth: [] }],
      operationId: 'getLivekitToken',
      summary: 'LiveKit standard token endpoint: start a voice session',
      description: 'Accepts LiveKit\'s TokenSource request and starts a voice session exactly as `start` does. ' +
        'The service, not the client, decides the room and the identity: `room_name`, `participant_*` and agent metadata ' +
        'are ignored. `room_config.agents[0].agent_name` picks the agent when it is one this service dispatches.',
      body: TokenSourceRequestSchema,
      [OPTIONAL_BODY]: true,
      response: { 201: TokenSourceResponseSchema, ...errorResponses(400, 401, 413, 415, 429, 500, 502, 503, 504) }
    },
    preValidation: emptyBodyAsObject
  }, async (request, reply) => {
    const agentName = request.body.room_config?.agents?.[0]?.agent_name
    const agentType = agentName === undefined || agentName === '' ? DEFAULT_AGENT_TYPE : agents.agentTypeServedBy(agentName)
    if (agentType === undefined) throw httpErrors.badRequest(`Agent '${agentName?.slice(0, 64)}' is not served by this service`)
    const session = await sessions.start(request.user, agentType)
    return await reply.code(201).send({
      server_url: session.livekitUrl,
      participant_token: session.token,
      room_name: session.roomName,
      participant_name: displayName(request.user)
    })
  })
}

export default livekitTokenSource
