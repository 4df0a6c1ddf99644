import type { FastifyBaseLogger } from 'fastify'
import { RoomAgentDispatch } from 'livekit-server-sdk'
import { AGENT_TYPES, isAgentType, type AgentType } from './agent-types.js'
import type { Config } from './config.js'
import type { Livekit } from './livekit.js'
import { presenceOf } from './room-presence.js'

/** Where a session's voice agent is, as `status` reports it. */
export const AGENT_STATES = ['connected', 'dispatching', 'missing', 'none'] as const
export type AgentState = typeof AGENT_STATES[number]

/** What the agent's job receives as `ctx.job.metadata` (JSON). */
export interface DispatchMetadata {
  user_id: string
  agent_type: AgentType
  room_name: string
}

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
 * A session is watched from its start until its agent joins, so a session whose agent is
 * in the room costs nothing more, and `status` derives the agent's state from the room alone.
 */
export function createAgentDispatch ({ livekit, config, log }: { livekit: Livekit, config: DispatchConfig, log: FastifyBaseLogger }) {
  const overrides = parseAgentNames(config.LIVEKIT_AGENT_NAMES)
  const watches = new Map<string, NodeJS.Timeout>()
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

  function stateOf (agentType: AgentType, agentConnected: boolean, roomAgeMs: number): AgentState {
    if (agentConnected) return 'connected'
    if (agentNameFor(agentType) === undefined) return 'none'
    return roomAgeMs < giveUpAfterMs ? 'dispatching' : 'missing'
  }

  function unwatch (roomName: string): void {
    clearTimeout(watches.get(roomName))
    watches.delete(roomName)
  }

  // `check` never rejects: it logs its own failures.
  function schedule (roomName: string, check: () => Promise<void>): void {
    const timer = setTimeout(check, config.AGENT_JOIN_TIMEOUT_MS)
    timer.unref()
    watches.set(roomName, timer)
  }

  /** Watches a started session until its agent joins; dispatches again while it has not. */
  function watch (metadata: DispatchMetadata): void {
    const agentName = agentNameFor(metadata.agent_type)
    if (agentName === undefined) return
    const roomName = metadata.room_name
    // Round 1 is the dispatch that came with the room; each later round starts with a new dispatch.
    let round = 1
    const check = async (): Promise<void> => {
      watches.delete(roomName)
      round++
      try {
        const [rooms, participants] = await Promise.all([livekit.rooms.listRooms([roomName]), livekit.rooms.listParticipants(roomName)])
        // An ended session is never dispatched into: that would bring its room back.
        if (rooms.length === 0 || presenceOf(participants).agentConnected) return
        if (round > config.AGENT_DISPATCH_ATTEMPTS) {
          log.warn({ room: roomName, agent: agentName, dispatches: round - 1 }, 'voice agent missing: it never joined')
          return
        }
        log.warn({ room: roomName, agent: agentName, dispatch: round }, 'voice agent has not joined: dispatching again')
        await livekit.agentDispatch.createDispatch(roomName, agentName, { metadata: JSON.stringify(metadata) })
      } catch (err) {
        log.warn({ err, room: roomName }, 'agent watch: a LiveKit call failed')
        if (round > config.AGENT_DISPATCH_ATTEMPTS) return
      }
      schedule(roomName, check)
    }
    schedule(roomName, check)
  }

  function close (): void {
    for (const roomName of watches.keys()) unwatch(roomName)
  }

  return { agentNameFor, agentTypeServedBy, roomDispatches, stateOf, watch, unwatch, close, watching: () => watches.size }
}

export type AgentDispatch = ReturnType<typeof createAgentDispatch>
