import { httpErrors } from '@fastify/sensible'
import { ServerError } from 'livekit-server-sdk'

/** Seconds a client is asked to wait before retrying when LiveKit is unavailable. */
const RETRY_AFTER_SECONDS = '5'

function upstreamError (status: number, message: string) {
  const error = httpErrors.createError(status, message, { expose: true })
  if (status === 503) error.headers = { 'retry-after': RETRY_AFTER_SECONDS }
  return error
}

function isTimeout (err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
}

/**
 * Whether LiveKit itself (Twirp code `not_found`) said the room does not exist. A bare 404 without
 * that code comes from something else on the way, a gateway or a proxy, and says nothing of rooms.
 */
export function isRoomNotFound (err: unknown): boolean {
  return err instanceof ServerError && err.code === 'not_found'
}

/**
 * Maps a failed LiveKit API call to the deliberate HTTP error the client sees; `action` says
 * what the service was doing ("create the room"). LiveKit's own answers are upstream failures
 * (502, 503 when it is over capacity): the caller's input was checked before LiveKit was called,
 * and a missing room is the caller's business only where the operation says so (`isRoomNotFound`).
 * Unknown failures are returned as they are, to be logged and masked as a 500.
 */
export function toServiceError (err: unknown, timeoutMs: number, action: string): Error {
  if (isTimeout(err)) return upstreamError(504, `LiveKit did not answer within ${timeoutMs} ms`)
  if (err instanceof TypeError && err.message === 'fetch failed') return upstreamError(503, 'LiveKit is unreachable')
  if (err instanceof ServerError) {
    if (err.status === 401 || err.status === 403) return upstreamError(502, 'LiveKit refused the service\'s API credentials')
    if (err.status === 429 || err.code === 'resource_exhausted') return upstreamError(503, 'LiveKit is over capacity')
    if (err.status >= 500) return upstreamError(502, `LiveKit failed (${err.status}) to ${action}`)
    return upstreamError(502, `LiveKit refused to ${action} (${err.code ?? err.status})`)
  }
  return err instanceof Error ? err : new Error(String(err))
}
