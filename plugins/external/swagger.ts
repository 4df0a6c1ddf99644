import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { markOptionalBodies } from '#http/schemas/optional-body.js'

/**
 * The OpenAPI document at /api/docs/json and Swagger UI at /api/docs.
 * https://github.com/fastify/fastify-swagger
 */
export default fp(async function swaggerPlugin (fastify: FastifyInstance) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Voice-session service',
        description: 'Starts, inspects, lists and ends real-time voice sessions on LiveKit for signed-in users.',
        version: '1.0.0'
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The app\'s user JWT: `sub` is the user id, `email` the display name.' }
        }
      },
      tags: [
        { name: 'voice-sessions', description: 'Voice sessions of the signed-in user' },
        { name: 'operations', description: 'Liveness and readiness for load balancers and orchestrators' },
        { name: 'livekit', description: 'LiveKit\'s standard token endpoint, for client SDKs\' `TokenSource.endpoint`, and LiveKit\'s webhooks' }
      ]
    },
    transformObject: (document) => 'openapiObject' in document ? markOptionalBodies(document.openapiObject) : document.swaggerObject
  })
  await fastify.register(swaggerUi, { routePrefix: '/api/docs' })
}, { name: 'swagger' })
