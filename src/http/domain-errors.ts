import { LivekitFailedError, LivekitTimeoutError, LivekitUnavailableError } from '#livekit/errors.js'
import { CapReachedError, IndexUnavailableError, NotYourSessionError, SessionNotFoundError } from '#sessions/errors.js'

/** Seconds a client is asked to wait before retrying when a dependency (LiveKit, the index) is away. */
export const RETRY_AFTER_SECONDS = 5

/** How a domain error is answered: its status, the message the client may read, and headers. */
export interface HttpAnswer {
  statusCode: number
  message: string
  headers?: Record<string, string>
}

const retryLater = { 'retry-after': String(RETRY_AFTER_SECONDS) }

/**
 * The one map from the domain's errors to HTTP. A cap reached is a 429 without Retry-After (no
 * time can be promised); a dependency that is away is a 503 with it, LiveKit's silence a 504 with
 * it; LiveKit's refusals are 502s. Every message is the domain's own and safe to show. Anything else is not a
 * domain error (undefined): the error handler treats it as an HTTP error or an unexpected 500.
 */
export function httpAnswerOf (error: Error): HttpAnswer | undefined {
  const { message } = error
  if (error instanceof SessionNotFoundError) return { statusCode: 404, message }
  if (error instanceof NotYourSessionError) return { statusCode: 403, message }
  if (error instanceof CapReachedError) return { statusCode: 429, message }
  if (error instanceof IndexUnavailableError) return { statusCode: 503, message, headers: retryLater }
  if (error instanceof LivekitUnavailableError) return { statusCode: 503, message, headers: retryLater }
  if (error instanceof LivekitTimeoutError) return { statusCode: 504, message, headers: retryLater }
  if (error instanceof LivekitFailedError) return { statusCode: 502, message }
  return undefined
}
