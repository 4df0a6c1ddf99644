import { STATUS_CODES } from 'node:http'
import {
  AgentDispatch,
  CreateAgentDispatchRequest,
  CreateRoomRequest,
  DeleteRoomRequest,
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

type Json = Parameters<typeof Room.fromJson>[0]
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

/** A Twirp error answer as the SDK's ServerError: JSON gives `code` (`not_found`...), any other body is the message. */
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
 * LiveKit's server API (Twirp JSON over HTTP, as livekit-server-sdk speaks it) for the calls this
 * service makes, with the SDK's signatures, types and errors, at a fraction of its CPU cost: calls go
 * over kept-alive sockets (an undici Pool to the one LiveKit host, not `fetch`), and the tokens that
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

  async function call (service: 'RoomService' | 'AgentDispatchService', method: string, request: Json, authorization: string): Promise<Json> {
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort(timeoutError()) }, requestTimeoutMs)
    try {
      const response = await pool.request({
        method: 'POST',
        path: `/twirp/livekit.${service}/${method}`,
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify(request),
        signal: controller.signal
      })
      if (response.statusCode >= 200 && response.statusCode < 300) return await response.body.json() as Json
      throw await serverErrorOf(response)
    } finally {
      clearTimeout(timer)
    }
  }

  const rooms = {
    async createRoom (options: CreateOptions): Promise<Room> {
      const data = await call('RoomService', 'CreateRoom', new CreateRoomRequest(options).toJson(), serviceAuthorization())
      return Room.fromJson(data, { ignoreUnknownFields: true })
    },

    /** The rooms of these names that exist (`[]` for none); every room when `names` is empty or missing. */
    async listRooms (names?: string[]): Promise<Room[]> {
      const data = await call('RoomService', 'ListRooms', new ListRoomsRequest({ names: names ?? [] }).toJson(), serviceAuthorization())
      return ListRoomsResponse.fromJson(data, { ignoreUnknownFields: true }).rooms ?? []
    },

    /** Throws ServerError `not_found` for a room LiveKit does not have. */
    async deleteRoom (room: string): Promise<void> {
      await call('RoomService', 'DeleteRoom', new DeleteRoomRequest({ room }).toJson(), serviceAuthorization())
    },

    /** `[]` for a room LiveKit does not have. */
    async listParticipants (room: string): Promise<ParticipantInfo[]> {
      const data = await call('RoomService', 'ListParticipants', new ListParticipantsRequest({ room }).toJson(), roomAuthorization(room))
      return ListParticipantsResponse.fromJson(data, { ignoreUnknownFields: true }).participants ?? []
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
      const data = await call('AgentDispatchService', 'CreateDispatch', request.toJson(), roomAuthorization(roomName))
      return AgentDispatch.fromJson(data, { ignoreUnknownFields: true })
    },

    async listDispatch (roomName: string): Promise<AgentDispatch[]> {
      const data = await call('AgentDispatchService', 'ListDispatch', new ListAgentDispatchRequest({ room: roomName }).toJson(), roomAuthorization(roomName))
      return ListAgentDispatchResponse.fromJson(data, { ignoreUnknownFields: true }).agentDispatches
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
