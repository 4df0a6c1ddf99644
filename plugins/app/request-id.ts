import fp from 'fastify-plugin'

/**
 * Every answer carries `X-Request-Id`: the caller's own (the service adopts an incoming one) or
 * the id the service made, so that a backend can find a failed request in this service's log.
 */
export default fp(async function requestIdPlugin (fastify) {
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
}, { name: 'request-id' })
