/** What a session operation can refuse or fail with. The HTTP status of each is the error handler's business (src/http/domain-errors.ts). */

/** No live session has this room name. */
export class SessionNotFoundError extends Error {
  override name = 'SessionNotFoundError'
  constructor (readonly roomName: string) {
    super('Session not found')
  }
}

/** The session is another user's. */
export class NotYourSessionError extends Error {
  override name = 'NotYourSessionError'
  constructor (readonly roomName: string) {
    super('Not your session')
  }
}

/** Whose cap a start would pass: the user's own (MAX_SESSIONS_PER_USER) or the service's (MAX_LIVE_SESSIONS). */
export type CapScope = 'user' | 'service'

/** A start would pass a cap on live sessions; no time can be promised for a retry. */
export class CapReachedError extends Error {
  override name = 'CapReachedError'
  constructor (readonly scope: CapScope, readonly limit: number, readonly live: number) {
    super(scope === 'user'
      ? `You have ${live} live sessions, the most allowed (MAX_SESSIONS_PER_USER = ${limit}); end one first`
      : `The service is at its cap of ${limit} live sessions (MAX_LIVE_SESSIONS); try again later`)
  }
}

/** The session index (Redis) failed or is away: the service cannot tell, so it does not guess. */
export class IndexUnavailableError extends Error {
  override name = 'IndexUnavailableError'
  constructor (options?: ErrorOptions) {
    super('The session index is unavailable', options)
  }
}
