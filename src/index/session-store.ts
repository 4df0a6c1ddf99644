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
  /** When a signed webhook last spoke of the room (ms since the epoch); 0 while none has. */
  heardAtMs: number
  participants: IndexedParticipant[]
}

/** A session as it is first recorded: no one in it yet as far as the index knows. */
export type NewSession = Omit<IndexedSession, 'participants' | 'checkedAtMs' | 'heardAtMs'>

/** A change one of LiveKit's webhook events makes to the index (src/index/webhook-events.ts). */
export type IndexChange =
  | { event: 'room_started', session: NewSession }
  | { event: 'room_finished', roomName: string }
  | { event: 'participant_joined', roomName: string, participant: IndexedParticipant }
  | { event: 'participant_left', roomName: string, sid: string }

/** A delivered webhook event: its id (LiveKit's; '' when it has none) and when it arrived (ms since the epoch). */
export interface Delivery {
  id: string
  atMs: number
}

/** What became of a delivered event's change. */
export type EventOutcome = 'applied' | 'duplicate' | 'ignored'

/** An applied change's outcome, with the session a `room_finished` removed or the participant a leave removed. */
export interface ChangeResult {
  outcome: EventOutcome
  ended?: IndexedSession
  left?: IndexedParticipant
}

/** The caps a start is held to: MAX_SESSIONS_PER_USER, and MAX_LIVE_SESSIONS (0 = no cap). */
export interface SessionCaps {
  perUser: number
  live: number
}

/** A reservation's outcome: the place is held, or a cap (the user's or the service's) is reached with `live` counted against it. */
export type Reservation = { reserved: true } | { reserved: false, scope: 'user' | 'service', live: number }

/**
 * Where the session index lives: process memory (one replica) or Redis (any number of replicas).
 * Every operation is atomic per room. Ended rooms leave a tombstone for a while, so a webhook
 * delivered late or out of order (`room_started` after `room_finished`, `participant_joined`
 * after the same participant's `participant_left`) never brings back what has gone.
 * test/index/session-store.contract.ts runs the same checks against every implementation.
 */
export interface SessionStore {
  /**
   * Records a live session; false (and nothing written) when its room has already ended. Either
   * way, in the same atomic step, the room's reservation (`reserve`) is removed: a session is
   * counted against the caps once, never twice nor zero times.
   */
  add: (session: NewSession, checkedAtMs: number) => Promise<boolean>
  get: (roomName: string) => Promise<IndexedSession | undefined>
  /** The user's sessions; the cost depends on this user's sessions only. */
  listByUser: (userId: string) => Promise<IndexedSession[]>
  /** Live sessions in the index. */
  count: () => Promise<number>
  /**
   * Holds a place for a session about to start (`roomName`, before CreateRoom), in one atomic step:
   * reservations that expired by `nowMs` are dropped; then the user's live sessions plus the user's
   * reservations are counted against `caps.perUser`, and every live session plus every reservation
   * against `caps.live` (0 = no cap); past either, nothing is written and the refusal says which cap
   * and how many it counted; else the room is reserved until `nowMs + ttlMs`, so that a replica that
   * dies mid-start frees the place by itself. Reservations are not sessions: no read, list, count
   * or room name of the index (so not the reconcile) sees them.
   */
  reserve: (roomName: string, userId: string, caps: SessionCaps, nowMs: number, ttlMs: number) => Promise<Reservation>
  /** Gives back a reservation (the start failed); harmless when there is none. `add` takes the reservation's place itself. */
  release: (roomName: string, userId: string) => Promise<void>
  /** The rooms of sessions whose room LiveKit created before this time (ms): those past the longest session. */
  startedBefore: (createdBeforeMs: number) => Promise<string[]>
  /** Removes an ended session and leaves its tombstone; returns what was removed, or undefined if it was not indexed. */
  end: (roomName: string) => Promise<IndexedSession | undefined>
  /** A participant joined; false, and nothing written, when the session is unknown or this SID has already left. */
  joined: (roomName: string, participant: IndexedParticipant, atMs: number) => Promise<boolean>
  /** A participant left (for good: its SID is remembered, so a late join is ignored). */
  left: (roomName: string, sid: string, atMs: number) => Promise<IndexedParticipant | undefined>
  /**
   * The participants LiveKit reported at `checkedAtMs`, replacing what the index held (the
   * reconcile's truth), unless the index learnt something later (a webhook since): then nothing.
   */
  replaceParticipants: (roomName: string, participants: IndexedParticipant[], checkedAtMs: number) => Promise<void>
  /**
   * LiveKit listed these sessions' rooms live at `checkedAtMs` (the reconcile): each is recorded as
   * `add` records it (confirmed, only forward; restored if its entry expired while its room lived;
   * never once its room has ended), all in one step. Reservations are left alone.
   */
  confirm: (sessions: NewSession[], checkedAtMs: number) => Promise<void>
  /**
   * A webhook event's change, made at `delivery.atMs` as `add`, `end`, `joined` or `left` make it,
   * in one atomic step with two marks: the room is heard of by webhook (`heardAtMs`, only forward,
   * while it is indexed) and the event's id is remembered for TOMBSTONE_TTL_MS. 'duplicate', and
   * nothing changed, when an event with that id was applied before ('' never is); 'ignored' when the
   * change found nothing to change (an ended room, an unknown session, a departed SID). Deliveries of
   * one event at once are applied once; one that failed leaves no mark, so its redelivery applies.
   */
  applyEvent: (change: IndexChange, delivery: Delivery) => Promise<ChangeResult>
  /** When a webhook last spoke of each room (0: never; undefined: the room is not indexed), in the order given. */
  lastHeard: (roomNames: string[]) => Promise<Array<number | undefined>>
  /**
   * The index's generation: set by the rebuild from LiveKit, and gone only when the store lost its
   * data (a Redis restarted empty, flushed, or evicting). Undefined then: the index must be rebuilt.
   */
  generation: () => Promise<string | undefined>
  setGeneration: (generation: string) => Promise<void>
  /** Gives up a job this replica leads (a rebuild that failed), so that any replica may try it again. */
  resign: (job: string) => Promise<void>
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
