import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { MAX_USER_ID_LENGTH } from '../../src/room-name.js'
import type { SessionUser } from '../../src/sessions.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub?: string, email?: string }
    user: SessionUser
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest) => Promise<void>
  }
}

// No control characters: the id becomes part of a room name and a LiveKit identity.
const USER_ID = new RegExp(`^[^\\p{Cc}]{1,${MAX_USER_ID_LENGTH}}$`, 'u')

// What a client is told when its token is refused; never the token or the verifier's details.
const REASONS: Record<string, string> = {
  FST_JWT_NO_AUTHORIZATION_IN_HEADER: 'Missing bearer token',
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: 'Bearer token expired'
}

function isPem (secret: string): boolean {
  return secret.trimStart().startsWith('-----BEGIN')
}

/**
 * Verifies the app's user JWTs (HS256 secret, or a PEM public key) and exposes
 * `fastify.authenticate`, which sets `request.user` or answers 401.
 * https://github.com/fastify/fastify-jwt
 */
export default fp(async function authPlugin (fastify) {
  const { JWT_SECRET } = fastify.config
  await fastify.register(fastifyJwt, {
    secret: isPem(JWT_SECRET) ? { public: JWT_SECRET, private: '' } : JWT_SECRET,
    formatUser: (payload) => ({
      id: typeof payload.sub === 'string' ? payload.sub : '',
      email: typeof payload.email === 'string' ? payload.email : ''
    })
  })

  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    try {
      await request.jwtVerify()
    } catch (err) {
      throw unauthorized(REASONS[(err as { code?: string }).code ?? ''] ?? 'Invalid bearer token')
    }
    if (!USER_ID.test(request.user.id)) throw unauthorized('Token has no usable subject (sub)')
  })

  function unauthorized (message: string) {
    const error = fastify.httpErrors.unauthorized(message)
    error.headers = { 'www-authenticate': 'Bearer' }
    return error
  }
}, { name: 'auth', dependencies: ['config', '@fastify/sensible'] })
