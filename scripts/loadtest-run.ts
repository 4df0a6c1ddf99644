import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { mapLimited } from '#ops/map-limited.js'
import { ROUTES, RouteStats, type RouteKey, type SessionCounts } from './loadtest-report.js'

/**
 * The load of `npm run loadtest`: virtual users, each a distinct user of the service, who start a
 * voice session, poll its status every 2 s, list their active sessions once, end the session and
 * start again, until the run's time is up; then the clean-up, which ends whatever is still live
 * and checks with GET /active, user by user, that nothing is left.
 *
 * The users are paced by the clock, not by the answers. autocannon (used by `npm run bench`) is not:
 * each connection sends its next request as soon as the last is answered, its pacing is whole
 * requests per second per connection (a `connectionRate` under 1 still sends one a second), a
 * timeout moves a connection on to its next request (a status poll after a start that got no
 * answer), and its latencies are not told apart by route. So the requests go through an undici
 * pool (keep-alive connections shared by the users, at most 256), timed here.
 */

/** How often a user polls its session's status, as an app's backend would. */
export const POLL_INTERVAL_MS = 2000
/** The longest one request may take, answer read; above the service's LIVEKIT_REQUEST_TIMEOUT_MS (5 s) so that its own 504 shows first. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Connections to the service for the load (the clean-up's come on top). */
const MAX_CONNECTIONS = 256
/** Requests the clean-up and the check have in flight at once. */
export const CLEANUP_CONCURRENCY = 8
/** The longest the clean-up and the check take together; what is not done by then is reported as not checked. */
export const CLEANUP_BUDGET_MS = 60_000
/** Rounds of the check: GET /active per user, ending what it lists, until a round lists nothing. */
const CHECK_ROUNDS = 3
/** The pause between two rounds of the check. */
const CHECK_PAUSE_MS = 1000
/** The wait after a 429 without Retry-After (a session cap) or a start that failed, before the user tries again. */
const RETRY_WITHOUT_HINT_MS = 5000
/** The longest a user honours a Retry-After. */
const MAX_RETRY_AFTER_MS = 60_000

export interface LoadPlan {
  /** The service's base URL (origin and an optional path prefix, no trailing slash). */
  url: URL
  users: number
  durationMs: number
  sessionMs: number
  runId: string
  /** A user JWT for `sub`, as the service checks them. */
  tokenFor: (sub: string) => string
}

interface VirtualUser {
  sub: string
  authorization: string
  /** Rooms started and not yet known to be ended. */
  live: Set<string>
  /** Whether it ever sent a start: only those users' sessions need checking. */
  started: boolean
  requests: number
}

type Outcome =
  | { answered: true, status: number, body: unknown, retryAfterMs: number | undefined }
  | { answered: false }

export class LoadTest {
  readonly stats = Object.fromEntries(Object.keys(ROUTES).map((key) => [key, new RouteStats()])) as Record<RouteKey, RouteStats>
  readonly sessions: SessionCounts = {
    started: 0,
    endedByUsers: 0,
    endedByCleanup: 0,
    goneBeforeEnd: 0,
    foundByCheck: 0,
    leftBehind: [],
    usersChecked: 0,
    usersUnchecked: 0
  }

  interrupted: NodeJS.Signals | undefined
  /** Seconds from the start of the load to the last user's last answer (the clean-up excluded). */
  loadSeconds = 0

  private readonly plan: LoadPlan
  private readonly pool: Pool
  private readonly prefix: string
  private readonly users: VirtualUser[]
  /** Aborted on an interruption: every wait of the users ends at once. */
  private readonly stopped = new AbortController()
  private phase: 'load' | 'clean-up' | 'done' = 'load'

  constructor (plan: LoadPlan) {
    this.plan = plan
    // Every waiting user listens to it.
    setMaxListeners(0, this.stopped.signal)
    this.prefix = plan.url.pathname.replace(/\/+$/, '')
    this.pool = new Pool(plan.url.origin, {
      // Users share keep-alive connections as an app's backend would; more would only add sockets.
      connections: Math.min(plan.users, MAX_CONNECTIONS) + CLEANUP_CONCURRENCY,
      connectTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS
    })
    this.users = Array.from({ length: plan.users }, (_, n) => {
      const sub = `loadtest-${plan.runId}-${n}`
      return { sub, authorization: `Bearer ${plan.tokenFor(sub)}`, live: new Set<string>(), started: false, requests: 0 }
    })
  }

  /** Checks, before any load, that the service answers and takes the script's JWTs; a sentence saying why not, or undefined. */
  async preflight (): Promise<string | undefined> {
    const user = this.users[0]!
    try {
      const response = await this.pool.request({
        path: `${this.prefix}${ROUTES.active.path}`,
        method: 'GET',
        headers: { authorization: user.authorization, 'x-request-id': `${user.sub}-preflight` },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
      const text = await response.body.text()
      if (response.statusCode === 200) return undefined
      const message = messageOf(text)
      if (response.statusCode === 401) {
        return `the service refused the script's user JWT (401${message}): sign them with the service's JWT_SECRET, and set JWT_AUDIENCE and JWT_ISSUER as it checks them`
      }
      if (response.statusCode === 404) return `no voice-session API at ${this.plan.url.href} (GET ${ROUTES.active.path} answered 404)`
      return `GET ${ROUTES.active.path} answered ${response.statusCode}${message} before any load`
    } catch (err) {
      return `cannot reach ${this.plan.url.href}: ${describeError(err)}`
    }
  }

  /** Stops the load at once: no user sends another request; those in flight finish (their timeout bounds them); then the clean-up. */
  interrupt (signal: NodeJS.Signals): void {
    this.interrupted ??= signal
    this.stopped.abort()
  }

  /** The load, then the clean-up and the check. Resolves when both are done; never rejects. */
  async run (): Promise<void> {
    const began = performance.now()
    const loadEnd = began + this.plan.durationMs
    // Users come in over the first session length (or half the run, if shorter), so that starts and polls are spread.
    const ramp = Math.min(this.plan.sessionMs, this.plan.durationMs / 2)
    await Promise.all(this.users.map(async (user, n) => await this.virtualUser(user, began + (n * ramp) / this.plan.users, loadEnd)))
    this.loadSeconds = (performance.now() - began) / 1000
    this.phase = 'clean-up'
    await this.cleanUp()
    this.phase = 'done'
    await this.pool.close().catch(() => {})
  }

  /** Sessions started and not known to be ended: what may be left behind if the script stopped now. */
  possiblyLeft (): string[] {
    return this.users.flatMap((user) => [...user.live])
  }

  /** One line on how the run goes, for a progress line. */
  progress (elapsedMs: number): string {
    let answers = 0
    let failures = 0
    for (const stats of Object.values(this.stats)) {
      answers += stats.latency.count
      failures += stats.connectionErrors + stats.timeouts
      for (const [status, count] of stats.statuses) if (status >= 500) failures += count
    }
    const live = this.users.reduce((sum, user) => sum + user.live.size, 0)
    return `${(elapsedMs / 1000).toFixed(0)} s, ${this.phase}: ${answers} answers, ${live} live sessions, ${this.sessions.started} started, ${failures} 5xx or unanswered`
  }

  /**
   * One user until `loadEnd`: start, poll every 2 s for the session's length, list, end, again.
   * When the run's time is up, a session ends at its next poll, so that the ends are spread as the
   * polls are; on an interruption the user stops at once and the clean-up ends its session.
   */
  private async virtualUser (user: VirtualUser, startAt: number, loadEnd: number): Promise<void> {
    if (startAt >= loadEnd || !await this.pauseUntil(startAt)) return
    while (performance.now() < loadEnd && this.interrupted === undefined) {
      user.started = true
      const started = await this.call('start', user, { body: { agent_type: 'general' } })
      const room = started.answered && started.status === 200 ? roomOf(started.body) : undefined
      if (room === undefined) {
        // Refused (a limit) or failed: a real client waits before it tries again.
        const wait = started.answered && started.status === 429 ? started.retryAfterMs ?? RETRY_WITHOUT_HINT_MS : RETRY_WITHOUT_HINT_MS
        const again = performance.now() + Math.min(wait, MAX_RETRY_AFTER_MS)
        if (again >= loadEnd || !await this.pauseUntil(again)) return
        continue
      }
      this.sessions.started++
      user.live.add(room)
      const since = performance.now()
      // Its length, or until the time of its first poll after the run's end; polled every 2 s before that.
      const length = Math.min(this.plan.sessionMs, Math.max(0, Math.ceil((loadEnd - since) / POLL_INTERVAL_MS)) * POLL_INTERVAL_MS)
      let gone = false
      for (let poll = 1; poll * POLL_INTERVAL_MS < length; poll++) {
        if (!await this.pauseUntil(since + poll * POLL_INTERVAL_MS)) return
        const status = await this.call('status', user, { room })
        if (status.answered && status.status === 404) { gone = true; break }
      }
      if (gone) {
        user.live.delete(room)
        this.sessions.goneBeforeEnd++
        continue
      }
      if (!await this.pauseUntil(since + length)) return
      await this.call('active', user)
      if (this.interrupted !== undefined) return
      const ended = await this.call('end', user, { room })
      if (ended.answered && ended.status === 200) {
        user.live.delete(room)
        this.sessions.endedByUsers++
      } else if (ended.answered && ended.status === 404) {
        user.live.delete(room)
        this.sessions.goneBeforeEnd++
      }
      // Any other answer leaves the room in `live`: the clean-up ends it.
    }
  }

  /** Waits until `at` (a performance.now() time); false, at once, on an interruption. */
  private async pauseUntil (at: number): Promise<boolean> {
    if (this.stopped.signal.aborted) return false
    const wait = at - performance.now()
    if (wait <= 0) return true
    try {
      await sleep(wait, undefined, { signal: this.stopped.signal })
      return true
    } catch {
      return false
    }
  }

  /**
   * Ends every session still known live (DELETE), then checks each user that started anything
   * with GET /active: what it lists is ended and the user checked again, until a check lists
   * nothing. At most CHECK_ROUNDS rounds and CLEANUP_BUDGET_MS in all; a user never seen with
   * nothing listed counts as not checked, and its sessions still known live as left behind.
   */
  private async cleanUp (): Promise<void> {
    const until = performance.now() + CLEANUP_BUDGET_MS
    const inTime = () => performance.now() < until
    const end = async (user: VirtualUser, room: string): Promise<void> => {
      if (!inTime()) return
      const ended = await this.call('cleanup_end', user, { room })
      if (!ended.answered || (ended.status !== 200 && ended.status !== 404)) return
      user.live.delete(room)
      if (ended.status === 200) this.sessions.endedByCleanup++
      else this.sessions.goneBeforeEnd++
    }
    const known = this.users.flatMap((user) => [...user.live].map((room) => ({ user, room })))
    await mapLimited(known, CLEANUP_CONCURRENCY, async ({ user, room }) => { await end(user, room) })

    let pending = this.users.filter((user) => user.started)
    for (let round = 0; round < CHECK_ROUNDS && pending.length > 0 && inTime(); round++) {
      // A check that got no answer, or a 429, is tried again a moment later.
      if (round > 0) await sleep(CHECK_PAUSE_MS)
      const again: VirtualUser[] = []
      await mapLimited(pending, CLEANUP_CONCURRENCY, async (user) => {
        const checked = inTime() ? await this.call('check', user) : undefined
        const rooms = checked?.answered === true && checked.status === 200 ? roomsOf(checked.body) : undefined
        if (rooms === undefined) { again.push(user); return }
        if (rooms.length === 0) {
          // Rooms it still counted live are gone without a DELETE that said so (one that timed out).
          this.sessions.goneBeforeEnd += user.live.size
          user.live.clear()
          this.sessions.usersChecked++
          return
        }
        for (const room of rooms) {
          // A session the script never heard of: the answer to its start was lost.
          if (!user.live.has(room)) { this.sessions.foundByCheck++; user.live.add(room) }
          await end(user, room)
        }
        again.push(user)
      })
      pending = again
    }
    this.sessions.usersUnchecked = pending.length
    this.sessions.leftBehind = pending.flatMap((user) => [...user.live])
  }

  /** One request of `route` (its method and path, for `room`), counted under it: its answer (status, JSON body, Retry-After) or that none came. */
  private async call (route: RouteKey, user: VirtualUser, { room = '', body }: { room?: string, body?: object } = {}): Promise<Outcome> {
    const { method, path } = ROUTES[route]
    const stats = this.stats[route]
    stats.requests++
    const requestId = `${user.sub}-${++user.requests}`
    const began = performance.now()
    try {
      const response = await this.pool.request({
        path: `${this.prefix}${path.replace('{room}', encodeURIComponent(room))}`,
        method,
        headers: {
          authorization: user.authorization,
          'x-request-id': requestId,
          ...(body === undefined ? {} : { 'content-type': 'application/json' })
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
      const text = await response.body.text()
      const ms = performance.now() - began
      stats.answered(response.statusCode, ms)
      if (response.statusCode >= 300 && response.statusCode !== 429) {
        stats.sample(`${response.statusCode} to ${requestId}${messageOf(text)}`)
      }
      const retryAfter = Number(response.headers['retry-after'])
      return {
        answered: true,
        status: response.statusCode,
        body: parseJson(text),
        retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined
      }
    } catch (err) {
      if (isTimeout(err)) stats.timeouts++
      else stats.connectionErrors++
      stats.sample(`no answer to ${requestId}: ${describeError(err)}`)
      return { answered: false }
    }
  }
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** `: <message>` from the service's error body, or nothing. */
function messageOf (text: string): string {
  const body = parseJson(text) as { message?: unknown } | undefined
  return typeof body?.message === 'string' ? `: ${body.message}` : ''
}

function roomOf (body: unknown): string | undefined {
  const room = (body as { room_name?: unknown } | undefined)?.room_name
  return typeof room === 'string' && room !== '' ? room : undefined
}

function roomsOf (body: unknown): string[] | undefined {
  const sessions = (body as { sessions?: unknown } | undefined)?.sessions
  if (!Array.isArray(sessions)) return undefined
  return sessions.map(roomOf).filter((room): room is string => room !== undefined)
}

function isTimeout (err: unknown): boolean {
  const { name, code } = err as { name?: string, code?: string }
  return name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
}

export function describeError (err: unknown): string {
  const { message, code, cause } = err as { message?: string, code?: string, cause?: { code?: string, message?: string } }
  const detail = code ?? cause?.code
  return `${message ?? String(err)}${detail !== undefined && !(message ?? '').includes(detail) ? ` (${detail})` : ''}`
}
