import { createHash } from 'node:crypto'
import { WebhookEvent } from 'livekit-server-sdk'
import { verifyJwt } from './jwt.js'

export interface WebhookReceiverOptions {
  apiKey: string
  apiSecret: string
  /** How far the signature's `exp` and `nbf` may be off this clock (JWT_CLOCK_SKEW_SECONDS). */
  clockToleranceSeconds: number
  now?: () => number
}

/**
 * LiveKit's webhook deliveries, checked as the SDK's `WebhookReceiver.receive` checks them, but
 * synchronously (src/livekit/jwt.ts): the Authorization header is a JWT signed with the API secret,
 * issued by the API key, whose `sha256` claim is the base64 SHA-256 of the exact body. Only then is
 * the body parsed. Throws an Error saying why (a SyntaxError, or `cannot decode`, once verified: the
 * body is not an event), never with the header.
 * https://docs.livekit.io/home/server/webhooks/
 */
export function createWebhookReceiver ({ apiKey, apiSecret, clockToleranceSeconds, now }: WebhookReceiverOptions) {
  return function receive (body: string, authorization: string | undefined): WebhookEvent {
    if (authorization === undefined || authorization === '') throw new Error('authorization header is empty')
    const claims = verifyJwt(authorization, apiSecret, { issuer: apiKey, clockToleranceSeconds, now })
    if (claims.sha256 !== createHash('sha256').update(body).digest('base64')) throw new Error('sha256 checksum of body does not match')
    return WebhookEvent.fromJson(JSON.parse(body), { ignoreUnknownFields: true })
  }
}
