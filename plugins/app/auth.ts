import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isPem } from '#http/jwt-key.js'
import type { SessionUser } from '#sessions/sessions.js'
import { isUsableUserId } from '#sessions/user-id.js'

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

// What a client is told when its token is refused; never the token or the verifier's details.
const REASONS: Record<string, string> = {
  FST_JWT_NO_AUTHORIZATION_IN_HEADER: 'Missing bearer token',
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: 'Bearer token expired'
}

/** A claim value to require, or undefined (any value, or none) when its config key is empty. */
/** Verified user JWTs whose verification is reused. */
const JWT_VERIFIED_KEPT = 10_000

function required (value: string): string | undefined {
  return value === '' ? undefined : value
}

/** The claims a token must carry: `exp`, and `aud` / `iss` when they are checked (fast-jwt lets an absent one through). */
function requiredClaims (audience: string, issuer: string): string[] {
  return ['exp', ...(audience === '' ? [] : ['aud']), ...(issuer === '' ? [] : ['iss'])]
}

/**
 * Verifies the app's user JWTs (HS256 secret, or a PEM public key) and exposes
 * `fastify.authenticate`, which sets `request.user` or answers 401. A token must expire (`exp`),
 * must carry JWT_AUDIENCE / JWT_ISSUER when they are set, and is judged with
 * JWT_CLOCK_SKEW_SECONDS of tolerance on `exp` and `nbf`.
 * https://github.com/fastify/fastify-jwt
 */
export default fp(async function authPlugin (fastify) {
  const { JWT_SECRET, JWT_AUDIENCE, JWT_ISSUER, JWT_CLOCK_SKEW_SECONDS } = fastify.config
  await fastify.register(fastifyJwt, {
    secret: isPem(JWT_SECRET) ? { public: JWT_SECRET, private: '' } : JWT_SECRET,
    verify: {
      requiredClaims: requiredClaims(JWT_AUDIENCE, JWT_ISSUER),
      allowedAud: required(JWT_AUDIENCE),
      allowedIss: required(JWT_ISSUER),
      clockTolerance: JWT_CLOCK_SKEW_SECONDS * 1000,
      // A backend sends the same user JWT again and again: its verification is reused (fast-jwt's LRU,
      // keyed by a hash of the token) until the token expires, 10 minutes at most. Refusals are never cached.
      cache: JWT_VERIFIED_KEPT
    },
    // fast-jwt's reason (a missing claim, an audience not allowed, a bad signature) never quotes the token.
    messages: { authorizationTokenInvalid: (err) => `Invalid bearer token: ${err.message}` },
    formatUser: (payload) => ({
      id: typeof payload.sub === 'string' ? payload.sub : '',
      email: typeof payload.email === 'string' ? payload.email : ''
    })
  })

  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    try {
      await request.jwtVerify()
    } catch (err) {
      const { code, message } = err as { code?: string, message: string }
      throw unauthorized(REASONS[code ?? ''] ?? (code === 'FST_JWT_AUTHORIZATION_TOKEN_INVALID' ? message : 'Invalid bearer token'))
    }
    if (!isUsableUserId(request.user.id)) throw unauthorized('Token has no usable subject (sub)')
  })

  function unauthorized (message: string) {
    const error = fastify.httpErrors.unauthorized(message)
    error.headers = { 'www-authenticate': 'Bearer' }
    return error
  }
}, { name: 'auth', dependencies: ['config', '@fastify/sensible'] })
