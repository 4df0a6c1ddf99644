import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import fc from 'fast-check'
import t from 'tap'
import { bearer, buildWithLivekit, userToken } from '../helper.js'

/**
 * The OpenAPI document against the service's behaviour: every answer to any request of any
 * operation has a status the document lists for that operation, and a body its schema accepts.
 */
const { app } = await buildWithLivekit(t)
const spec = (await app.inject({ method: 'GET', url: '/api/docs/json' })).json()
const ajv = new Ajv({ strict: false, allErrors: true })
addFormats.default(ajv)

interface Operation { responses: Record<string, { content?: Record<string, { schema: object }> }> }
const operationAt = (path: string, method: string): Operation => spec.paths[path][method]

t.test('property: every answer is documented for its operation, with a body that fits the documented schema', async (t) => {
  const alice = bearer(userToken(app, 'alice'))
  const bob = bearer(userToken(app, 'bob'))
  const own = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: alice })).json().room_name as string
  const anyText = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }))
  const roomName = fc.oneof(fc.constant(own), fc.constant('fitness-voice-alice-00000000'), anyText.filter((s) => s !== ''))
  const body = fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), fc.record({ agent_type: fc.constantFrom('workout', 'diet', 'yoga') }, { requiredKeys: [] }))
  const headers = fc.constantFrom(alice, bob, {}, { authorization: 'Bearer nope' })
  const operation = fc.constantFrom(
    ['/api/v1/voice-sessions/start', 'post'], ['/api/v1/voice-sessions/active', 'get'], ['/api/v1/voice-sessions/{room_name}/status', 'get'],
    ['/api/v1/voice-sessions/{room_name}/token', 'post'], ['/api/v1/voice-sessions/{room_name}', 'delete'], ['/api/v1/livekit/token', 'post']
  )
  const seen = new Set<string>()
  await fc.assert(fc.asyncProperty(operation, roomName, body, headers, async ([path, method], room, payload, auth) => {
    const url = path.replace('{room_name}', encodeURIComponent(room))
    const response = await app.inject({ method: method.toUpperCase() as 'GET', url, headers: auth, ...(payload === undefined ? {} : { payload: payload as object }) })
    const documented = operationAt(path, method).responses[String(response.statusCode)]
    if (documented === undefined) throw new Error(`${method} ${path} answered ${response.statusCode}, which the document does not list: ${response.body}`)
    const schema = documented.content?.['application/json']?.schema
    if (schema !== undefined && !ajv.validate(schema, response.json())) throw new Error(`${method} ${path} ${response.statusCode}: ${ajv.errorsText()}`)
    seen.add(`${method} ${response.statusCode}`)
    // Keep the user's live sessions few: end what a start made.
    if (response.statusCode === 200 && path.endsWith('/start')) await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${encodeURIComponent(response.json().room_name)}`, headers: auth })
    return true
  }), { numRuns: 300 })
  t.ok(seen.size >= 12, `answers of many kinds were checked: ${[...seen].sort().join(', ')}`)
})
