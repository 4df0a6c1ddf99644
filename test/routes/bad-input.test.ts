import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import t, { type Test } from 'tap'
import { bearer, build, livekitConfig, signHs256, startLivekit, userToken } from '../helper.js'

const livekit = await startLivekit(t)
const app = await build(t, livekitConfig(livekit))
const alice = bearer(userToken(app, 'alice'))
const START = '/api/v1/voice-sessions/start'

function isErrorBody (body: unknown, statusCode: number): boolean {
  const { statusCode: code, error, message, ...rest } = body as Record<string, unknown>
  return code === statusCode && typeof error === 'string' && typeof message === 'string' && Object.keys(rest).length === 0
}

async function expectError (t: Test, request: InjectOptions, statusCode: number, message?: RegExp) {
  const response = await app.inject(request)
  t.equal(response.statusCode, statusCode, JSON.stringify(request).slice(0, 120))
  t.ok(isErrorBody(response.json(), statusCode), 'the one error body')
  if (message !== undefined) t.match(response.json().message, message)
  return response
}

t.test('unknown agent_type: 400 naming the allowed types', async (t) => {
  for (const agentType of ['yoga', '', 'WORKOUT', 42, null, ['diet']]) {
    await expectError(t, { method: 'POST', url: START, headers: alice, payload: { agent_type: agentType } }, 400, /agent_type/)
  }
  await expectError(t, { method: 'POST', url: START, headers: alice, payload: { agent_type: 'yoga' } }, 400,
    /workout, diet, supplement, tracker, scheduler, general/)
})

t.test('unknown body fields: 400 naming the field', async (t) => {
  await expectError(t, { method: 'POST', url: START, headers: alice, payload: { agent_type: 'diet', room_name: 'mine' } }, 400, /'room_name'/)
})

t.test('a body that is not an object: 400', async (t) => {
  for (const payload of ['[]', '"general"', '42', 'null', 'true']) {
    await expectError(t, { method: 'POST', url: START, headers: { ...alice, 'content-type': 'application/json' }, payload }, 400)
  }
})

t.test('malformed JSON: 400, without echoing the body', async (t) => {
  const response = await expectError(t, {
    method: 'POST', url: START, headers: { ...alice, 'content-type': 'application/json' }, payload: '{"agent_type": "secret-looking-value'
  }, 400)
  t.notMatch(response.body, 'secret-looking-value')
  await expectError(t, { method: 'POST', url: START, headers: { ...alice, 'content-type': 'application/json' }, payload: '' }, 400)
  await expectError(t, {
    method: 'POST', url: START, headers: { ...alice, 'content-type': 'application/json' }, payload: '{"__proto__": {"x": 1}}'
  }, 400)
})

t.test('oversized body: 413', async (t) => {
  await expectError(t, {
    method: 'POST', url: START, headers: { ...alice, 'content-type': 'application/json' }, payload: JSON.stringify({ agent_type: 'x'.repeat(20_000) })
  }, 413)
})

t.test('a body of another media type: 415', async (t) => {
  await expectError(t, { method: 'POST', url: START, headers: { ...alice, 'content-type': 'text/plain' }, payload: 'agent_type=diet' }, 415)
})

t.test('room names that are too long or contain control characters: 400', async (t) => {
  for (const name of ['a'.repeat(257), `fitness-voice-alice-${'0'.repeat(300)}`, 'bad%00name', 'bad%0Aname', 'tab%09']) {
    await expectError(t, { method: 'GET', url: `/api/v1/voice-sessions/${name}/status`, headers: alice }, 400, /room_name/)
    await expectError(t, { method: 'DELETE', url: `/api/v1/voice-sessions/${name}`, headers: alice }, 400, /room_name/)
  }
})

t.test('a path parameter too long even for the router, or a malformed URL: 400, with a request id', async (t) => {
  const tooLong = await expectError(t, { method: 'GET', url: `/api/v1/voice-sessions/${'a'.repeat(5000)}/status`, headers: alice }, 400, /too long/)
  const malformed = await expectError(t, { method: 'GET', url: '/api/v1/voice-sessions/%zz/status', headers: alice }, 400, /malformed/)
  for (const response of [tooLong, malformed]) t.match(response.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const adopted = await expectError(t, { method: 'GET', url: '/api/v1/voice-sessions/%zz/status', headers: { ...alice, 'x-request-id': 'bff-7:abc' } }, 400)
  t.equal(adopted.headers['x-request-id'], 'bff-7:abc')
})

t.test('a room name of the longest allowed length is looked up, not refused', async (t) => {
  await expectError(t, { method: 'GET', url: `/api/v1/voice-sessions/fitness-voice-${'a'.repeat(233)}-00000000/status`, headers: alice }, 404)
  await expectError(t, { method: 'GET', url: `/api/v1/voice-sessions/${encodeURIComponent(`fitness-voice-${'語'.repeat(77)}-00000000`)}/status`, headers: alice }, 404)
})

t.test('a room name over 256 bytes is refused with 400 even when it has fewer than 256 characters', async (t) => {
  const name = encodeURIComponent(`fitness-voice-${'語'.repeat(78)}-00000000`)
  for (const [method, url] of [['GET', `/api/v1/voice-sessions/${name}/status`], ['POST', `/api/v1/voice-sessions/${name}/token`], ['DELETE', `/api/v1/voice-sessions/${name}`]] as const) {
    await expectError(t, { method, url, headers: alice }, 400, /room_name must be at most 256 bytes in UTF-8/)
  }
})

t.test('wrong method or unknown route: 404 with the one error body', async (t) => {
  await expectError(t, { method: 'GET', url: START, headers: alice }, 404)
  await expectError(t, { method: 'PUT', url: '/api/v1/voice-sessions/fitness-voice-alice-00000000', headers: alice }, 404)
  await expectError(t, { method: 'POST', url: '/api/v1/voice-sessions/active', headers: alice }, 404)
  await expectError(t, { method: 'GET', url: '/api/v1/nothing-here?token=abc', headers: alice }, 404, /^Route GET \/api\/v1\/nothing-here not found$/)
})

t.test('bad or unusable JWTs: 401', async (t) => {
  const url = '/api/v1/voice-sessions/active'
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no header', {}, /Missing bearer token/],
    ['not bearer', { authorization: 'Basic YWxpY2U6cHc=' }, /Missing bearer token/],
    ['garbage', { authorization: 'Bearer not-a-jwt' }, /Invalid bearer token/],
    ['wrong secret', bearer(signHs256('another-secret-of-at-least-32-bytes', { sub: 'alice' })), /Invalid bearer token/],
    ['expired beyond the clock skew', bearer(app.jwt.sign({ sub: 'alice' }, { expiresIn: -60 })), /Bearer token expired/],
    ['no exp', bearer(app.jwt.sign({ sub: 'alice' })), /Invalid bearer token: The exp claim is required/],
    ['no sub', bearer(signed({ email: 'alice@example.com' })), /no usable subject/],
    ['empty sub', bearer(signed({ sub: '' })), /no usable subject/],
    ['sub of 234 ASCII bytes', bearer(signed({ sub: 'a'.repeat(234) })), /no usable subject/],
    ['sub of 78 CJK characters (234 bytes)', bearer(signed({ sub: '語'.repeat(78) })), /no usable subject/],
    ['sub of 59 emoji (236 bytes)', bearer(signed({ sub: '😀'.repeat(59) })), /no usable subject/],
    ['sub with a newline', bearer(signed({ sub: 'alice\nbob' })), /no usable subject/],
    ['sub with a tab', bearer(signed({ sub: 'alice\tbob' })), /no usable subject/],
    ['sub with a bidi override', bearer(signed({ sub: 'alice\u202Egnp.exe' })), /no usable subject/],
    ['sub with a zero-width space', bearer(signed({ sub: 'ali\u200Bce' })), /no usable subject/],
    ['sub with a lone surrogate', bearer(signed({ sub: 'alice\uD800' })), /no usable subject/],
    ['sub not a string', bearer(signed({ sub: 42 })), /no usable subject/],
    ['alg none', bearer(unsigned({ sub: 'alice' })), /Invalid bearer token/]
  ]
  for (const [label, headers, message] of cases) {
    const response = await expectError(t, { method: 'GET', url, headers }, 401, message)
    t.equal(response.headers['www-authenticate'], 'Bearer', label)
  }
})

/** A user JWT that expires in an hour, with these claims. */
function signed (payload: object): string {
  return app.jwt.sign(payload, { expiresIn: '1h' })
}

function unsigned (payload: object): string {
  return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`
}

t.test('property: no body, header or room name makes the service answer 5xx', async (t) => {
  const json = fc.jsonValue({ maxDepth: 3 })
  const body = fc.oneof(
    json.map((value) => JSON.stringify(value)),
    fc.record({ agent_type: fc.oneof(fc.constantFrom('workout', 'diet', 'general', 'yoga'), json) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.record({
      room_name: json,
      participant_identity: json,
      participant_attributes: fc.oneof(fc.dictionary(fc.string(), fc.string()), json),
      room_config: fc.oneof(json, fc.record({ agents: fc.array(fc.record({ agent_name: fc.oneof(fc.string(), json) }), { maxLength: 2 }) }))
    }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.constant(undefined)
  )
  // Any Unicode, not only printable ASCII (fc.string's default).
  const anyText = (maxLength: number) => fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength }), fc.string({ unit: 'binary', minLength: 1, maxLength }))
  const roomName = fc.oneof(
    anyText(300),
    anyText(120).map((s) => `fitness-voice-${s}-0a1b2c3d`),
    fc.constantFrom('active', '..', '%2e%2e', '%', '%zz', '?', '#')
  )
  const headerValue = fc.string({ maxLength: 100 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s))
  const authorization = fc.oneof(
    fc.constant(alice.authorization),
    headerValue,
    headerValue.map((s) => `Bearer ${s}`),
    anyText(250).map((sub) => `Bearer ${signed({ sub })}`)
  )
  const contentType = fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'), headerValue)
  const request = fc.record({
    route: fc.constantFrom('start', 'status', 'delete', 'active', 'token', 'livekit'),
    roomName,
    body,
    authorization,
    contentType,
    requestId: headerValue
  })
  await fc.assert(fc.asyncProperty(request, async (r) => {
    const encoded = encodeURIComponent(r.roomName)
    const [method, url] = {
      start: ['POST', '/api/v1/voice-sessions/start'],
      status: ['GET', `/api/v1/voice-sessions/${encoded}/status`],
      delete: ['DELETE', `/api/v1/voice-sessions/${encoded}`],
      active: ['GET', '/api/v1/voice-sessions/active'],
      token: ['POST', `/api/v1/voice-sessions/${encoded}/token`],
      livekit: ['POST', '/api/v1/livekit/token']
    }[r.route] as ['POST' | 'GET' | 'DELETE', string]
    const headers: Record<string, string> = { authorization: r.authorization, 'x-request-id': r.requestId }
    if (r.body !== undefined) headers['content-type'] = r.contentType
    const response = await app.inject({ method, url, headers, ...(r.body === undefined ? {} : { payload: r.body }) })
    return response.statusCode < 500 && response.headers['x-request-id'] !== undefined &&
      (response.statusCode < 400 || isErrorBody(response.json(), response.statusCode))
  }), { numRuns: 400 })
  t.pass('400 requests, none answered with a 5xx or another error body')
})
