import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { AnswerRecord, Source, WebhookRecord } from './chaos-report.js'

/**
 * The load balancer of `npm run chaos`, on loopback, in front of the service's replicas: what an
 * operator runs them behind. It sends each request to the next ready replica (each replica's
 * `/ready` polled), tries another when a connection is refused (and, for GET and DELETE, when one
 * breaks: nginx's `proxy_next_upstream error`), and answers 502 itself when no replica is ready.
 * LiveKit's webhooks come to it too and go on to the replicas the same way, unless they are cut.
 * It records every request it passes (for the report) and the sessions the answers start and end
 * (for the checker).
 */

const WEBHOOK_PATH = '/api/v1/livekit/webhook'
/** How often each replica's /ready is asked, and how long it has to answer. */
export const PROBE_EVERY_MS = 1000
/** A replica leaves the rotation after this many probes in a row failed, and comes back after one success. */
export const PROBE_FAILURES_OUT = 2
/** Headers that belong to one connection, never passed on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer'])
const IDEMPOTENT = new Set(['GET', 'HEAD', 'DELETE', 'PUT', 'OPTIONS'])

/** `GET /api/v1/voice-sessions/{room}/status` for any room: the route, not the URL. */
export function routeOf (method: string, url: string): string {
  const path = url.split('?')[0] ?? ''
  const route = path.replace(/^(\/api\/v1\/voice-sessions\/)(?!start$|active$)[^/]+/, '$1{room}')
  return `${method} ${route}`
}

/** Who sent a request, by its X-Request-Id: the checker's and the witnesses' are marked; the rest are the load test's users. */
export function sourceOf (requestId: string | undefined): Source {
  if (requestId?.startsWith('chaos-check-') === true) return 'check'
  if (requestId?.startsWith('chaos-witness-') === true) return 'witness'
  return 'load'
}

interface Replica {
  origin: URL
  agent: Agent
  ready: boolean
  failures: number
  /** Set when the run SIGKILLed it: requests in flight on it then are cut. */
  killedAt?: number
}

interface Upstream {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

type Tried = { answer: Upstream, replica: Replica } | { error: NodeJS.ErrnoException, replica: Replica }

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}

/** The string field `name` of a JSON body, if it has one. */
function field (body: Buffer, name: string): string | undefined {
  const value = (parseJson(body) as Record<string, unknown> | undefined)?.[name]
  return typeof value === 'string' ? value : undefined
}

async function readBody (message: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of message) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

export class Balancer {
  readonly answers: AnswerRecord[] = []
  readonly webhooks: WebhookRecord[] = []
  /** Rooms a start answered 200 for, with the time; and rooms an end answered 200 for. */
  readonly started = new Map<string, number>()
  readonly ended = new Map<string, number>()
  webhooksCut = false
  url = ''

  private replicas: Replica[] = []
  private next = 0
  private readonly server = createServer((request, response) => { this.handle(request, response).catch(() => { response.destroy() }) })
  private probing: NodeJS.Timeout | undefined
  private readonly now: () => number

  /** `now`: the run's clock, in ms since it began. */
  constructor (now: () => number) {
    this.now = now
  }

  /** Listens on a free loopback port; its base URL is `url` from then on. */
  async listen (): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    this.probing = setInterval(() => { this.probe().catch(() => {}) }, PROBE_EVERY_MS)
  }

  /** Puts a replica (`index`) at `origin` into the rotation: a new one, or one started again after a kill. */
  setReplica (index: number, origin: string): void {
    this.replicas[index]?.agent.destroy()
    this.replicas[index] = { origin: new URL(origin), agent: new Agent({ keepAlive: true, maxSockets: 128 }), ready: true, failures: 0 }
  }

  /** Marks replica `index` as killed now: its requests in flight are cut, and it leaves the rotation. */
  killed (index: number): void {
    const replica = this.replicas[index]
    if (replica === undefined) return
    replica.killedAt = this.now()
    replica.ready = false
  }

  readyCount (): number {
    return this.replicas.filter((replica) => replica.ready).length
  }

  async close (): Promise<void> {
    clearInterval(this.probing)
    for (const replica of this.replicas) replica.agent.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async probe (): Promise<void> {
    await Promise.all(this.replicas.map(async (replica) => {
      if (replica.killedAt !== undefined) return
      const ok = await fetch(new URL('/ready', replica.origin), { signal: AbortSignal.timeout(PROBE_EVERY_MS) })
        .then(async (answer) => { await answer.arrayBuffer(); return answer.ok }, () => false)
      replica.failures = ok ? 0 : replica.failures + 1
      if (ok) replica.ready = true
      else if (replica.failures >= PROBE_FAILURES_OUT) replica.ready = false
    }))
  }

  /** The ready replicas, starting with the next in turn. */
  private rotation (): Replica[] {
    const ready = this.replicas.filter((replica) => replica.ready)
    const first = this.next++ % Math.max(1, ready.length)
    return [...ready.slice(first), ...ready.slice(0, first)]
  }

  private async send (replica: Replica, method: string, url: string, headers: IncomingHttpHeaders, body: Buffer, signal: AbortSignal): Promise<Tried> {
    return await new Promise<Tried>((resolve) => {
      const outgoing = httpRequest({ host: replica.origin.hostname, port: replica.origin.port, method, path: url, headers, agent: replica.agent, signal }, (answer) => {
        readBody(answer).then(
          (answered) => resolve({ answer: { status: answer.statusCode ?? 502, headers: answer.headers, body: answered }, replica }),
          (error: NodeJS.ErrnoException) => resolve({ error, replica })
        )
      })
      outgoing.on('error', (error: NodeJS.ErrnoException) => resolve({ error, replica }))
      outgoing.end(body)
    })
  }

  /**
   * Tries the ready replicas in turn: on to the next one when a connection is refused (the request
   * never arrived) or, for an idempotent method, broke; the first answer wins. Undefined when no
   * replica took the request: none was ready, or each refused the connection.
   */
  private async forward (method: string, url: string, headers: IncomingHttpHeaders, body: Buffer, signal: AbortSignal): Promise<Tried | undefined> {
    let broken: Tried | undefined
    for (const replica of this.rotation()) {
      const tried = await this.send(replica, method, url, headers, body, signal)
      if ('answer' in tried || signal.aborted) return tried
      if (tried.error.code === 'ECONNREFUSED') {
        replica.ready = false
        continue
      }
      broken = tried
      if (!IDEMPOTENT.has(method)) break
    }
    return broken
  }

  private async handle (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const sentAt = this.now()
    const method = request.method ?? 'GET'
    const url = request.url ?? '/'
    const body = await readBody(request)
    const headers: IncomingHttpHeaders = {}
    for (const [name, value] of Object.entries(request.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value
    const webhook = url.split('?')[0] === WEBHOOK_PATH

    if (webhook && this.webhooksCut) {
      // Dropped, and LiveKit told it was delivered: the events are lost, as behind a broken proxy or a mistyped URL.
      this.webhooks.push({ at: sentAt, dropped: true })
      response.writeHead(200).end()
      return
    }

    // The client gave up (its timeout): the request to the replica goes too.
    const abandon = new AbortController()
    response.on('close', () => { if (!response.writableFinished) abandon.abort() })
    const tried = await this.forward(method, url, headers, body, abandon.signal)

    if (webhook) {
      this.webhooks.push({ at: sentAt, dropped: false, status: tried !== undefined && 'answer' in tried ? tried.answer.status : undefined })
      // No replica took it: LiveKit retries a 503.
      if (tried === undefined || !('answer' in tried)) response.writeHead(503).end()
      else response.writeHead(tried.answer.status).end(tried.answer.body)
      return
    }

    const requestId = typeof request.headers['x-request-id'] === 'string' ? request.headers['x-request-id'] : undefined
    const record: AnswerRecord = { sentAt, doneAt: this.now(), source: sourceOf(requestId), route: routeOf(method, url), outcome: 'answered', requestId }
    if (abandon.signal.aborted) {
      this.answers.push({ ...record, outcome: 'abandoned' })
      return
    }
    if (tried === undefined || !('answer' in tried)) {
      const cut = tried !== undefined && tried.replica.killedAt !== undefined && tried.replica.killedAt >= sentAt - 1
      this.answers.push({ ...record, outcome: tried === undefined ? 'no-replica' : cut ? 'cut' : 'upstream-error' })
      const message = tried === undefined ? 'no replica is ready' : `the replica broke the connection (${tried.error.code ?? tried.error.message})`
      response.writeHead(502, { 'content-type': 'application/json', 'x-chaos-balancer': '1' })
        .end(JSON.stringify({ statusCode: 502, error: 'Bad Gateway', message }))
      return
    }

    const { answer } = tried
    this.answers.push({ ...record, status: answer.status, retryAfter: answer.headers['retry-after'] !== undefined, message: answer.status >= 400 ? field(answer.body, 'message') : undefined })
    this.remember(record.route, url, answer)
    const passed: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) passed[name] = value
    response.writeHead(answer.status, passed).end(answer.body)
  }

  /** The sessions the answers start and end, for the checker and the census. */
  private remember (route: string, url: string, answer: Upstream): void {
    if (answer.status !== 200) return
    if (route === 'POST /api/v1/voice-sessions/start') {
      const room = field(answer.body, 'room_name')
      if (room !== undefined) this.started.set(room, this.now())
    } else if (route === 'DELETE /api/v1/voice-sessions/{room}') {
      const room = decodeURIComponent(url.split('?')[0]?.split('/').pop() ?? '')
      this.ended.set(room, this.now())
    }
  }
}
