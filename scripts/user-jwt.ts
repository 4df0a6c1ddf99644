import { signJwt } from '#livekit/jwt.js'

/**
 * An HS256 JWT, as the app's auth service would issue it for a signed-in user: with `iat` and an
 * `exp` an hour away unless the payload says otherwise (the service refuses tokens without `exp`).
 */
export function signHs256 (secret: string, payload: object): string {
  const now = Math.floor(Date.now() / 1000)
  return signJwt({ iat: now, exp: now + 3600, ...payload }, secret)
}
