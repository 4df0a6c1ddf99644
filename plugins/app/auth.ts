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

/** Verified user JWTs whose verification is reused, and for how long at most. */
const JWT_VERIFIED_KEPT = 10_000
const JWT_VERIFIED_KEPT_MS = 10 * 60_000

/** A claim value to require, or undefined (any value, or none) when its config key is empty. */
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
      clockTolerance: JWT_CLOCK_SKEW_SECONDS * 1000
    },
    // fast-jwt's reason (a missing claim, an audience not allowed, a bad signature) never quotes the token.
    messages: { authorizationTokenInvalid: (err) => `Invalid bearer token: ${err.message}` },
    formatUser: (payload) => ({
      id: typeof payload.sub === 'string' ? payload.sub : '',
      email: typeof payload.email === 'string' ? payload.email : ''
    })
  })

  /**
   * A backend sends the same user JWT again and again: a verified one is kept, by its whole
   * Authorization header (no hashing, no decoding on a hit), until it expires (its `exp` and the
   * skew, as the verifier judges it) and for 10 minutes at most; the oldest goes first past
   * JWT_VERIFIED_KEPT. Refusals are never kept. A read's profile had verification at 12% of its CPU.
   */
  const verified = new Map<string, { user: SessionUser, untilMs: number }>()

  function keep (header: string, user: SessionUser): void {
    const { exp } = fastify.jwt.decode<{ exp?: number }>(header.slice(header.indexOf(' ') + 1)) ?? {}
    if (typeof exp !== 'number') return
    if (verified.size >= JWT_VERIFIED_KEPT) verified.delete(verified.keys().next().value as string)
    verified.set(header, { user: Object.freeze(user), untilMs: Math.min(exp * 1000 + JWT_CLOCK_SKEW_SECONDS * 1000, Date.now() + JWT_VERIFIED_KEPT_MS) })
  }

  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const header = request.headers.authorization
    const kept = header === undefined ? undefined : verified.get(header)
    if (kept !== undefined) {
      if (Date.now() < kept.untilMs) {
        request.user = kept.user
        return
      }
      verified.delete(header as string)
    }
    try {
      await request.jwtVerify()
    } catch (err) {
      const { code, message } = err as { code?: string, message: string }
      throw unauthorized(REASONS[code ?? ''] ?? (code === 'FST_JWT_AUTHORIZATION_TOKEN_INVALID' ? message : 'Invalid bearer token'))
    }
    if (!isUsableUserId(request.user.id)) throw unauthorized('Token has no usable subject (sub)')
    if (header !== undefined) keep(header, request.user)
  })

  function unauthorized (message: string) {
    const error = fastify.httpErrors.unauthorized(message)
    error.headers = { 'www-authenticate': 'Bearer' }
    return error
  }
}, { name: 'auth', dependencies: ['config', '@fastify/sensible'] })
