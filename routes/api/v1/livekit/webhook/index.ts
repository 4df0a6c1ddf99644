import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { WebhookEvent } from 'livekit-server-sdk'
import { createWebhookReceiver } from '#livekit/webhook-receiver.js'
import { errorResponse, errorResponses } from '#http/schemas/error.js'
import { WEBHOOK_CONTENT_TYPE, WebhookBodySchema, WebhookHeadersSchema, WebhookReceiptSchema } from '#http/schemas/webhook.js'

/** Largest webhook body read: an event carries a room, a participant and its tracks, far below this. */
const WEBHOOK_BODY_LIMIT = 1024 * 1024

/** Whether a failure of `receive` came after the signature was verified: the body is not an event. */
function isUnreadableEvent (err: unknown): boolean {
  return err instanceof SyntaxError || (err instanceof Error && err.message.startsWith('cannot decode'))
}

/**
 * /api/v1/livekit/webhook: LiveKit's webhooks, which keep the session index current. Not a user's
 * call: LiveKit vouches for it with a JWT signed with LIVEKIT_API_KEY's secret whose `sha256`
 * claim covers the exact raw body, so the body is read as a string and verified before it is parsed.
 * A verified delivery is answered 200 at once, even for a room or an event the service does not
 * know: LiveKit treats any other 4xx as final and retries 5xx.
 */
const livekitWebhook: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config, sessionIndex, serviceMetrics: metrics, httpErrors } = fastify
  const receive = createWebhookReceiver({ apiKey: config.LIVEKIT_API_KEY, apiSecret: config.LIVEKIT_API_SECRET, clockToleranceSeconds: config.JWT_CLOCK_SKEW_SECONDS })

  // Raw strings in this plugin only: the signature covers the bytes as sent.
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser([WEBHOOK_CONTENT_TYPE, 'application/json'], { parseAs: 'string', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => {
    done(null, body)
  })

  fastify.post('', {
    config: { signedBy: 'livekit' },
    bodyLimit: WEBHOOK_BODY_LIMIT,
    schema: {
      tags: ['livekit'],
      operationId: 'receiveLivekitWebhook',
      summary: 'LiveKit webhook receiver',
      description: 'Point LiveKit\'s `webhook.urls` here (with `webhook.api_key` = LIVEKIT_API_KEY). ' +
        'Deliveries without a valid signature over the exact body are refused with 401 and never read.',
      consumes: [WEBHOOK_CONTENT_TYPE],
      headers: WebhookHeadersSchema,
      body: WebhookBodySchema,
      response: {
        200: WebhookReceiptSchema,
        ...errorResponses(413, 415, 500),
        400: errorResponse(400, { description: 'A verified body that is not a LiveKit event', message: 'The webhook body is not a LiveKit event' }),
        401: errorResponse(401, { description: 'The LiveKit signature is missing, invalid or stale, or the body was changed', message: 'Webhook signature is missing or invalid' }),
        503: errorResponse(503, { description: 'The session index is unavailable: LiveKit retries the delivery', message: 'The session index is unavailable; LiveKit will deliver again' })
      }
    }
  }, async (request) => {
    let event: WebhookEvent
    try {
      event = receive(request.body, request.headers.authorization)
    } catch (err) {
      metrics.webhookEvent('unknown', 'refused')
      if (isUnreadableEvent(err)) throw httpErrors.badRequest('The webhook body is not a LiveKit event')
      // The reason, never the header.
      request.log.warn({ reason: (err as Error).message }, 'LiveKit webhook refused: bad signature')
      throw httpErrors.unauthorized('Webhook signature is missing or invalid')
    }
    try {
      const outcome = await sessionIndex.applyWebhookEvent(event)
      metrics.webhookEvent(event.event, outcome)
      return { outcome }
    } catch (err) {
      metrics.webhookEvent(event.event, 'failed')
      request.log.error({ err, event: event.event, room: event.room?.name }, 'LiveKit webhook: the session index failed')
      // Its own message, not a masked 500's: LiveKit retries a 5xx, and the operator reads why.
      throw httpErrors.createError(503, 'The session index is unavailable; LiveKit will deliver again', { expose: true })
    }
  })
}

export default livekitWebhook
