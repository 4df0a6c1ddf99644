import type { WebhookEvent } from 'livekit-server-sdk'
import { roleOf } from '#sessions/room-presence.js'
import { sessionOfRoom } from '#sessions/metadata.js'
import type { IndexedSession, SessionStore } from './session-store.js'

/** What became of a delivered event. */
export type WebhookOutcome = 'applied' | 'duplicate' | 'ignored'

export interface WebhookEventsOptions {
  store: SessionStore
  /** A session's room closed (`room_finished`): stop what watches it. */
  onSessionClosed?: (session: IndexedSession) => void
  /** A session's voice agent left while its room lives: `session` is the index after the leave. */
  onAgentLeft?: (session: IndexedSession) => void
  now?: () => number
}

/**
 * Applies LiveKit's verified webhook events to the session index. LiveKit may deliver an event
 * twice (a retry), late, or out of order (users report `participant_left` before
 * `participant_joined`, `room_started` after `room_finished`), so: an event id is applied once;
 * a participant that left stays gone and a room that finished stays gone (the store's tombstones);
 * counts in payloads are never read: the index counts participants by SID.
 *
 * An event is recorded as applied only once it has been: a delivery that failed (the index away,
 * answered 503) is applied when LiveKit delivers it again. Applying an event twice (two deliveries
 * at once) changes nothing more than applying it once: every change is by room and by SID, and
 * tombstones keep what ended ended. Each event also says the room is heard of by webhook
 * (`heardAtMs`): the proof that the index is told of its changes.
 */
export function createWebhookEvents ({ store, onSessionClosed, onAgentLeft, now = Date.now }: WebhookEventsOptions) {
  async function apply (event: WebhookEvent): Promise<WebhookOutcome> {
    const room = event.room
    if (room === undefined || room.name === '') return 'ignored'
    switch (event.event) {
      case 'room_started': {
        const session = sessionOfRoom(room)
        if (session === undefined) return 'ignored'
        const at = now()
        const added = await store.add(session, at)
        if (!added) return 'ignored'
        await store.heard(room.name, at)
        return 'applied'
      }
      case 'room_finished': {
        const ended = await store.end(room.name)
        if (ended === undefined) return 'ignored'
        onSessionClosed?.(ended)
        return 'applied'
      }
      case 'participant_joined': {
        const participant = event.participant
        if (participant === undefined) return 'ignored'
        const at = now()
        await store.joined(room.name, { sid: participant.sid, identity: participant.identity, role: roleOf(participant) }, at)
        await store.heard(room.name, at)
        return 'applied'
      }
      case 'participant_left':
      case 'participant_connection_aborted': {
        const participant = event.participant
        if (participant === undefined) return 'ignored'
        const at = now()
        const gone = await store.left(room.name, participant.sid, at)
        await store.heard(room.name, at)
        if (gone?.role === 'agent' && onAgentLeft !== undefined) {
          const session = await store.get(room.name)
          if (session !== undefined) onAgentLeft(session)
        }
        return gone === undefined ? 'ignored' : 'applied'
      }
      default:
        return 'ignored'
    }
  }

  return async function applyWebhookEvent (event: WebhookEvent): Promise<WebhookOutcome> {
    if (event.id === '') return await apply(event)
    if (await store.applied(event.id)) return 'duplicate'
    const outcome = await apply(event)
    await store.markApplied(event.id)
    return outcome
  }
}

export type ApplyWebhookEvent = ReturnType<typeof createWebhookEvents>
