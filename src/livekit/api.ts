import { STATUS_CODES } from 'node:http'
import {
  AgentDispatch,
  CreateAgentDispatchRequest,
  CreateRoomRequest,
  DeleteRoomRequest,
  DeleteRoomResponse,
  ListAgentDispatchRequest,
  ListAgentDispatchResponse,
  ListParticipantsRequest,
  ListParticipantsResponse,
  ListRoomsRequest,
  ListRoomsResponse,
  Room,
  type ParticipantInfo
} from '@livekit/protocol'
import { ServerError, type AgentDispatchClient, type CreateOptions, type RoomServiceClient, type VideoGrant } from 'livekit-server-sdk'
import { Pool, type Dispatcher } from 'undici'
import { signJwt } from './jwt.js'

/** How long a server-API token is valid, in seconds (the SDK's default). */
export const API_TOKEN_TTL_SECONDS = 600
/** A token is replaced once this old, so that one in use is always minutes away from expiring. */
export const API_TOKEN_RENEW_AFTER_MS = 300_000
/**
 * Room-scoped tokens kept: LiveKit wants `roomAdmin` for exactly the room a participant or dispatch
 * call names, so each room has its own. A miss only costs one synchronous HMAC.
 */
export const ROOM_TOKENS_KEPT = 1024
/**
 * Sockets kept open to LiveKit at most: twice the 16 calls in flight this client was measured at;
 * beyond it calls wait for a socket, within their own deadline.
 */
const MAX_CONNECTIONS = 32

/** Twirp's protobuf encoding: LiveKit encodes and decodes it several times faster than JSON (a 10,000-room ListRooms: 52-108 ms of its CPU against 516-686 ms). */
const PROTOBUF = 'application/protobuf'

interface Encodable { toBinary: () => Uint8Array }
interface Decoder<T> { fromBinary: (bytes: Uint8Array) => T }
type CreateDispatchOptions = NonNullable<Parameters<AgentDispatchClient['createDispatch']>[2]>

export interface LivekitApiOptions {
  /** LIVEKIT_URL: `ws(s)://` or `http(s)://`; a path is ignored, as the SDK does. */
  url: string
  apiKey: string
  apiSecret: string
  /** Longest wait for one call, connecting and reading the answer included. */
  requestTimeoutMs: number
  /** The clock tokens are dated and renewed by. */
  now?: () => number
}

/** The origin server-API calls go to: LiveKit's WebSocket URL in its HTTP form, without any path. */
export function apiOrigin (url: string): string {
  const parsed = new URL(url)
  const protocol = parsed.protocol === 'wss:' ? 'https:' : parsed.protocol === 'ws:' ? 'http:' : parsed.protocol
  return `${protocol}//${parsed.host}`
}

/** An HS256 JWT as the SDK's AccessToken signs one for a server-API call, but synchronously. */
function signApiToken (apiKey: string, apiSecret: string, video: VideoGrant, nowMs: number): string {
  const issuedAt = Math.floor(nowMs / 1000)
  return signJwt({ video, iss: apiKey, nbf: issuedAt, exp: issuedAt + API_TOKEN_TTL_SECONDS }, apiSecret)
}

interface ApiToken {
  authorization: string
  renewAtMs: number
}

function headerValue (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** A Twirp error answer (always JSON) as the SDK's ServerError: JSON gives `code` (`not_found`...), any other body is the message. */
async function serverErrorOf (response: Dispatcher.ResponseData): Promise<ServerError> {
  let message = 'Unknown internal error'
  let code: string | undefined
  let metadata: Record<string, string> | undefined
  try {
    // Exactly as the SDK reads it, so that `code` means the same to src/livekit/errors.ts.
    if (headerValue(response.headers['content-type']) === 'application/json') {
      const parsed = await response.body.json() as { msg?: string, code?: string, meta?: Record<string, string> }
      if ('msg' in parsed && parsed.msg !== undefined) message = parsed.msg
      if ('code' in parsed) code = parsed.code
      if ('meta' in parsed) metadata = parsed.meta
    } else {
      message = await response.body.text()
    }
  } catch {}
  return new ServerError(STATUS_CODES[response.statusCode] ?? '', message, response.statusCode, code, metadata)
}

function timeoutError (): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError')
}

/**
 * LiveKit's server API (Twirp over HTTP, as livekit-server-sdk speaks it) for the calls this service
 * makes, with the SDK's signatures, types and errors, at a fraction of its CPU cost and of LiveKit's:
 * calls are encoded in protobuf, not JSON (Twirp's errors stay JSON), and go over kept-alive
 * sockets (an undici Pool to the one LiveKit host, not `fetch`), and the tokens that
 * authorise them are signed synchronously and reused until API_TOKEN_RENEW_AFTER_MS, where the SDK
 * signs a fresh one (async, jose) for every call. One token (roomCreate + roomList) serves the room
 * calls; participant and dispatch calls each carry a token for their room.
 * A call fails with ServerError for LiveKit's answers, the socket's error when LiveKit cannot be
 * reached, and a `TimeoutError` DOMException after `requestTimeoutMs` (src/livekit/errors.ts maps them).
 * https://docs.livekit.io/reference/other/roomservice-api/
 * https://github.com/nodejs/undici
 */
export function createLivekitApi ({ url, apiKey, apiSecret, requestTimeoutMs, now = Date.now }: LivekitApiOptions) {
  const pool = new Pool(apiOrigin(url), { connections: MAX_CONNECTIONS })
  let closing: Promise<void> | undefined

  let serviceToken: ApiToken | undefined
  const roomTokens = new Map<string, ApiToken>()

  function newToken (video: VideoGrant, at: number): ApiToken {
    return { authorization: `Bearer ${signApiToken(apiKey, apiSecret, video, at)}`, renewAtMs: at + API_TOKEN_RENEW_AFTER_MS }
  }

  /** For CreateRoom, DeleteRoom (roomCreate) and ListRooms (roomList). */
  function serviceAuthorization (): string {
    const at = now()
    if (serviceToken === undefined || at >= serviceToken.renewAtMs) serviceToken = newToken({ roomCreate: true, roomList: true }, at)
    return serviceToken.authorization
  }

  /** For calls about one room: roomAdmin of that room. The most recently used ROOM_TOKENS_KEPT are kept. */
  function roomAuthorization (room: string): string {
    const at = now()
    let token = roomTokens.get(room)
    if (token !== undefined) roomTokens.delete(room)
    if (token === undefined || at >= token.renewAtMs) token = newToken({ roomAdmin: true, room }, at)
    roomTokens.set(room, token)
    if (roomTokens.size > ROOM_TOKENS_KEPT) roomTokens.delete(roomTokens.keys().next().value as string)
    return token.authorization
  }

  /** One Twirp call in protobuf: `request` encoded, LiveKit's answer decoded as `answer`. */
  async function call<T> (service: 'RoomService' | 'AgentDispatchService', method: string, request: Encodable, answer: Decoder<T>, authorization: string): Promise<T> {
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort(timeoutError()) }, requestTimeoutMs)
    try {
      const response = await pool.request({
        method: 'POST',
        path: `/twirp/livekit.${service}/${method}`,
        headers: { 'content-type': PROTOBUF, authorization },
        body: request.toBinary(),
        signal: controller.signal
      })
      if (response.statusCode >= 200 && response.statusCode < 300) return answer.fromBinary(new Uint8Array(await response.body.arrayBuffer()))
      throw await serverErrorOf(response)
    } finally {
      clearTimeout(timer)
    }
  }

  const rooms = {
    async createRoom (options: CreateOptions): Promise<Room> {
      return await call('RoomService', 'CreateRoom', new CreateRoomRequest(options), Room, serviceAuthorization())
    },

    /** The rooms of these names that exist (`[]` for none); every room when `names` is empty or missing. */
    async listRooms (names?: string[]): Promise<Room[]> {
      return (await call('RoomService', 'ListRooms', new ListRoomsRequest({ names: names ?? [] }), ListRoomsResponse, serviceAuthorization())).rooms
    },

    /** Throws ServerError `not_found` for a room LiveKit does not have. */
    async deleteRoom (room: string): Promise<void> {
      await call('RoomService', 'DeleteRoom', new DeleteRoomRequest({ room }), DeleteRoomResponse, serviceAuthorization())
    },

    /** `[]` for a room LiveKit does not have. */
    async listParticipants (room: string): Promise<ParticipantInfo[]> {
      return (await call('RoomService', 'ListParticipants', new ListParticipantsRequest({ room }), ListParticipantsResponse, roomAuthorization(room))).participants
    }
  } satisfies Pick<RoomServiceClient, 'createRoom' | 'listRooms' | 'deleteRoom' | 'listParticipants'>

  const agentDispatch = {
    async createDispatch (roomName: string, agentName: string, options?: CreateDispatchOptions): Promise<AgentDispatch> {
      const request = new CreateAgentDispatchRequest({
        room: roomName,
        agentName,
        metadata: options?.metadata,
        restartPolicy: options?.restartPolicy,
        deployment: options?.deployment
      })
      return await call('AgentDispatchService', 'CreateDispatch', request, AgentDispatch, roomAuthorization(roomName))
    },

    async listDispatch (roomName: string): Promise<AgentDispatch[]> {
      return (await call('AgentDispatchService', 'ListDispatch', new ListAgentDispatchRequest({ room: roomName }), ListAgentDispatchResponse, roomAuthorization(roomName))).agentDispatches
    }
  } satisfies Pick<AgentDispatchClient, 'createDispatch' | 'listDispatch'>

  /** Closes the sockets once the calls in flight have ended; later calls fail. */
  async function close (): Promise<void> {
    closing ??= pool.close()
    await closing
  }

  return { rooms, agentDispatch, close }
}

export type LivekitApi = ReturnType<typeof createLivekitApi>
