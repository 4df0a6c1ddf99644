import { createHash } from 'node:crypto'
import { AccessToken, WebhookEvent } from 'livekit-server-sdk'

export interface Delivery {
  body: string
  headers: Record<string, string>
}

/** A webhook delivery as LiveKit signs it: protojson body, a JWT whose `sha256` claim covers it. */
export async function signedDelivery (event: Record<string, unknown>, { apiKey, apiSecret }: { apiKey: string, apiSecret: string }): Promise<Delivery> {
  const body = WebhookEvent.fromJson(event as never).toJsonString()
  const token = new AccessToken(apiKey, apiSecret, { ttl: '5m' })
  token.sha256 = createHash('sha256').update(body).digest('base64')
  return { body, headers: { authorization: await token.toJwt(), 'content-type': 'application/webhook+json' } }
}

let counter = 0

/** A LiveKit webhook event (protojson field names) about a room, with a fresh id. */
export function webhookEvent (event: string, room: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  counter++
  return { event, id: `EV_test${counter}`, createdAt: String(Math.floor(Date.now() / 1000)), room, ...extra }
}

/** A session room as LiveKit's webhooks carry it (protojson): the service's metadata, created now. */
export function sessionRoom (name: string, userId: string, agentType: string): { sid: string, name: string, creationTime: string, metadata: string } {
  return {
    sid: 'RM_1',
    name,
    creationTime: String(Math.floor(Date.now() / 1000)),
    metadata: JSON.stringify({ user_id: userId, agent_type: agentType, mode: 'voice', created_at: new Date().toISOString() })
  }
}
