import { ServerError } from 'livekit-server-sdk'
import t from 'tap'
import { errors } from 'undici'
import { httpAnswerOf } from '#http/domain-errors.js'
import { isRoomNotFound, toLivekitError } from '#livekit/errors.js'

/** A LiveKit failure as the client sees it: the service's own error, answered as the error handler maps it. */
function mapped (err: unknown) {
  const error = toLivekitError(err, 1500, 'create the room')
  return { ...httpAnswerOf(error), message: error.message, error }
}

t.test('a timeout is a 504 that says how long was waited', async (t) => {
  const error = mapped(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  t.equal(error.statusCode, 504)
  t.equal(error.message, 'LiveKit did not answer within 1500 ms')
})

t.test('a refused connection is a 503 with Retry-After', async (t) => {
  const error = mapped(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }))
  t.equal(error.statusCode, 503)
  t.equal(error.message, 'LiveKit is unreachable')
  t.same(error.headers, { 'retry-after': '5' })
})

t.test('undici\'s deadlines are 504s like the call\'s own', async (t) => {
  for (const err of [new errors.ConnectTimeoutError(), new errors.HeadersTimeoutError(), new errors.BodyTimeoutError()]) {
    const error = mapped(err)
    t.equal(error.statusCode, 504, err.code)
    t.equal(error.message, 'LiveKit did not answer within 1500 ms')
  }
})

t.test('the socket\'s errors on the way to LiveKit (src/livekit/api.ts) are a 503 with Retry-After, as `fetch failed` is', async (t) => {
  const socketErrors = [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7880'), { code: 'ECONNREFUSED', syscall: 'connect' }),
    Object.assign(new Error('getaddrinfo ENOTFOUND livekit.internal'), { code: 'ENOTFOUND' }),
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    new errors.SocketError('other side closed'),
    new errors.ClientClosedError()
  ]
  for (const err of socketErrors) {
    const error = mapped(err)
    t.equal(error.statusCode, 503, err.message)
    t.equal(error.message, 'LiveKit is unreachable')
    t.same(error.headers, { 'retry-after': '5' })
  }
})

t.test('LiveKit\'s own answers are upstream failures that say what was being done, never a 404', async (t) => {
  const cases: Array<[ServerError, number, string]> = [
    [new ServerError('Not Found', 'room not found', 404, 'not_found'), 502, 'LiveKit refused to create the room (not_found)'],
    [new ServerError('Not Found', '<html>gateway</html>', 404, undefined), 502, 'LiveKit refused to create the room (404)'],
    [new ServerError('Bad Request', 'bad', 400, 'invalid_argument'), 502, 'LiveKit refused to create the room (invalid_argument)'],
    [new ServerError('Unauthorized', 'invalid token', 401, undefined), 502, 'LiveKit refused the service\'s API credentials'],
    [new ServerError('Forbidden', 'no permission', 403, 'permission_denied'), 502, 'LiveKit refused the service\'s API credentials'],
    [new ServerError('Too Many Requests', 'slow down', 429, 'resource_exhausted'), 503, 'LiveKit is over capacity'],
    [new ServerError('Internal Server Error', 'boom', 500, 'internal'), 502, 'LiveKit failed (500) to create the room'],
    // Its node's stats are stale (a stall, a saturated machine): LiveKit made nothing, and will place rooms again.
    [new ServerError('Internal Server Error', 'could not find any available nodes', 500, 'internal'), 503, 'LiveKit has no node available for the room']
  ]
  for (const [err, status, message] of cases) {
    const error = mapped(err)
    t.equal(error.statusCode, status, message)
    t.equal(error.message, message)
  }
})

t.test('only LiveKit\'s own not_found names a missing room; a bare 404 from a proxy does not', async (t) => {
  t.ok(isRoomNotFound(new ServerError('Not Found', 'room not found', 404, 'not_found')))
  t.notOk(isRoomNotFound(new ServerError('Not Found', '<html>gateway</html>', 404, undefined)))
  t.notOk(isRoomNotFound(new TypeError('fetch failed')))
})

t.test('anything else is passed on, to be logged and masked as a 500', async (t) => {
  const original = new RangeError('unexpected')
  t.equal(mapped(original).error, original)
  const unknownCode = Object.assign(new Error('odd'), { code: 'EODD' })
  t.equal(mapped(unknownCode).error, unknownCode, 'an error code that says nothing of reaching LiveKit')
  const invalid = new errors.InvalidArgumentError('bad header')
  t.equal(mapped(invalid).error, invalid, 'a mistake in the call itself')
  t.equal(mapped('a string').message, 'a string')
})
