import { Type } from '@sinclair/typebox'

export const HealthSchema = Type.Object({
  status: Type.Literal('ok')
}, { description: 'The process is alive' })

export const ReadinessSchema = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Record(Type.String(), Type.String(), {
    description: '`ok`, or why not, for `livekit`, `redis` (when REDIS_URL is set) and `service` (while shutting down or overloaded)',
    example: { livekit: 'ok', redis: 'ok' }
  })
}, { description: 'Whether the service can serve: LiveKit (checked at most every 2 s) and Redis answer, and it is neither shutting down nor overloaded' })
