import type { FastifyInstance, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who vouches for a request: a signed-in user (the default), or LiveKit's webhook signature, checked by the route. */
    signedBy?: 'user' | 'livekit'
  }
}

/** Every route under /api/v1 acts for a signed-in user, but those that LiveKit signs (its webhooks). */
export default async function authenticateEveryRequest (fastify: FastifyInstance) {
  fastify.addHook('onRequest', async function authenticateUser (request: FastifyRequest) {
    if (request.routeOptions.config.signedBy === 'livekit') return
    await fastify.authenticate(request)
  })
}
