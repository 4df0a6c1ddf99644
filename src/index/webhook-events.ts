import type { WebhookEvent } from 'livekit-server-sdk'
import { roleOf } from '#sessions/room-presence.js'
import { sessionOfRoom } from '#sessions/metadata.js'
import type { EventOutcome, IndexChange, IndexedSession, SessionStore } from './session-store.js'

/** What became of a delivered event. */
export type WebhookOutcome = EventOutcome

export interface WebhookEventsOptions {
  store: SessionStore
  /** A session's room closed (`room_finished`): stop what watches it. */
  onSessionClosed?: (session: IndexedSession) => void
  /** A session's voice agent left while its room lives: `session` is the index after the leave. */
  onAgentLeft?: (session: IndexedSession) => void
  now?: () => number
}

/** The index's change an event makes; undefined for an event it does not follow or a room that is not a session's. */
function changeOf (event: WebhookEvent): IndexChange | undefined {
  const room = event.room
  if (room === undefined || room.name === '') return undefined
  const roomName = room.name
  switch (event.event) {
    case 'room_started': {
      const session = sessionOfRoom(room)
      return session === undefined ? undefined : { event: 'room_started', session }
    }
    case 'room_finished':
      return { event: 'room_finished', roomName }
    case 'participant_joined': {
      const participant = event.participant
      if (participant === undefined) return undefined
      return { event: 'participant_joined', roomName, participant: { sid: participant.sid, identity: participant.identity, role: roleOf(participant) } }
    }
    case 'participant_left':
    case 'participant_connection_aborted':
      return event.participant === undefined ? undefined : { event: 'participant_left', roomName, sid: event.participant.sid }
    default:
      return undefined
  }
}

/**
 * Applies LiveKit's verified webhook events to the session index. LiveKit may deliver an event
 * twice (a retry), late, or out of order (users report `participant_left` before
 * `participant_joined`, `room_started` after `room_finished`), so: an event id is applied once;
 * a participant that left stays gone and a room that finished stays gone (the store's tombstones);
 * counts in payloads are never read: the index counts participants by SID.
 *
 * Each change is one atomic step of the store (`applyEvent`), one Redis command: it applies the
 * change, marks the event's id applied and the room heard of by webhook (`heardAtMs`: the proof that
 * the index is told of its changes). A delivery that failed (the index away, answered 503) left no
 * mark, so it is applied when LiveKit delivers it again; deliveries of one event at once apply once.
 */
export function createWebhookEvents ({ store, onSessionClosed, onAgentLeft, now = Date.now }: WebhookEventsOptions) {
  return async function applyWebhookEvent (event: WebhookEvent): Promise<WebhookOutcome> {
    const change = changeOf(event)
    if (change === undefined) return 'ignored'
    const { outcome, ended, left } = await store.applyEvent(change, { id: event.id, atMs: now() })
    if (ended !== undefined) onSessionClosed?.(ended)
    if (left?.role === 'agent' && change.event === 'participant_left' && onAgentLeft !== undefined) {
      const session = await store.get(change.roomName)
      if (session !== undefined) onAgentLeft(session)
    }
    return outcome
  }
}

export type ApplyWebhookEvent = ReturnType<typeof createWebhookEvents>
