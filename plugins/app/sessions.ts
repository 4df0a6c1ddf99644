import fp from 'fastify-plugin'
import { AGENT_START_MS, createAgentDispatch, type AgentDispatch } from '#agents/dispatch.js'
import { createMemoryDispatchLedger } from '#agents/ledger.js'
import type { EndReason } from '#ops/metrics.js'
import { createRedisDispatchLedger } from '#agents/redis-ledger.js'
import { presenceOfIndexed } from '#sessions/room-presence.js'
import { createSessionExpiry } from '#sessions/expiry.js'
import { createSessions, type Sessions } from '#sessions/sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
    agents: AgentDispatch
  }
}

/**
 * Decorates the instance with `sessions`, the one module that speaks to LiveKit (src/sessions/sessions.ts),
 * and `agents`, which knows which voice agent serves a session and watches that it comes. With
 * Redis, the agents' dispatch ledger is shared, so replicas never dispatch twice for one attempt.
 */
export default fp(async function sessionsPlugin (fastify) {
  const { config, livekit, redis, sessionIndex, serviceMetrics: metrics, log } = fastify
  // A claim outlives the longest watch that ends: every dispatch given its time, and a start.
  const claimTtlMs = config.AGENT_JOIN_TIMEOUT_MS * (config.AGENT_DISPATCH_ATTEMPTS + 1) + AGENT_START_MS
  const ledger = redis === undefined ? createMemoryDispatchLedger() : createRedisDispatchLedger({ redis, claimTtlMs })
  const agents = createAgentDispatch({ livekit, config, log, ledger, onDispatch: metrics.agentDispatched })
  const sessions = createSessions({
    livekit,
    agents,
    index: sessionIndex,
    limits: { perUser: config.MAX_SESSIONS_PER_USER, live: config.MAX_LIVE_SESSIONS, lengthMs: config.MAX_SESSION_SECONDS * 1000 },
    metrics,
    requestTimeoutMs: config.LIVEKIT_REQUEST_TIMEOUT_MS,
    reconcileIntervalMs: config.RECONCILE_INTERVAL_MS
  })
  fastify.decorate('sessions', sessions)
  fastify.decorate('agents', agents)
  const expiry = createSessionExpiry({
    store: sessionIndex.store,
    livekit,
    maxSessionMs: config.MAX_SESSION_SECONDS * 1000,
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
  // What LiveKit tells the index: a closed room's watch stops; an agent that left a person alone is dispatched again.
  for (const reason of ['closed', 'reconciled'] as const) {
    sessionIndex.on(reason, (session) => {
      metrics.sessionEnded(endReason(session.roomName, reason))
      agents.unwatch(session.roomName).catch(() => {})
    })
  }
  sessionIndex.on('agentLeft', (session) => {
    const presence = presenceOfIndexed(session.participants)
    if (presence.people === 0) return
    const dispatch = { user_id: session.userId, agent_type: session.agentType, room_name: session.roomName }
    agents.agentStateRedispatchingIfLost(dispatch, presence, Date.now() - session.createdAtMs)
      .catch((err: unknown) => { log.warn({ err, room: session.roomName }, 'agent re-dispatch after it left failed') })
  })
  fastify.addHook('onReady', async () => { expiry.start() })
  fastify.addHook('onClose', async () => {
    expiry.stop()
    agents.close()
  })
}, { name: 'sessions', dependencies: ['config', 'livekit', 'redis', 'session-index', 'metrics'] })
