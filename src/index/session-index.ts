import { createPeriodicJob } from '#ops/periodic-job.js'
import { createReconciler, type ReconcilerOptions } from './reconcile.js'
import type { IndexedSession, SessionStore } from './session-store.js'
import { createWebhookEvents } from './webhook-events.js'
import { createWebhookHealth } from './webhook-health.js'

/** How often a replica looks whether the rooms it created were heard of by webhook. */
const WEBHOOK_CHECK_EVERY_MS = 1000

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
 * The session index as the service uses it: its store, the rebuild and the reconcile, the webhook
 * events, whether webhooks arrive, and listeners for what it learns from LiveKit (not from the
 * service's own start and end).
 */
export function createSessionIndex (store: SessionStore, reconcilerOptions: Omit<ReconcilerOptions, 'store' | 'onSessionClosed'>) {
  const listeners: SessionIndexListeners = { closed: [], reconciled: [], agentLeft: [] }
  const emit = (event: keyof SessionIndexListeners) => (session: IndexedSession) => {
    for (const listener of listeners[event]) listener(session)
  }
  const { log } = reconcilerOptions
  const reconciler = createReconciler({ ...reconcilerOptions, store, onSessionClosed: emit('reconciled') })
  const applyWebhookEvent = createWebhookEvents({ store, onSessionClosed: emit('closed'), onAgentLeft: emit('agentLeft') })
  const webhooks = createWebhookHealth({ store, log })
  const webhookCheck = createPeriodicJob({ name: 'session index: are webhooks arriving', everyMs: WEBHOOK_CHECK_EVERY_MS, log, run: async () => { await webhooks.check() } })
  return {
    store,
    reconciler,
    applyWebhookEvent,
    webhooks,
    /** Whether the index was usable once since this replica started (readiness: this replica's own). */
    usable: reconciler.everUsable,
    on (event: keyof SessionIndexListeners, listener: (session: IndexedSession) => void): void {
      listeners[event].push(listener)
    },
    /** Rebuilds when needed, reconciles, and checks the webhooks, until `stop`. */
    start (): void {
      reconciler.start()
      webhookCheck.start()
    },
    stop (): void {
      reconciler.stop()
      webhookCheck.stop()
    }
  }
}

export type SessionIndex = ReturnType<typeof createSessionIndex>
