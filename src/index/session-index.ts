import { createReconciler, type ReconcilerOptions } from './reconcile.js'
import type { IndexedSession, SessionStore } from './session-store.js'
import { createWebhookEvents } from './webhook-events.js'

/** Who hears what the index learns from LiveKit rather than from the service itself. */
interface SessionIndexListeners {
  /** LiveKit closed a session's room and said so (`room_finished`). */
  closed: Array<(session: IndexedSession) => void>
  /** The reconcile found a session's room gone from LiveKit (its webhook was lost, or none are sent). */
  reconciled: Array<(session: IndexedSession) => void>
  /** A session's voice agent left while the room lives. */
  agentLeft: Array<(session: IndexedSession) => void>
}

/**
 * The session index as the service uses it: its store, the reconcile, the webhook events, and
 * listeners for what it learns from LiveKit (not from the service's own start and end).
 */
export function createSessionIndex (store: SessionStore, reconcilerOptions: Omit<ReconcilerOptions, 'store' | 'onSessionClosed'>) {
  const listeners: SessionIndexListeners = { closed: [], reconciled: [], agentLeft: [] }
  const emit = (event: keyof SessionIndexListeners) => (session: IndexedSession) => {
    for (const listener of listeners[event]) listener(session)
  }
  const reconciler = createReconciler({ ...reconcilerOptions, store, onSessionClosed: emit('reconciled') })
  const applyWebhookEvent = createWebhookEvents({ store, onSessionClosed: emit('closed'), onAgentLeft: emit('agentLeft') })
  return {
    store,
    reconciler,
    applyWebhookEvent,
    on (event: keyof SessionIndexListeners, listener: (session: IndexedSession) => void): void {
      listeners[event].push(listener)
    }
  }
}

export type SessionIndex = ReturnType<typeof createSessionIndex>
