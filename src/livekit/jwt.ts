import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * LiveKit's JWTs (HS256 with the API secret), signed and verified synchronously with node:crypto:
 * the SDK's AccessToken and TokenVerifier go through jose and WebCrypto, asynchronous and several
 * times the CPU for the same HMAC. The claims are the SDK's; test/livekit/jwt.test.ts checks both
 * ways against it.
 * https://docs.livekit.io/frontends/authentication/tokens/
 */

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url')

export type Claims = Record<string, unknown>

function signature (signed: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(signed).digest()
}

/** An HS256 JWT of these claims, as jose signs one (`{"alg":"HS256"}`, the claims as given); also the scripts' user JWTs. */
export function signJwt (claims: Claims, secret: string): string {
  const signed = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return `${signed}.${signature(signed, secret).toString('base64url')}`
}

export interface VerifyOptions {
  /** The `iss` a token must carry: the API key. */
  issuer: string
  /** How far `exp` and `nbf` may be off this clock. */
  clockToleranceSeconds: number
  now?: () => number
}

function decoded (part: string): Claims {
  const value = JSON.parse(Buffer.from(part, 'base64url').toString()) as unknown
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('a JWT part is not a JSON object')
  return value as Claims
}

/**
 * The claims of an HS256 JWT signed with `secret`, checked as the SDK's TokenVerifier checks them
 * (jose's `jwtVerify` with `issuer`, `clockTolerance` and a required `exp`), else an Error that
 * says why, never with the token. Only `HS256` is taken, and no header extension (`crit`, `b64`).
 */
export function verifyJwt (token: string, secret: string, { issuer, clockToleranceSeconds, now = Date.now }: VerifyOptions): Claims {
  const parts = token.split('.')
  if (parts.length !== 3) throw new Error('not a JWS in compact form')
  const [header, payload, signed] = parts as [string, string, string]
  let protectedHeader: Claims
  try {
    protectedHeader = decoded(header)
  } catch {
    throw new Error('the JWT header is not base64url JSON')
  }
  if (protectedHeader.alg !== 'HS256') throw new Error('the JWT is not signed with HS256')
  if ('crit' in protectedHeader || 'b64' in protectedHeader) throw new Error('the JWT header has extensions')
  const expected = signature(`${header}.${payload}`, secret)
  const given = Buffer.from(signed, 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected) || given.toString('base64url') !== signed) {
    throw new Error('signature verification failed')
  }
  let claims: Claims
  try {
    claims = decoded(payload)
  } catch {
    throw new Error('the JWT claims are not base64url JSON')
  }
  const at = Math.floor(now() / 1000)
  if (claims.iss !== issuer) throw new Error('unexpected "iss" claim value')
  if (typeof claims.exp !== 'number') throw new Error('missing or invalid "exp" claim')
  if (claims.exp <= at - clockToleranceSeconds) throw new Error('"exp" claim timestamp check failed')
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > at + clockToleranceSeconds)) throw new Error('"nbf" claim timestamp check failed')
  if (claims.iat !== undefined && typeof claims.iat !== 'number') throw new Error('invalid "iat" claim')
  return claims
}
