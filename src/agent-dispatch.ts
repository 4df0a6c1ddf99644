import type { FastifyBaseLogger } from 'fastify'
import { RoomAgentDispatch } from 'livekit-server-sdk'
import { AGENT_TYPES, isAgentType, type AgentType } from './agent-types.js'
import type { Config } from './config.js'
import type { Livekit } from './livekit.js'
import { presenceOf, type RoomPresence } from './room-presence.js'

/** Where a session's voice agent is, as `status` reports it. */
export const AGENT_STATES = ['connected', 'dispatching', 'missing', 'none'] as const
export type AgentState = typeof AGENT_STATES[number]

/** What the agent's job receives as `ctx.job.metadata` (JSON). */
export interface DispatchMetadata {
  user_id: string
  agent_type: AgentType
  room_name: string
}

/** Rooms whose dispatch count is remembered; past this, the oldest are forgotten. */
const REMEMBERED_ROOMS = 10_000

type DispatchConfig = Pick<Config, 'LIVEKIT_AGENT_NAME' | 'LIVEKIT_AGENT_NAMES' | 'AGENT_JOIN_TIMEOUT_MS' | 'AGENT_DISPATCH_ATTEMPTS'>

/** `workout=coach-agent,diet=diet-agent` as a map; a type named twice keeps its last name. */
export function parseAgentNames (value: string): Partial<Record<AgentType, string>> {
  const names: Partial<Record<AgentType, string>> = {}
  for (const pair of value.split(',')) {
    const [type, name] = pair.split('=').map((part) => part.trim())
    if (isAgentType(type) && name !== undefined && name !== '') names[type] = name
  }
  return names
}

/**
 * Which agent serves which agent type, and the watch that notices an agent that never came:
 * LiveKit drops dispatches when no worker is free or registered, and retries none of them.
 * A session is watched from its start until its agent joins; after that, `status` reading the
 * room is what notices an agent that left while its user stays. A session whose agent is in
 * the room costs nothing more.
 */
export function createAgentDispatch ({ livekit, config, log }: { livekit: Livekit, config: DispatchConfig, log: FastifyBaseLogger }) {
  const overrides = parseAgentNames(config.LIVEKIT_AGENT_NAMES)
  const watches = new Map<string, NodeJS.Timeout>()
  /** Dispatches made per room by this replica, kept after a watch ends so that the bound holds. */
  const dispatchesMade = new Map<string, number>()
  /** After this long without an agent, every dispatch has been tried: the agent is missing. */
  const giveUpAfterMs = config.AGENT_JOIN_TIMEOUT_MS * config.AGENT_DISPATCH_ATTEMPTS

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

  function unwatch (roomName: string): void {
    clearTimeout(watches.get(roomName))
    watches.delete(roomName)
    dispatchesMade.delete(roomName)
  }

  function remember (roomName: string, dispatches: number): void {
    dispatchesMade.delete(roomName)
    dispatchesMade.set(roomName, dispatches)
    // The oldest first: a Map iterates in insertion order.
    for (const oldest of dispatchesMade.keys()) {
      if (dispatchesMade.size <= REMEMBERED_ROOMS) break
      dispatchesMade.delete(oldest)
    }
  }

  // `check` never rejects: it logs its own failures.
  function schedule (roomName: string, check: () => Promise<void>): void {
    const timer = setTimeout(check, config.AGENT_JOIN_TIMEOUT_MS)
    timer.unref()
    watches.set(roomName, timer)
  }

  async function dispatch (session: DispatchMetadata, agentName: string, number: number): Promise<void> {
    log.warn({ room: session.room_name, agent: agentName, dispatch: number }, 'voice agent not in the room: dispatching again')
    await livekit.agentDispatch.createDispatch(session.room_name, agentName, { metadata: JSON.stringify(session) })
  }

  /**
   * Checks the room every AGENT_JOIN_TIMEOUT_MS until the agent is in it, dispatching again while
   * it is not; `made` dispatches were already made. Stops when the room is gone, the agent came,
   * or AGENT_DISPATCH_ATTEMPTS dispatches went unanswered.
   */
  function follow (session: DispatchMetadata, agentName: string, made: number): void {
    const roomName = session.room_name
    let dispatches = made
    remember(roomName, dispatches)
    const check = async (): Promise<void> => {
      watches.delete(roomName)
      try {
        const [rooms, participants] = await Promise.all([livekit.rooms.listRooms([roomName]), livekit.rooms.listParticipants(roomName)])
        // An ended session is never dispatched into: that would bring its room back.
        if (rooms.length === 0) return unwatch(roomName)
        if (presenceOf(participants).agentConnected) return
        if (dispatches >= config.AGENT_DISPATCH_ATTEMPTS) {
          log.warn({ room: roomName, agent: agentName, dispatches }, 'voice agent missing: no dispatch was answered')
          return
        }
        remember(roomName, ++dispatches)
        await dispatch(session, agentName, dispatches)
      } catch (err) {
        log.warn({ err, room: roomName }, 'agent watch: a LiveKit call failed')
        if (dispatches >= config.AGENT_DISPATCH_ATTEMPTS) return
        remember(roomName, ++dispatches)
      }
      schedule(roomName, check)
    }
    schedule(roomName, check)
  }

  /** Watches a session just started, whose room came with the first dispatch. */
  function watch (session: DispatchMetadata): void {
    const agentName = agentNameFor(session.agent_type)
    if (agentName !== undefined) follow(session, agentName, 1)
  }

  /**
   * The state of a session's agent, from the room as `status` just read it. A person waiting in a
   * room without its agent (the agent crashed, its worker died, this replica restarted) gets the
   * agent dispatched again, within the same bound of dispatches. Nothing happens, and nothing is
   * spent, while the agent is in the room.
   */
  function check (session: DispatchMetadata, presence: RoomPresence, roomAgeMs: number): AgentState {
    if (presence.agentConnected) return 'connected'
    const agentName = agentNameFor(session.agent_type)
    if (agentName === undefined) return 'none'
    const roomName = session.room_name
    if (watches.has(roomName)) return 'dispatching'
    const made = dispatchesMade.get(roomName)
    // The room's own dispatch is given its time before another is made.
    if (presence.people > 0 && (made ?? 0) < config.AGENT_DISPATCH_ATTEMPTS && roomAgeMs >= config.AGENT_JOIN_TIMEOUT_MS) {
      const number = (made ?? 1) + 1
      dispatch(session, agentName, number).catch((err: unknown) => { log.warn({ err, room: roomName }, 'agent dispatch failed') })
      follow(session, agentName, number)
      return 'dispatching'
    }
    if (made !== undefined) return 'missing'
    return roomAgeMs < giveUpAfterMs ? 'dispatching' : 'missing'
  }

  function close (): void {
    for (const timer of watches.values()) clearTimeout(timer)
    watches.clear()
  }

  return { agentNameFor, agentTypeServedBy, roomDispatches, check, watch, unwatch, close, watching: () => watches.size }
}

export type AgentDispatch = ReturnType<typeof createAgentDispatch>
