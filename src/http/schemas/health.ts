import { Type } from '@sinclair/typebox'

export const HealthSchema = Type.Object({
  status: Type.Literal('ok')
}, { description: 'The process is alive' })

const DependencySchema = Type.Object({
  state: Type.Union([Type.Literal('up'), Type.Literal('down')], { description: '`down`: requests that need it answer 503 or 504 with their own message' }),
  reason: Type.Optional(Type.String({ description: 'Why it is down: the same words as its `checks` entry' }))
})

export const ReadinessSchema = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')], {
    description: '`not_ready` (with 503) only for what is this replica\'s own: shutting down, overloaded, or its session index not usable yet'
  }),
  degraded: Type.Boolean({ description: 'A dependency (LiveKit, Redis) is down: the replica still serves, and each request that needs it answers for itself' }),
  checks: Type.Record(Type.String(), Type.String(), {
    description: '`ok`, or why not, for `livekit` and `redis` (when REDIS_URL is set); `index` (not usable yet) and `service` ' +
      '(shutting down, overloaded) appear only when they fail',
    example: { livekit: 'ok', redis: 'Redis is unreachable (Command timed out)' }
  }),
  dependencies: Type.Record(Type.String(), DependencySchema, {
    description: 'Each dependency every replica shares, `livekit` and `redis` (when REDIS_URL is set), and its state; never a reason for 503',
    example: { livekit: { state: 'up' }, redis: { state: 'down', reason: 'Redis is unreachable (Command timed out)' } }
  }),
  webhooks: Type.Union([Type.Literal('unknown'), Type.Literal('arriving'), Type.Literal('silent')], {
    description: 'Whether LiveKit\'s webhooks reach the service, judged from the rooms this replica created lately: `silent` when none ' +
      'of them got its signed `room_started` within 5 s (reads then ask LiveKit; check `webhook.urls` and `webhook.api_key`), ' +
      '`unknown` until a room could tell; never a reason for 503'
  })
}, {
  description: 'Whether this replica should get traffic: it is neither shutting down nor overloaded, and its session index is usable. ' +
    'LiveKit (asked at most every 2 s) and Redis are reported, not required'
})
