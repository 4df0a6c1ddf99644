import fp from 'fastify-plugin'
import { createLivekit, type Livekit } from '../../src/livekit.js'

declare module 'fastify' {
  interface FastifyInstance {
    livekit: Livekit
  }
}

/**
 * Decorates the instance with LiveKit's server API clients and the token signer.
 * https://github.com/livekit/node-sdks/tree/main/packages/livekit-server-sdk
 */
export default fp(async function livekitPlugin (fastify) {
  fastify.decorate('livekit', createLivekit(fastify.config))
}, { name: 'livekit', dependencies: ['config'] })
