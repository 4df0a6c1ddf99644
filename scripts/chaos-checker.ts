import { setTimeout as sleep } from 'node:timers/promises'
import { ParticipantInfo_Kind as Kind } from '@livekit/protocol'
import { ParticipantInfo_State as State, RoomServiceClient } from 'livekit-server-sdk'
import { mapLimited } from '#ops/map-limited.js'
import { ROOM_NAME_PREFIX } from '#sessions/room-name.js'
import type { Census, Disagreement } from './chaos-report.js'

/**
 * The checker of `npm run chaos`: every round it reads LiveKit, then asks the service (through the
 * balancer, as each session's owner) every live session's `status` and each owner's `active`, and
 * judges those answers against LiveKit's reads before and after them (see `compare`). It times how
 * long each disagreement lasts, and takes the census that finds lost sessions.
 */

/** One room as LiveKit has it: its SID, the people in it (app users, phone callers) and whether an agent is. */
export interface LivekitRoom {
  sid: string
  people: number
  agent: boolean
}

/** Who a room holds before LiveKit has it, or once it has gone. */
const EMPTY_ROOM: Omit<LivekitRoom, 'sid'> = { people: 0, agent: false }

/** LiveKit's rooms of the run at one moment. */
export type LivekitView = Map<string, LivekitRoom>

/** What the service answered about one session, in `status` or in its owner's `active`. */
export interface SessionAnswer {
  via: 'status' | 'active'
  room: string
  /** Whether the answer says the session lives (status 200, or listed by active). */
  exists: boolean
  people?: number
  agent?: boolean
  /** When it was asked (ms since the run began). */
  at: number
}

/** One aspect of one session, judged: `status: agent_connected` of a room agrees with LiveKit, or not. */
export interface Comparison {
  key: string
  what: string
  room: string
  agrees: boolean
  at: number
}

/**
 * Judges answers against LiveKit read before (`before`) and after (`after`) them: an answer agrees
 * when it matches either read, since LiveKit may have changed between them. A session the answer
 * says is gone disagrees only when both reads hold it; one it says lives, only when neither does.
 */
export function compare (answers: readonly SessionAnswer[], before: LivekitView, after: LivekitView): Comparison[] {
  const result: Comparison[] = []
  for (const answer of answers) {
    const seen = [before.get(answer.room), after.get(answer.room)].filter((room): room is LivekitRoom => room !== undefined)
    const push = (aspect: string, agrees: boolean) => result.push({ key: `${answer.room}|${answer.via}:${aspect}`, what: `${answer.via}: ${aspect}`, room: answer.room, agrees, at: answer.at })
    if (!answer.exists) {
      push('session', seen.length < 2)
      continue
    }
    push('session', seen.length > 0)
    if (seen.length === 0) continue
    // A room not there yet, or gone already, held no one: an answer from then agrees with that.
    const held = [before.get(answer.room) ?? EMPTY_ROOM, after.get(answer.room) ?? EMPTY_ROOM]
    if (answer.people !== undefined) push('participants', held.some((room) => room.people === answer.people))
    if (answer.agent !== undefined) push(answer.via === 'status' ? 'agent_connected' : 'agent_state', held.some((room) => room.agent === answer.agent))
  }
  return result
}

/** `room|status` of the key `room|status:agent_connected`: the room as one route answered of it. */
const groupOf = (key: string): string => key.slice(0, key.lastIndexOf(':'))

/** Times disagreements: each opens at the first comparison that disagrees and closes at the first of the same key that agrees. */
export class DisagreementClock {
  readonly closed: Disagreement[] = []
  private readonly open = new Map<string, { what: string, room: string, from: number }>()

  /**
   * One round's comparisons. An aspect that no longer applies (the agent of a room now answered
   * 404) ends its disagreement when the same room is next judged through the same route.
   */
  observe (comparisons: readonly Comparison[]): void {
    const judged = new Map(comparisons.map((comparison) => [groupOf(comparison.key), comparison.at]))
    const keys = new Set(comparisons.map((comparison) => comparison.key))
    for (const [key, open] of this.open) {
      const at = judged.get(groupOf(key))
      if (at === undefined || keys.has(key)) continue
      this.closed.push({ ...open, to: at, open: false })
      this.open.delete(key)
    }
    for (const comparison of comparisons) {
      const open = this.open.get(comparison.key)
      if (!comparison.agrees && open === undefined) this.open.set(comparison.key, { what: comparison.what, room: comparison.room, from: comparison.at })
      if (comparison.agrees && open !== undefined) {
        this.closed.push({ ...open, to: comparison.at, open: false })
        this.open.delete(comparison.key)
      }
    }
  }

  /** Closes, at `at`, what is open for rooms no longer asked about: ended, and gone from LiveKit, nothing of them can disagree. */
  forget (asked: ReadonlySet<string>, at: number): void {
    for (const [key, open] of this.open) {
      if (asked.has(open.room)) continue
      this.closed.push({ ...open, to: at, open: false })
      this.open.delete(key)
    }
  }

  /** Closes what is still open at `at`, marked open: it lasted at least this long. */
  finish (at: number): void {
    for (const open of this.open.values()) this.closed.push({ ...open, to: at, open: true })
    this.open.clear()
  }
}

/** The user a session room belongs to, from its name: `fitness-voice-{user}-{8 hex}`. */
export function ownerOf (room: string): string {
  return room.slice(ROOM_NAME_PREFIX.length, -'-01234567'.length)
}

/** A person, as `participants` counts them: an app user or a phone caller (never an agent, recorder or ingress). */
const isPerson = (kind: Kind): boolean => kind === Kind.STANDARD || kind === Kind.SIP

export interface CheckerOptions {
  livekit: { url: string, apiKey: string, apiSecret: string }
  /** Where the service is: the balancer. */
  serviceUrl: string
  /** Every room of the run starts with this. */
  roomPrefix: string
  tokenFor: (sub: string) => string
  /** The rooms whose start was answered 200 (with when), and those whose end was (DELETE 200). */
  started: ReadonlyMap<string, number>
  ended: ReadonlyMap<string, number>
  now: () => number
  everyMs: number
}

/** The longest one LiveKit call of the checker may take: a stalled LiveKit leaves a round unjudged, not hung. */
const LIVEKIT_TIMEOUT_SECONDS = 2
/** The longest one request of the checker may take: the load test's own timeout. */
const REQUEST_TIMEOUT_MS = 10_000
/** Calls of one round in flight at once, to LiveKit and to the service. */
const AT_ONCE = 8
/** A census retries an owner's `active` this often when it is not answered 200, this far apart. */
const CENSUS_TRIES = 10
const CENSUS_PAUSE_MS = 1000

export class Checker {
  readonly clock = new DisagreementClock()
  /** Room SIDs LiveKit reported, to name the rooms of the worker's job requests. */
  readonly sids = new Map<string, string>()
  /** The last time LiveKit listed each room. */
  readonly lastLive = new Map<string, number>()
  /** The time between the starts of each two judged rounds in a row: how finely a disagreement is timed. */
  readonly roundGapsMs: number[] = []
  private readonly rooms: RoomServiceClient
  private readonly options: CheckerOptions
  /** Rooms found gone on both sides (status 404, LiveKit without them): no longer asked about. */
  private readonly settled = new Set<string>()
  private requests = 0
  private stopped = false
  private loop: Promise<void> | undefined

  constructor (options: CheckerOptions) {
    this.options = options
    this.rooms = new RoomServiceClient(options.livekit.url, options.livekit.apiKey, options.livekit.apiSecret, { requestTimeout: LIVEKIT_TIMEOUT_SECONDS })
  }

  start (): void {
    this.loop = this.run()
  }

  /** Stops the rounds; a disagreement still open is closed at this moment, marked open. */
  async stop (): Promise<void> {
    this.stopped = true
    await this.loop
    this.clock.finish(this.options.now())
  }

  /** The run's rooms in LiveKit with who is in them, or undefined when LiveKit did not answer in time. */
  async readLivekit (): Promise<LivekitView | undefined> {
    try {
      const listed = (await this.rooms.listRooms()).filter((room) => room.name.startsWith(this.options.roomPrefix))
      const view: LivekitView = new Map()
      const at = this.options.now()
      await mapLimited(listed, AT_ONCE, async (room) => {
        // In the room once ACTIVE, as participant_joined says (src/sessions/room-presence.ts).
        const participants = (await this.rooms.listParticipants(room.name)).filter((p) => p.state === State.ACTIVE)
        view.set(room.name, { sid: room.sid, people: participants.filter((p) => isPerson(p.kind)).length, agent: participants.some((p) => p.kind === Kind.AGENT) })
        this.sids.set(room.sid, room.name)
        this.lastLive.set(room.name, at)
      })
      return view
    } catch {
      return undefined
    }
  }

  /** A GET through the balancer as `sub`: its status and JSON body, or undefined when it got no answer. */
  private async get (sub: string, path: string): Promise<{ status: number, body: unknown } | undefined> {
    try {
      const response = await fetch(`${this.options.serviceUrl}${path}`, {
        headers: { authorization: `Bearer ${this.options.tokenFor(sub)}`, 'x-request-id': `chaos-check-${++this.requests}` },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
      const text = await response.text()
      let body: unknown
      try { body = JSON.parse(text) } catch {}
      return { status: response.status, body }
    } catch {
      return undefined
    }
  }

  /** The rooms to ask about: those LiveKit holds, and those started and not ended that are not settled gone. */
  private roomsToCheck (view: LivekitView): string[] {
    const rooms = new Set(view.keys())
    for (const room of this.options.started.keys()) if (!this.options.ended.has(room) && !this.settled.has(room)) rooms.add(room)
    return [...rooms]
  }

  /** `status` of each room and `active` of each owner: the answers that could be judged, and when they were asked. */
  private async askService (rooms: string[]): Promise<SessionAnswer[]> {
    const answers: SessionAnswer[] = []
    await mapLimited(rooms, AT_ONCE, async (room) => {
      const at = this.options.now()
      const answer = await this.get(ownerOf(room), `/api/v1/voice-sessions/${encodeURIComponent(room)}/status`)
      if (answer?.status === 404) answers.push({ via: 'status', room, exists: false, at })
      if (answer?.status !== 200) return
      const body = answer.body as { participants?: number, agent_connected?: boolean }
      answers.push({ via: 'status', room, exists: true, people: body.participants, agent: body.agent_connected, at })
    })
    const owners = [...new Set(rooms.map(ownerOf))]
    await mapLimited(owners, AT_ONCE, async (owner) => {
      const at = this.options.now()
      const answer = await this.get(owner, '/api/v1/voice-sessions/active')
      if (answer?.status !== 200) return
      const listed = new Map(((answer.body as { sessions?: Array<{ room_name: string, participants: number, agent_state: string }> }).sessions ?? [])
        .map((session) => [session.room_name, session]))
      // Every room of this owner that either side knows of.
      const theirs = new Set([...rooms.filter((room) => ownerOf(room) === owner), ...listed.keys()])
      for (const room of theirs) {
        const session = listed.get(room)
        answers.push(session === undefined
          ? { via: 'active', room, exists: false, at }
          : { via: 'active', room, exists: true, people: session.participants, agent: session.agent_state === 'connected', at })
      }
    })
    return answers
  }

  private async run (): Promise<void> {
    let before = await this.readLivekit()
    let lastJudged: number | undefined
    while (!this.stopped) {
      const began = performance.now()
      const rooms = before === undefined ? undefined : this.roomsToCheck(before)
      const asked = rooms === undefined ? [] : await this.askService(rooms)
      const after = await this.readLivekit()
      if (rooms !== undefined && before !== undefined && after !== undefined) {
        this.clock.observe(compare(asked, before, after))
        this.clock.forget(new Set(rooms), this.options.now())
        if (lastJudged !== undefined) this.roundGapsMs.push(began - lastJudged)
        lastJudged = began
        for (const answer of asked) if (answer.via === 'status' && !answer.exists && !before.has(answer.room) && !after.has(answer.room)) this.settled.add(answer.room)
      }
      before = after
      const wait = this.options.everyMs - (performance.now() - began)
      if (wait > 0 && !this.stopped) await sleep(wait)
    }
  }

  /**
   * Which rooms of the run LiveKit holds (before and after) that their owner's `active` does not
   * list, and which it lists that LiveKit does not hold. An owner whose `active` is never answered
   * 200 counts each of its rooms as not listed.
   */
  async census (): Promise<Census> {
    const before = await this.readLivekitPatiently()
    const owners = [...new Set([...before.keys()].map(ownerOf))]
    const listedBy = new Map<string, Set<string>>()
    await mapLimited(owners, AT_ONCE, async (owner) => {
      for (let attempt = 0; attempt < CENSUS_TRIES; attempt++) {
        const answer = await this.get(owner, '/api/v1/voice-sessions/active')
        if (answer?.status === 200) {
          listedBy.set(owner, new Set(((answer.body as { sessions?: Array<{ room_name: string }> }).sessions ?? []).map((s) => s.room_name)))
          return
        }
        await sleep(CENSUS_PAUSE_MS)
      }
    })
    const after = await this.readLivekitPatiently()
    const census: Census = { lost: [], outlived: [], orphans: [], ghosts: [] }
    for (const room of before.keys()) {
      if (!after.has(room) || listedBy.get(ownerOf(room))?.has(room) === true) continue
      if (this.options.ended.has(room)) census.outlived.push(room)
      else if (this.options.started.has(room)) census.lost.push(room)
      else census.orphans.push(room)
    }
    for (const listed of listedBy.values()) {
      for (const room of listed) if (!before.has(room) && !after.has(room)) census.ghosts.push(room)
    }
    return census
  }

  /** LiveKit's view, read again until it answers (a census comes after the fault is undone). */
  private async readLivekitPatiently (): Promise<LivekitView> {
    for (let attempt = 0; attempt < CENSUS_TRIES; attempt++) {
      const view = await this.readLivekit()
      if (view !== undefined) return view
      await sleep(CENSUS_PAUSE_MS)
    }
    throw new Error(`LiveKit did not answer the census's ListRooms ${CENSUS_TRIES} times in a row`)
  }
}
