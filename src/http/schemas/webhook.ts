import { Type } from '@sinclair/typebox'

/** The media type LiveKit posts its webhooks with. */
export const WEBHOOK_CONTENT_TYPE = 'application/webhook+json'

export const WebhookBodySchema = Type.String({
  description: 'A LiveKit WebhookEvent as protojson, exactly as LiveKit sent it: its SHA-256 is in the signed `Authorization` JWT'
})

export const WebhookReceiptSchema = Type.Object({
  outcome: Type.Union([Type.Literal('applied'), Type.Literal('duplicate'), Type.Literal('ignored')], {
    description: '`applied` to the session index, a `duplicate` delivery of an event already applied, or `ignored` (a room or event that is not a session\'s)'
  })
}, { description: 'The delivery was verified and taken' })

export const WebhookHeadersSchema = Type.Object({
  authorization: Type.Optional(Type.String({ description: 'LiveKit\'s JWT (no `Bearer` prefix), signed with the API key\'s secret; its `sha256` claim covers the raw body' }))
})
