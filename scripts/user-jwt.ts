import { createHmac } from 'node:crypto'

/** An HS256 JWT, as the app's auth service would issue it for a signed-in user. */
export function signHs256 (secret: string, payload: object): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${header}.${body}.${createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url')}`
}
