import sensible from '@fastify/sensible'

/**
 * HTTP error factories (`fastify.httpErrors`) used by every handler.
 * https://github.com/fastify/fastify-sensible
 */
export default sensible
