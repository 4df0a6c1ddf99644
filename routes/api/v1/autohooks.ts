import type { FastifyInstance } from 'fastify'

/** Every route under /api/v1 acts for a signed-in user. */
export default async function authenticateEveryRequest (fastify: FastifyInstance) {
  fastify.addHook('onRequest', fastify.authenticate)
}
