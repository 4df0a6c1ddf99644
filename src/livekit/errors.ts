import { ServerError } from 'livekit-server-sdk'

/** LiveKit cannot be reached, or says it is over capacity: a retry later may succeed. */
export class LivekitUnavailableError extends Error {
  override name = 'LivekitUnavailableError'
}

/** LiveKit did not answer within LIVEKIT_REQUEST_TIMEOUT_MS. */
export class LivekitTimeoutError extends Error {
  override name = 'LivekitTimeoutError'
  constructor (readonly timeoutMs: number, options?: ErrorOptions) {
    super(`LiveKit did not answer within ${timeoutMs} ms`, options)
  }
}

/** LiveKit answered, and refused or failed the operation (or the service's credentials). */
export class LivekitFailedError extends Error {
  override name = 'LivekitFailedError'
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
 * LiveKit's answer (500, "could not find any available nodes") when no node may take a new room:
 * its node's stats, rewritten every 2 s, are more than 5 s old, as after a stall or on a saturated
 * machine (livekit-server's pkg/routing/selector). It made nothing, and its next stats clear it.
 */
export function isNoNodeAvailable (err: unknown): boolean {
  return err instanceof ServerError && err.status >= 500 && err.message.includes('could not find any available nodes')
}

/**
 * A failed LiveKit API call as the service's own error, which says what LiveKit did; `action`
 * says what the service was doing ("create the room"). LiveKit's own refusals are its failures,
 * not the caller's: the caller's input was checked before LiveKit was called, and a missing room
 * is the caller's business only where the operation says so (`isRoomNotFound`). Unknown failures
 * are returned as they are, to be logged and masked as a 500.
 */
export function toLivekitError (err: unknown, timeoutMs: number, action: string): Error {
  const options = { cause: err }
  if (isTimeout(err)) return new LivekitTimeoutError(timeoutMs, options)
  if (isUnreachable(err)) return new LivekitUnavailableError('LiveKit is unreachable', options)
  if (err instanceof ServerError) {
    if (err.status === 401 || err.status === 403) return new LivekitFailedError('LiveKit refused the service\'s API credentials', options)
    if (err.status === 429 || err.code === 'resource_exhausted') return new LivekitUnavailableError('LiveKit is over capacity', options)
    if (isNoNodeAvailable(err)) return new LivekitUnavailableError('LiveKit has no node available for the room', options)
    if (err.status >= 500) return new LivekitFailedError(`LiveKit failed (${err.status}) to ${action}`, options)
    return new LivekitFailedError(`LiveKit refused to ${action} (${err.code ?? err.status})`, options)
  }
  return err instanceof Error ? err : new Error(String(err))
}
