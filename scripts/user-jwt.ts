import { createHmac } from 'node:crypto'

/**
 * An HS256 JWT, as the app's auth service would issue it for a signed-in user: with `iat` and an
 * `exp` an hour away unless the payload says otherwise (the service refuses tokens without `exp`).
 */
export function signHs256 (secret: string, payload: object): string {
  const now = Math.floor(Date.now() / 1000)
  const claims = { iat: now, exp: now + 3600, ...payload }
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${header}.${body}.${createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url')}`
}
