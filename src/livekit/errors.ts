import { httpErrors } from '@fastify/sensible'
import { ServerError } from 'livekit-server-sdk'

/** Seconds a client is asked to wait before retrying when LiveKit is unavailable. */
const RETRY_AFTER_SECONDS = '5'

function upstreamError (status: number, message: string) {
  const error = httpErrors.createError(status, message, { expose: true })
  if (status === 503) error.headers = { 'retry-after': RETRY_AFTER_SECONDS }
  return error
}

/** undici's own deadlines (connecting, the headers, the body): LiveKit did not answer in time. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])
/**
 * The socket's errors on the way to LiveKit (src/livekit/api.ts calls through undici), the ones
 * `fetch` folds into `TypeError('fetch failed')`: no connection, or one that broke before the answer.
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED'
])

function codeOf (err: Error): unknown {
  return (err as Error & { code?: unknown }).code
}

function isTimeout (err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError' || TIMEOUT_CODES.has(codeOf(err) as string))
}

function isUnreachable (err: unknown): boolean {
  if (err instanceof TypeError && err.message === 'fetch failed') return true
  return err instanceof Error && !(err instanceof ServerError) && UNREACHABLE_CODES.has(codeOf(err) as string)
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
  if (isUnreachable(err)) return upstreamError(503, 'LiveKit is unreachable')
  if (err instanceof ServerError) {
    if (err.status === 401 || err.status === 403) return upstreamError(502, 'LiveKit refused the service\'s API credentials')
    if (err.status === 429 || err.code === 'resource_exhausted') return upstreamError(503, 'LiveKit is over capacity')
    if (err.status >= 500) return upstreamError(502, `LiveKit failed (${err.status}) to ${action}`)
    return upstreamError(502, `LiveKit refused to ${action} (${err.code ?? err.status})`)
  }
  return err instanceof Error ? err : new Error(String(err))
}
