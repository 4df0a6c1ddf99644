import t from 'tap'
import { httpAnswerOf } from '#http/domain-errors.js'
import { LivekitFailedError, LivekitTimeoutError, LivekitUnavailableError } from '#livekit/errors.js'
import { CapReachedError, IndexUnavailableError, NotYourSessionError, SessionNotFoundError } from '#sessions/errors.js'

t.test('each domain error has its status, its own message and Retry-After where a retry makes sense', async (t) => {
  const retry = { 'retry-after': '5' }
  t.same(httpAnswerOf(new SessionNotFoundError('room-1')), { statusCode: 404, message: 'Session not found' })
  t.same(httpAnswerOf(new NotYourSessionError('room-1')), { statusCode: 403, message: 'Not your session' })
  t.same(httpAnswerOf(new CapReachedError('user', 3, 3)), {
    statusCode: 429,
    message: 'You have 3 live sessions, the most allowed (MAX_SESSIONS_PER_USER = 3); end one first'
  })
  t.same(httpAnswerOf(new CapReachedError('service', 100, 100)), {
    statusCode: 429,
    message: 'The service is at its cap of 100 live sessions (MAX_LIVE_SESSIONS); try again later'
  })
  t.same(httpAnswerOf(new IndexUnavailableError()), { statusCode: 503, message: 'The session index is unavailable', headers: retry })
  t.same(httpAnswerOf(new LivekitUnavailableError('LiveKit is unreachable')), { statusCode: 503, message: 'LiveKit is unreachable', headers: retry })
  t.same(httpAnswerOf(new LivekitTimeoutError(1500)), { statusCode: 504, message: 'LiveKit did not answer within 1500 ms', headers: retry })
  t.same(httpAnswerOf(new LivekitFailedError('LiveKit refused the service\'s API credentials')), { statusCode: 502, message: 'LiveKit refused the service\'s API credentials' })
})

t.test('a cap reached names the cap and its limit', async (t) => {
  const error = new CapReachedError('service', 100, 101)
  t.equal(error.scope, 'service')
  t.equal(error.limit, 100)
  t.equal(error.live, 101)
})

t.test('anything else is no domain error', async (t) => {
  t.equal(httpAnswerOf(new Error('boom')), undefined)
  t.equal(httpAnswerOf(Object.assign(new Error('teapot'), { statusCode: 418 })), undefined)
})
