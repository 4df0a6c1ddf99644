import type { FastifyBaseLogger } from 'fastify'
import { createAgentDispatch } from '#agents/dispatch.js'
import type { DispatchLedger } from '#agents/ledger.js'
import type { SessionIndex } from '#index/session-index.js'
import type { Livekit } from '#livekit/livekit.js'
import type { EndReason, Metrics } from '#ops/metrics.js'
import type { Config } from '../config.js'
import { createSessionExpiry } from './expiry.js'
import { presenceOfIndexed } from './room-presence.js'
import { createSessions } from './sessions.js'

type LifecycleConfig = Pick<Config,
  'LIVEKIT_AGENT_NAME' | 'LIVEKIT_AGENT_NAMES' | 'AGENT_JOIN_TIMEOUT_MS' | 'AGENT_DISPATCH_ATTEMPTS' |
  'MAX_SESSIONS_PER_USER' | 'MAX_LIVE_SESSIONS' | 'MAX_SESSION_SECONDS' | 'LIVEKIT_REQUEST_TIMEOUT_MS' | 'RECONCILE_INTERVAL_MS'>

export interface SessionLifecycleOptions {
  config: LifecycleConfig
  livekit: Livekit
  index: SessionIndex
  /** Who dispatches which room's agent: this replica's memory, or shared through Redis. */
  ledger: DispatchLedger
  metrics: Metrics
  log: FastifyBaseLogger
}

/**
 * A voice session from start to end: the sessions module (start, read, end, caps), the agent
 * dispatch that serves each session and watches that its agent comes, the sweep that ends
 * sessions at MAX_SESSION_SECONDS, and what the service does when the index hears from LiveKit
 * rather than from the service itself: a closed room's watch stops and its end is counted with its
 * reason; an agent that left a person alone is dispatched again.
 */
export function createSessionLifecycle ({ config, livekit, index, ledger, metrics, log }: SessionLifecycleOptions) {
  const lengthMs = config.MAX_SESSION_SECONDS * 1000
  const agents = createAgentDispatch({ livekit, config, log, ledger, onDispatch: metrics.agentDispatched })
  const sessions = createSessions({
    livekit,
    agents,
    index,
    limits: { perUser: config.MAX_SESSIONS_PER_USER, live: config.MAX_LIVE_SESSIONS, lengthMs },
    metrics,
    requestTimeoutMs: config.LIVEKIT_REQUEST_TIMEOUT_MS,
    reconcileIntervalMs: config.RECONCILE_INTERVAL_MS
  })
  const expiry = createSessionExpiry({
    store: index.store,
    livekit,
    maxSessionMs: lengthMs,
    log,
    onExpired: (session) => {
      metrics.sessionEnded('max_length')
      agents.unwatch(session.roomName).catch(() => {})
    }
  })

  /** Why a session the index heard was gone ended: LiveKit's word of a room this replica deleted can beat the replica's own index update. */
  function endReason (roomName: string, heard: 'closed' | 'reconciled'): EndReason {
    if (expiry.isEnding(roomName)) return 'max_length'
    return sessions.isDeleting(roomName) ? 'deleted' : heard
  }

  for (const heard of ['closed', 'reconciled'] as const) {
    index.on(heard, (session) => {
      metrics.sessionEnded(endReason(session.roomName, heard))
      agents.unwatch(session.roomName).catch(() => {})
    })
  }
  index.on('agentLeft', (session) => {
    const presence = presenceOfIndexed(session.participants)
    if (presence.people === 0) return
    const dispatch = { user_id: session.userId, agent_type: session.agentType, room_name: session.roomName }
    agents.agentStateRedispatchingIfLost(dispatch, presence, Date.now() - session.createdAtMs)
      .catch((err: unknown) => { log.warn({ err, room: session.roomName }, 'agent re-dispatch after it left failed') })
  })

  return {
    sessions,
    agents,
    /** Starts the periodic sweep (the app is ready). */
    start: () => { expiry.start() },
    /** Stops the sweep and every agent watch (the app closes). */
    close: () => {
      expiry.stop()
      agents.close()
    }
  }
}
