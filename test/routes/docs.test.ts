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
  const expected: Record<string, Record<string, string[]>> = {
    '/api/v1/voice-sessions/start': { post: ['200', '400', '401', '413', '415', '500', '502', '503', '504'] },
    '/api/v1/voice-sessions/active': { get: ['200', '401', '500', '502', '503', '504'] },
    '/api/v1/voice-sessions/{room_name}/status': { get: ['200', '400', '401', '403', '404', '500', '502', '503', '504'] },
    '/api/v1/voice-sessions/{room_name}': { delete: ['200', '400', '401', '403', '404', '500', '502', '503', '504'] },
    '/api/v1/voice-sessions/{room_name}/token': { post: ['200', '400', '401', '403', '404', '500', '502', '503', '504'] },
    '/api/v1/livekit/token': { post: ['201', '400', '401', '413', '415', '500', '502', '503', '504'] }
  }
  for (const [path, methods] of Object.entries(expected)) {
    for (const [method, statuses] of Object.entries(methods)) {
      const operation = spec.paths[path]?.[method]
      t.ok(operation, `${method} ${path}`)
      t.same(Object.keys(operation.responses).sort(), statuses.sort(), `${method} ${path} statuses`)
      t.same(operation.security, [{ bearerAuth: [] }])
      t.same(operation.tags, [path.includes('/livekit/') ? 'livekit' : 'voice-sessions'])
      t.ok(operation.summary && operation.description)
      const error = operation.responses['401'].content['application/json'].schema
      t.same(Object.keys(error.properties).sort(), ['error', 'message', 'statusCode'])
    }
  }
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
