import { JobStatus } from '@livekit/protocol'
import type { FastifyBaseLogger } from 'fastify'
import { RoomAgentDispatch, type AgentDispatch as LivekitAgentDispatch } from 'livekit-server-sdk'
import { AGENT_TYPES, isAgentType, type AgentType } from './agent-types.js'
import type { Config } from '../config.js'
import type { DispatchLedger } from './ledger.js'
import { createMemoryDispatchLedger } from './memory-ledger.js'
import type { Livekit } from '#livekit/livekit.js'
import { presenceOf, type RoomPresence } from '#sessions/room-presence.js'

/** Where a session's voice agent is, as `status` reports it. */
export const AGENT_STATES = ['connected', 'dispatching', 'missing', 'none'] as const
export type AgentState = typeof AGENT_STATES[number]

/** What the agent's job receives as `ctx.job.metadata` (JSON). */
export interface DispatchMetadata {
  user_id: string
  agent_type: AgentType
  room_name: string
}

/**
 * How long LiveKit may take to list the job of a dispatch that a worker took. livekit-server 1.13
 * places a job only once it has asked every node which agents are registered (5 s, after a worker
 * registers and once a minute) and a worker accepted it (up to 4 s more). Measured: the job listed
 * 0.2 s after the dispatch with that answer cached, 5 s without, while its agent joined after
 * 0.5-2 s. A dispatch without a job is lost only once it is older than this.
 */
export const JOB_LISTING_MS = 10_000

/**
 * How long the agent of a listed job may take to join: the agents library gives a job process 10 s
 * to start. livekit-server 1.13 never marks a job ended in the dispatch list (its job stays
 * `running` after its worker died), so a job older than this whose agent is not in the room is over.
 */
export const AGENT_START_MS = 15_000

type DispatchConfig = Pick<Config, 'LIVEKIT_AGENT_NAME' | 'LIVEKIT_AGENT_NAMES' | 'AGENT_JOIN_TIMEOUT_MS' | 'AGENT_DISPATCH_ATTEMPTS'>

/**
 * How long a room's dispatch claim lasts unless renewed. Its watch renews it on every look, and
 * between two renewals at most AGENT_JOIN_TIMEOUT_MS passes and two LiveKit calls (each bounded by
 * LIVEKIT_REQUEST_TIMEOUT_MS) are made: the claim lasts two such cycles, so a slow look does not
 * lose it, and a replica that died holding it holds its room up no longer than that.
 */
export function dispatchClaimTtlMs (config: Pick<Config, 'AGENT_JOIN_TIMEOUT_MS' | 'LIVEKIT_REQUEST_TIMEOUT_MS'>): number {
  return 2 * (config.AGENT_JOIN_TIMEOUT_MS + 2 * config.LIVEKIT_REQUEST_TIMEOUT_MS)
}

const CLAIM_LOST = 'agent watch: its claim on the room lapsed (another watch may hold it now); stopping'

/** `workout=coach-agent,diet=diet-agent` as a map; a type named twice keeps its last name. */
export function parseAgentNames (value: string): Partial<Record<AgentType, string>> {
  const names: Partial<Record<AgentType, string>> = {}
  for (const pair of value.split(',')) {
    const [type, name] = pair.split('=').map((part) => part.trim())
    if (isAgentType(type) && name !== undefined && name !== '') names[type] = name
  }
  return names
}

const msOf = (nanoseconds: bigint | undefined): number => Number((nanoseconds ?? 0n) / 1_000_000n)

/**
 * Whether one of a room's dispatches may still bring its agent (which is not in the room): LiveKit
 * may still be placing a young dispatch that has no job, or the agent of a young pending or running
 * job may still be starting. Otherwise every dispatch is lost: it got no job (no worker was
 * registered or free), or its job is over. Ages come from LiveKit's timestamps.
 */
export function agentMayStillCome (dispatches: readonly LivekitAgentDispatch[], nowMs: number, windows: { listingMs: number, startMs: number }): boolean {
  return dispatches.some((dispatch) => {
    const createdAtMs = msOf(dispatch.state?.createdAt)
    const jobs = dispatch.state?.jobs ?? []
    if (jobs.length === 0) return nowMs - createdAtMs < windows.listingMs
    return jobs.some((job) => {
      const status = job.state?.status ?? JobStatus.JS_PENDING
      if (status !== JobStatus.JS_PENDING && status !== JobStatus.JS_RUNNING) return false
      const startedAtMs = msOf(job.state?.startedAt)
      return nowMs - (startedAtMs > 0 ? startedAtMs : createdAtMs) < windows.startMs
    })
  })
}

interface Watch {
  /** The fence of the room's claim that this watch holds. */
  fence: number
  timer?: NodeJS.Timeout
  stopped: boolean
}

/**
 * Which agent serves which agent type, and the watch that notices an agent that never came:
 * LiveKit drops dispatches when no worker is free or registered, and retries none of them.
 * A session is watched from its start until its agent joins; after that, `status` reading the
 * room is what notices an agent that left while its user stays. A session whose agent is in
 * the room costs nothing more.
 *
 * One watch per room, whoever starts it (the session's start, any number of `status` calls at
 * once, on any replica): it holds the room's claim in the `ledger`, renews it on every look and
 * again just before a dispatch, and stops when it finds the claim lost, so a watch that outlived
 * its claim never dispatches beside the one that took it over. A replica never starts a second
 * watch for a room it watches. A watch dispatches again only when LiveKit lists every dispatch of
 * the room as lost, so a slow agent is waited for, never doubled.
 */
export function createAgentDispatch ({ livekit, config, log, ledger = createMemoryDispatchLedger(), onDispatch = () => {} }: {
  livekit: Livekit
  config: DispatchConfig
  log: FastifyBaseLogger
  ledger?: DispatchLedger
  /** A dispatch made again by a watch, or one that failed (for metrics). */
  onDispatch?: (outcome: 'again' | 'failed') => void
}) {
  const overrides = parseAgentNames(config.LIVEKIT_AGENT_NAMES)
  /** The watches this replica runs, by room. */
  const watches = new Map<string, Watch>()
  let closed = false
  const windows = {
    listingMs: Math.max(config.AGENT_JOIN_TIMEOUT_MS, JOB_LISTING_MS),
    startMs: Math.max(config.AGENT_JOIN_TIMEOUT_MS, AGENT_START_MS)
  }
  /** After this long without an agent, every dispatch has been tried: the agent is missing. */
  const giveUpAfterMs = windows.listingMs * config.AGENT_DISPATCH_ATTEMPTS

  function agentNameFor (agentType: AgentType): string | undefined {
    const name = overrides[agentType] ?? config.LIVEKIT_AGENT_NAME
    return name === '' ? undefined : name
  }

  /** The agent type a configured agent name serves (`general` for the default agent), or undefined. */
  function agentTypeServedBy (agentName: string): AgentType | undefined {
    if (agentName === '') return undefined
    if (agentName === config.LIVEKIT_AGENT_NAME) return 'general'
    return AGENT_TYPES.find((type) => overrides[type] === agentName)
  }

  /** The dispatch to put into `createRoom`, so the agent comes with the room. */
  function roomDispatches (agentType: AgentType, metadata: DispatchMetadata): RoomAgentDispatch[] {
    const agentName = agentNameFor(agentType)
    return agentName === undefined ? [] : [new RoomAgentDispatch({ agentName, metadata: JSON.stringify(metadata) })]
  }

  /**
   * One look at the room by the holder of its claim: whether to look again later, or that the claim
   * was lost. The claim is renewed first, and checked again after the reads (which may have outlasted
   * it), just before counting and making a dispatch. Never counts a failed read; counts a failed
   * dispatch once (LiveKit may have made it all the same).
   */
  async function look (session: DispatchMetadata, agentName: string, watch: Watch): Promise<'again' | 'done' | 'lost'> {
    const roomName = session.room_name
    if (!await ledger.renew(roomName, watch.fence)) return 'lost'
    let dispatches: LivekitAgentDispatch[]
    try {
      const [rooms, participants] = await Promise.all([livekit.rooms.listRooms([roomName]), livekit.rooms.listParticipants(roomName)])
      // An ended session is never dispatched into: that would bring its room back.
      if (rooms.length === 0) {
        await ledger.forget(roomName)
        return 'done'
      }
      if (presenceOf(participants).agentConnected) return 'done'
      dispatches = await livekit.agentDispatch.listDispatch(roomName)
    } catch (err) {
      log.warn({ err, room: roomName }, 'agent watch: reading the room from LiveKit failed; looking again later')
      return 'again'
    }
    if (watch.stopped) return 'done'
    if (agentMayStillCome(dispatches.filter((dispatch) => dispatch.agentName === agentName), Date.now(), windows)) return 'again'
    if (!await ledger.renew(roomName, watch.fence)) return 'lost'
    if (watch.stopped) return 'done'
    const number = await ledger.countDispatchBelow(roomName, config.AGENT_DISPATCH_ATTEMPTS)
    if (number === undefined) {
      log.warn({ room: roomName, agent: agentName, dispatches: config.AGENT_DISPATCH_ATTEMPTS }, 'voice agent missing: no dispatch was answered')
      return 'done'
    }
    if (watch.stopped) return 'done'
    log.warn({ room: roomName, agent: agentName, dispatch: number }, 'voice agent not in the room and every dispatch lost: dispatching again')
    try {
      await livekit.agentDispatch.createDispatch(roomName, agentName, { metadata: JSON.stringify(session) })
      onDispatch('again')
    } catch (err) {
      onDispatch('failed')
      log.warn({ err, room: roomName, dispatch: number }, 'agent dispatch failed')
    }
    return 'again'
  }

  /**
   * Looks at the room `firstLookInMs` from now and then every AGENT_JOIN_TIMEOUT_MS, until the agent
   * is in it, the room is gone, AGENT_DISPATCH_ATTEMPTS dispatches were lost, or the claim was lost.
   * The caller holds the room's claim with `fence`; the watch gives it back when it ends, unless it
   * was lost (then it may be another watch's, which the fence leaves alone anyway).
   */
  function startWatch (session: DispatchMetadata, agentName: string, fence: number, firstLookInMs: number): void {
    const roomName = session.room_name
    const watch: Watch = { fence, stopped: false }
    watches.set(roomName, watch)
    const end = async (release: boolean): Promise<void> => {
      if (watches.get(roomName) === watch) watches.delete(roomName)
      if (!watch.stopped) {
        watch.stopped = true
        if (release) await ledger.release(roomName, fence)
      }
    }
    const lookLater = (ms: number): void => {
      watch.timer = setTimeout(lookAndGoOn, ms)
      watch.timer.unref()
    }
    // Never rejects: it logs its own failures.
    async function lookAndGoOn (): Promise<void> {
      let outcome: 'again' | 'done' | 'lost' = 'done'
      try {
        outcome = await look(session, agentName, watch)
      } catch (err) {
        log.warn({ err, room: roomName }, 'agent watch failed; status will heal the session')
      }
      // Unwatched or closed meanwhile: whoever stopped it has dealt with the claim.
      if (watch.stopped) return await end(false)
      if (outcome === 'again') return lookLater(config.AGENT_JOIN_TIMEOUT_MS)
      if (outcome === 'lost') log.warn({ room: roomName, fence }, CLAIM_LOST)
      await end(outcome !== 'lost').catch(() => {})
    }
    lookLater(firstLookInMs)
  }

  /** Watches a session just started, whose room came with the first dispatch. Never rejects. */
  async function watch (session: DispatchMetadata): Promise<void> {
    const agentName = agentNameFor(session.agent_type)
    if (agentName === undefined || closed || watches.has(session.room_name)) return
    try {
      // The room's own dispatch, made with the room.
      await ledger.countDispatchBelow(session.room_name, 1)
      const fence = await ledger.claim(session.room_name)
      if (fence !== undefined) startWatch(session, agentName, fence, config.AGENT_JOIN_TIMEOUT_MS)
    } catch (err) {
      log.warn({ err, room: session.room_name }, 'agent watch could not start; status will heal the session')
    }
  }

  /**
   * The state of a session's agent, from the room as `status` just read it. This is a GET's side
   * effect: a person waiting in a room without its agent (the agent crashed, its worker died, this
   * replica restarted) gets a watch that dispatches the agent again once LiveKit shows every
   * dispatch lost, within the same bound of dispatches. Nothing happens, and nothing is spent,
   * while the agent is in the room.
   */
  async function agentStateRedispatchingIfLost (session: DispatchMetadata, presence: RoomPresence, roomAgeMs: number): Promise<AgentState> {
    if (presence.agentConnected) return 'connected'
    const agentName = agentNameFor(session.agent_type)
    if (agentName === undefined) return 'none'
    const roomName = session.room_name
    if (watches.has(roomName) || await ledger.isClaimed(roomName)) return 'dispatching'
    const made = await ledger.dispatchesMade(roomName)
    // The room's own dispatch is given its time before a watch looks at it.
    if (presence.people > 0 && (made ?? 1) < config.AGENT_DISPATCH_ATTEMPTS && roomAgeMs >= config.AGENT_JOIN_TIMEOUT_MS && !closed) {
      // Never a second watch here: one whose claim lapsed may still be in the middle of a look.
      const fence = watches.has(roomName) ? undefined : await ledger.claim(roomName)
      if (fence !== undefined) {
        // The room's own dispatch, unless it was counted already (this replica did not know the room).
        await ledger.countDispatchBelow(roomName, 1)
        startWatch(session, agentName, fence, 0)
      }
      return 'dispatching'
    }
    if (made !== undefined) return 'missing'
    return roomAgeMs < giveUpAfterMs ? 'dispatching' : 'missing'
  }

  /** Stops the room's watch and forgets the room: its session ended. Never rejects. */
  async function unwatch (roomName: string): Promise<void> {
    const watch = watches.get(roomName)
    if (watch !== undefined) {
      watch.stopped = true
      clearTimeout(watch.timer)
      watches.delete(roomName)
    }
    try {
      await ledger.forget(roomName)
    } catch (err) {
      log.warn({ err, room: roomName }, 'agent watch: forgetting the room failed')
    }
  }

  /** Stops every watch (the app closes); a look under way finishes without dispatching. */
  function close (): void {
    closed = true
    for (const [roomName, watch] of watches) {
      watch.stopped = true
      clearTimeout(watch.timer)
      ledger.release(roomName, watch.fence).catch(() => {})
    }
    watches.clear()
  }

  return { agentNameFor, agentTypeServedBy, roomDispatches, agentStateRedispatchingIfLost, watch, unwatch, close, watching: () => watches.size }
}

export type AgentDispatch = ReturnType<typeof createAgentDispatch>
