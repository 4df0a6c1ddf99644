import t from 'tap'
import { build } from '../helper.js'

const app = await build(t)

t.test('the OpenAPI document describes every route, status and the bearer scheme', async (t) => {
  const response = await app.inject({ method: 'GET', url: '/api/docs/json' })
  t.equal(response.statusCode, 200)
  const spec = response.json()
  t.equal(spec.openapi, '3.0.3')
  const { description, ...bearerAuth } = spec.components.securitySchemes.bearerAuth
  t.same(bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.match(description, /\S/, 'the scheme is described')
  const expected: Record<string, Record<string, [operationId: string, statuses: string[]]>> = {
    '/api/v1/voice-sessions/start': { post: ['startVoiceSession', ['200', '400', '401', '413', '415', '429', '500', '502', '503', '504']] },
    '/api/v1/voice-sessions/active': { get: ['listActiveVoiceSessions', ['200', '401', '429', '500', '502', '503', '504']] },
    '/api/v1/voice-sessions/{room_name}/status': { get: ['getVoiceSessionStatus', ['200', '400', '401', '403', '404', '429', '500', '502', '503', '504']] },
    '/api/v1/voice-sessions/{room_name}': { delete: ['endVoiceSession', ['200', '400', '401', '403', '404', '413', '415', '429', '500', '502', '503', '504']] },
    '/api/v1/voice-sessions/{room_name}/token': { post: ['refreshVoiceSessionToken', ['200', '400', '401', '403', '404', '413', '415', '429', '500', '502', '503', '504']] },
    '/api/v1/livekit/token': { post: ['getLivekitToken', ['201', '400', '401', '413', '415', '429', '500', '502', '503', '504']] }
  }
  for (const [path, methods] of Object.entries(expected)) {
    for (const [method, [operationId, statuses]] of Object.entries(methods)) {
      const operation = spec.paths[path]?.[method]
      t.ok(operation, `${method} ${path}`)
      t.equal(operation.operationId, operationId, 'a stable operationId for generated clients')
      t.same(Object.keys(operation.responses).sort(), statuses.sort(), `${method} ${path} statuses`)
      t.same(operation.security, [{ bearerAuth: [] }])
      t.same(operation.tags, [path.includes('/livekit/') ? 'livekit' : 'voice-sessions'])
      t.ok(operation.summary && operation.description)
      const errors = statuses.filter((status) => Number(status) >= 400).map((status) => operation.responses[status])
      for (const [i, error] of errors.entries()) {
        const schema = error.content['application/json'].schema
        t.same(Object.keys(schema.properties).sort(), ['error', 'message', 'statusCode'])
        t.equal(schema.example.statusCode, Number(statuses.filter((status) => Number(status) >= 400)[i]), 'the example is of its own status')
      }
      t.equal(new Set(errors.map((error) => error.description)).size, errors.length, `${operationId}: each error status has its own description`)
    }
  }
  for (const path of ['/api/v1/voice-sessions/start', '/api/v1/livekit/token']) {
    t.equal(spec.paths[path].post.requestBody.required, false, `${path}: the body is optional, as the service takes none`)
    t.notOk('x-body-optional' in spec.paths[path].post, 'the internal mark is gone')
  }
  const webhook = spec.paths['/api/v1/livekit/webhook'].post
  t.equal(webhook.operationId, 'receiveLivekitWebhook')
  t.notOk(webhook.security, 'signed by LiveKit, not a user')
  t.ok(webhook.requestBody.content['application/webhook+json'])
  t.same(Object.keys(webhook.responses).sort(), ['200', '400', '401', '413', '415', '500', '503'])
  t.equal(new Set(Object.values(spec.paths).flatMap((methods) => Object.values(methods as Record<string, { operationId: string }>).map((op) => op.operationId))).size, 10, 'operation ids are unique')
  const agentType = spec.paths['/api/v1/voice-sessions/start'].post.requestBody.content['application/json'].schema.properties.agent_type
  t.same(agentType.enum, ['workout', 'diet', 'supplement', 'tracker', 'scheduler', 'general'], 'agent_type is an enum for client generators')
  const status = spec.paths['/api/v1/voice-sessions/{room_name}/status'].get.responses['200'].content['application/json'].schema
  t.same(status.properties.agent_state.enum, ['connected', 'dispatching', 'missing', 'none'])
})

t.test('Swagger UI is served at /api/docs', async (t) => {
  const response = await app.inject({ method: 'GET', url: '/api/docs/' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /text\/html/)
})
