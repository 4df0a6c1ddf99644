import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  CreateAgentDispatchRequest,
  CreateRoomRequest,
  DeleteRoomRequest,
  ListAgentDispatchRequest,
  ListParticipantsRequest,
  ListRoomsRequest
} from '@livekit/protocol'
import type { Test } from 'tap'

/** An HTTP server on loopback, closed when the test ends; its URL in LiveKit's `ws://` form. */
export async function httpServer (t: Test, handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
  const server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const address = server.address()
  return `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
}

/** A server-API call as the proxy forwarded it: its Twirp method (`ListRooms`) and its body, as JSON. */
export interface TwirpCall {
  method: string
  body: Record<string, unknown>
}

/** A `ListRooms` that names no room: LiveKit's whole room list, which a replica reads only to rebuild its index. */
export function listsEveryRoom ({ method, body }: TwirpCall): boolean {
  return method === 'ListRooms' && !(Array.isArray(body.names) && body.names.length > 0)
}

/** The requests of the calls the service makes, to read their protobuf bodies. */
const REQUESTS: Record<string, { fromBinary: (bytes: Uint8Array) => { toJson: () => unknown } }> = {
  CreateRoom: CreateRoomRequest,
  ListRooms: ListRoomsRequest,
  DeleteRoom: DeleteRoomRequest,
  ListParticipants: ListParticipantsRequest,
  CreateDispatch: CreateAgentDispatchRequest,
  ListDispatch: ListAgentDispatchRequest
}

/** A call's body as JSON, whether it came as protobuf (the service) or JSON (the SDK). */
function twirpBody (method: string, contentType: string | undefined, body: Buffer): TwirpCall['body'] {
  try {
    const request = REQUESTS[method]
    const parsed: unknown = contentType === 'application/protobuf' && request !== undefined
      ? request.fromBinary(new Uint8Array(body)).toJson()
      : JSON.parse(body.toString())
    return typeof parsed === 'object' && parsed !== null ? parsed as TwirpCall['body'] : {}
  } catch {
    return {}
  }
}

/**
 * A proxy in front of a real livekit-server that records each server-API call (`ListRooms`,
 * `ListParticipants`...) it forwards, by name in `calls` and with its body in `twirp`: to see which
 * calls the service makes, never to fake answers.
 * `delayMs` holds each call back first: a slow LiveKit, which the real one cannot be on demand.
 * `holdAnswer` holds LiveKit's answer to a call back until it resolves: an answer that arrives
 * after something LiveKit did meanwhile (a webhook), in the order a busy machine can give.
 * `noNode` answers a call, without forwarding it, as LiveKit does while its node's stats are stale
 * (500, "could not find any available nodes"): it does so on a saturated machine, never on demand.
 */
export async function recordingProxy (t: Test, livekitPort: number, { delayMs = 0, holdAnswer, noNode }: {
  delayMs?: number
  holdAnswer?: (call: string) => Promise<unknown>
  noNode?: (call: string) => boolean
} = {}): Promise<{ url: string, calls: string[], twirp: TwirpCall[] }> {
  const upstream = `http://127.0.0.1:${livekitPort}`
  const calls: string[] = []
  const twirp: TwirpCall[] = []
  const url = await httpServer(t, (request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const call = request.url?.split('/').pop() ?? ''
      const body = Buffer.concat(chunks)
      calls.push(call)
      twirp.push({ method: call, body: twirpBody(call, request.headers['content-type'], body) })
      if (noNode?.(call) === true) {
        response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'internal', msg: 'could not find any available nodes' }))
        return
      }
      sleep(delayMs).then(async () => await fetch(`${upstream}${request.url}`, {
        method: request.method,
        headers: { authorization: request.headers.authorization ?? '', 'content-type': request.headers['content-type'] ?? '' },
        body
      }))
        .then(async (answer) => {
          const answered = Buffer.from(await answer.arrayBuffer())
          await holdAnswer?.(call)
          response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' }).end(answered)
        })
        .catch(() => { response.writeHead(502).end() })
    })
  })
  return { url, calls, twirp }
}

/** A server that accepts connections and never answers (a hung LiveKit): its port, and the connections it took. */
export async function silentServer (t: Test): Promise<{ port: number, sockets: Set<Socket> }> {
  const sockets = new Set<Socket>()
  const silent = createTcpServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const address = silent.address()
  return { port: typeof address === 'object' && address !== null ? address.port : 0, sockets }
}
