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
 * Maps a failed LiveKit API call to the deliberate HTTP error the client sees.
 * Unknown failures are returned as they are, to be logged and masked as a 500.
 */
export function toServiceError (err: unknown, timeoutMs: number): Error {
  if (isTimeout(err)) return upstreamError(504, `LiveKit did not answer within ${timeoutMs} ms`)
  if (err instanceof TypeError && err.message === 'fetch failed') return upstreamError(503, 'LiveKit is unreachable')
  if (err instanceof ServerError) {
    if (err.status === 404) return upstreamError(404, 'Session not found')
    if (err.status === 401 || err.status === 403) return upstreamError(502, 'LiveKit refused the service\'s API credentials')
    if (err.status === 429 || err.code === 'resource_exhausted') return upstreamError(503, 'LiveKit is over capacity')
    if (err.status >= 500) return upstreamError(502, `LiveKit failed (${err.status})`)
    return upstreamError(502, `LiveKit rejected the request (${err.code ?? err.status})`)
  }
  return err instanceof Error ? err : new Error(String(err))
}
