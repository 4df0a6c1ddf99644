import { setTimeout as sleep } from 'node:timers/promises'
import { ServerError, type VideoGrant } from 'livekit-server-sdk'
import type { Config } from '../config.js'
import { createLivekitApi } from './api.js'
import { signJwt } from './jwt.js'
import { isNoNodeAvailable, isRoomNotFound, LivekitTimeoutError, LivekitUnavailableError, toLivekitError } from './errors.js'
import { noMetrics, type Metrics } from '#ops/metrics.js'

export interface TokenRequest {
  identity: string
  name: string
  room: string
  canPublish?: boolean
  canSubscribe?: boolean
  canPublishData?: boolean
}

export interface IssuedToken {
  token: string
  expiresAt: Date
}

/** The microphone as a grant's `canPublishSources` names it in a token (the SDK's `trackSourceToString`). */
const MICROPHONE = 'microphone'

type LivekitConfig = Pick<Config, 'LIVEKIT_URL' | 'LIVEKIT_API_KEY' | 'LIVEKIT_API_SECRET' | 'LIVEKIT_REQUEST_TIMEOUT_MS' | 'LIVEKIT_TOKEN_TTL_SECONDS'>

/**
 * The outcome label of a LiveKit call that failed, by the kind an operator acts on: `not_found`
 * (a room LiveKit does not have: often expected), `unauthorized` (the credentials), `refused`
 * (another 4xx), `failed` (LiveKit's 5xx), `unavailable`, `timeout`, or `error` (anything else).
 */
function outcomeOf (err: unknown): string {
  if (isRoomNotFound(err)) return 'not_found'
  const error = toLivekitError(err, 0, 'call')
  if (error instanceof LivekitTimeoutError) return 'timeout'
  if (error instanceof LivekitUnavailableError) return 'unavailable'
  if (!(err instanceof ServerError)) return 'error'
  if (err.status === 401 || err.status === 403) return 'unauthorized'
  return err.status >= 500 ? 'failed' : 'refused'
}

/** The client with every call timed into `livekit_request_duration_seconds` (operation: `ListRooms`...). */
function timed<T extends Record<string, (...args: never[]) => Promise<unknown>>> (client: T, metrics: Metrics): T {
  return Object.fromEntries(Object.entries(client).map(([name, call]) => [name, async (...args: never[]) => {
    const done = metrics.livekitCall(name.charAt(0).toUpperCase() + name.slice(1))
    try {
      const result = await call(...args)
      done({ outcome: 'ok' })
      return result
    } catch (err) {
      done({ outcome: outcomeOf(err) })
      throw err
    }
  }])) as T
}

/**
 * The waits before CreateRoom is tried again while LiveKit has no node for the room (`isNoNodeAvailable`):
 * its node's stats are rewritten every 2 s, so the next ones come within these 2.5 s. The room is
 * named, so a second CreateRoom cannot make a second room.
 */
export const NO_NODE_RETRY_DELAYS_MS = [250, 500, 750, 1000]
/** What `NO_NODE_RETRY_DELAYS_MS` adds to a CreateRoom at most. */
export const NO_NODE_RETRY_MS = NO_NODE_RETRY_DELAYS_MS.reduce((sum, delay) => sum + delay, 0)

/** `createRoom`, tried again after each of NO_NODE_RETRY_DELAYS_MS while LiveKit answers that it has no node for the room. */
function retriedWithoutNode<T, A extends unknown[]> (createRoom: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  return async (...args) => {
    for (const delayMs of NO_NODE_RETRY_DELAYS_MS) {
      try {
        return await createRoom(...args)
      } catch (err) {
        if (!isNoNodeAvailable(err)) throw err
      }
      await sleep(delayMs)
    }
    return await createRoom(...args)
  }
}

/**
 * LiveKit's server API (`rooms`, `agentDispatch`: src/livekit/api.ts, the SDK's calls without its
 * per-call cost, each call timed in `metrics`, CreateRoom tried again while LiveKit has no node for
 * it) and the participant-token signer, built once from config. `close()` releases the API's sockets.
 * https://docs.livekit.io/reference/server-sdk-js/
 */
export function createLivekit (config: LivekitConfig, metrics: Metrics = noMetrics) {
  const api = createLivekitApi({
    url: config.LIVEKIT_URL,
    apiKey: config.LIVEKIT_API_KEY,
    apiSecret: config.LIVEKIT_API_SECRET,
    requestTimeoutMs: config.LIVEKIT_REQUEST_TIMEOUT_MS
  })

  /**
   * A participant's token, with the claims the SDK's AccessToken gives (test/livekit/token.test.ts),
   * signed synchronously (src/livekit/jwt.ts). Its `exp` is the expiry LiveKit enforces; it bounds
   * joining and reconnecting: LiveKit refreshes a connected participant's token itself.
   */
  function issueToken (request: TokenRequest): IssuedToken {
    if (request.identity === '') throw new Error('identity is required for join but not set')
    const issuedAt = Math.floor(Date.now() / 1000)
    const exp = issuedAt + config.LIVEKIT_TOKEN_TTL_SECONDS
    const video = {
      roomJoin: true,
      room: request.room,
      canPublish: request.canPublish ?? true,
      // A voice session: the microphone, never a camera or a screen.
      canPublishSources: [MICROPHONE],
      canSubscribe: request.canSubscribe ?? true,
      canPublishData: request.canPublishData ?? true
    } satisfies Omit<VideoGrant, 'canPublishSources'> & { canPublishSources: string[] }
    const name = request.name === '' ? {} : { name: request.name }
    const token = signJwt({ ...name, video, iss: config.LIVEKIT_API_KEY, exp, nbf: issuedAt, sub: request.identity }, config.LIVEKIT_API_SECRET)
    return { token, expiresAt: new Date(exp * 1000) }
  }

  const rooms = timed(api.rooms, metrics)
  return { url: config.LIVEKIT_URL, rooms: { ...rooms, createRoom: retriedWithoutNode(rooms.createRoom) }, agentDispatch: timed(api.agentDispatch, metrics), issueToken, close: api.close }
}

export type Livekit = ReturnType<typeof createLivekit>
