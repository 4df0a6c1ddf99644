import type { AgentType } from '#agents/agent-types.js'

/** Who a participant is, as far as a session cares: a person, a voice agent, or anything else (recorders, ingress). */
export type ParticipantRole = 'person' | 'agent' | 'other'

export interface IndexedParticipant {
  /** LiveKit's participant SID: one connection. A second device of the same identity is another SID. */
  sid: string
  identity: string
  role: ParticipantRole
}

/** What the index knows of one live session. */
export interface IndexedSession {
  roomName: string
  userId: string
  agentType: AgentType
  /** When LiveKit created the room (ms since the epoch). */
  createdAtMs: number
  /** When LiveKit last confirmed the room live: start, a webhook, or the reconcile (ms since the epoch). */
  checkedAtMs: number
  participants: IndexedParticipant[]
}

/** A session as it is first recorded: no one in it yet as far as the index knows. */
export type NewSession = Omit<IndexedSession, 'participants' | 'checkedAtMs'>

/**
 * Where the session index lives: process memory (one replica) or Redis (any number of replicas).
 * Every operation is atomic per room. Ended rooms leave a tombstone for a while, so a webhook
 * delivered late or out of order (`room_started` after `room_finished`, `participant_joined`
 * after the same participant's `participant_left`) never brings back what has gone.
 * test/index/session-store.contract.ts runs the same checks against every implementation.
 */
export interface SessionStore {
  /** Records a live session; false (and nothing written) when its room has already ended. */
  add: (session: NewSession, checkedAtMs: number) => Promise<boolean>
  get: (roomName: string) => Promise<IndexedSession | undefined>
  /** The user's sessions; the cost depends on this user's sessions only. */
  listByUser: (userId: string) => Promise<IndexedSession[]>
  /** Every indexed room name, for the reconcile. */
  roomNames: () => Promise<string[]>
  /** Live sessions in the index. */
  count: () => Promise<number>
  /** The rooms of sessions whose room LiveKit created before this time (ms): those past the longest session. */
  startedBefore: (createdBeforeMs: number) => Promise<string[]>
  /** Removes an ended session and leaves its tombstone; returns what was removed, or undefined if it was not indexed. */
  end: (roomName: string) => Promise<IndexedSession | undefined>
  /** A participant joined: ignored when the session is unknown or this SID has already left. */
  joined: (roomName: string, participant: IndexedParticipant, atMs: number) => Promise<void>
  /** A participant left (for good: its SID is remembered, so a late join is ignored). */
  left: (roomName: string, sid: string, atMs: number) => Promise<IndexedParticipant | undefined>
  /**
   * The participants LiveKit reported at `checkedAtMs`, replacing what the index held (the
   * reconcile's truth), unless the index learnt something later (a webhook since): then nothing.
   */
  replaceParticipants: (roomName: string, participants: IndexedParticipant[], checkedAtMs: number) => Promise<void>
  /** LiveKit confirmed the room live at this time. */
  touch: (roomName: string, checkedAtMs: number) => Promise<void>
  /** True the first time an event id is seen (for a while), false for a redelivery. */
  firstDelivery: (eventId: string) => Promise<boolean>
  /** True when this replica may do a job that one replica should do at a time (the reconcile), for `ttlMs`. */
  lead: (job: string, ttlMs: number) => Promise<boolean>
  close: () => Promise<void>
}

/** How long an ended room's tombstone, a departed participant's SID and a seen event id are kept. */
export const TOMBSTONE_TTL_MS = 60 * 60 * 1000

/**
 * How long a session's entry outlives its last confirmation. The reconcile confirms every live
 * session each interval, so only the entries of a fleet that stopped altogether expire this way.
 */
export const ENTRY_TTL_MS = 24 * 60 * 60 * 1000
