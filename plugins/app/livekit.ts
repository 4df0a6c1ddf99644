import fp from 'fastify-plugin'
import { createLivekit, type Livekit } from '#livekit/livekit.js'

declare module 'fastify' {
  interface FastifyInstance {
    livekit: Livekit
  }
}

/**
 * Decorates the instance with LiveKit's server API client and the token signer; the client's
 * sockets are closed with the instance.
 * https://github.com/livekit/node-sdks/tree/main/packages/livekit-server-sdk
 */
export default fp(async function livekitPlugin (fastify) {
  const livekit = createLivekit(fastify.config, fastify.serviceMetrics)
  fastify.decorate('livekit', livekit)
  fastify.addHook('onClose', async () => { await livekit.close() })
}, { name: 'livekit', dependencies: ['config', 'metrics'] })
