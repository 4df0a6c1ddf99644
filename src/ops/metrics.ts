import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Why a session ended: its user ended it, it reached MAX_SESSION_SECONDS, LiveKit closed it (webhook), or a check found it gone. */
export type EndReason = 'deleted' | 'max_length' | 'closed' | 'reconciled'

/**
 * The service's own Prometheus metrics, in a registry of this app's (not prom-client's global one,
 * so that several apps in one process keep apart). Domain code gets this object, or `noMetrics`.
 * https://github.com/siimon/prom-client
 */
export function createMetrics (registry = new Registry()) {
  const registers = [registry]
  const livekitCalls = new Histogram({
    name: 'livekit_request_duration_seconds',
    help: 'LiveKit server-API calls by operation and outcome',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers
  })
  const started = new Counter({ name: 'voice_sessions_started_total', help: 'Voice sessions started, by agent type', labelNames: ['agent_type'] as const, registers })
  const ended = new Counter({ name: 'voice_sessions_ended_total', help: 'Voice sessions ended, by reason', labelNames: ['reason'] as const, registers })
  const dispatches = new Counter({ name: 'agent_dispatches_total', help: 'Agent dispatches, the one made with the room included, by outcome', labelNames: ['outcome'] as const, registers })
  const webhookEvents = new Counter({ name: 'livekit_webhook_events_total', help: 'LiveKit webhook deliveries, by event and outcome', labelNames: ['event', 'outcome'] as const, registers })
  const rateLimited = new Counter({ name: 'rate_limited_total', help: 'Requests refused by a rate limit, by route', labelNames: ['route'] as const, registers })
  const capRefusals = new Counter({ name: 'session_cap_refusals_total', help: 'Starts refused by a session cap, by scope', labelNames: ['scope'] as const, registers })
  let countLive: () => Promise<number> = async () => 0
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'voice_sessions_live',
    help: 'Voice sessions started and not yet ended, from the session index',
    registers,
    // The index away (Redis down): this series says it does not know, rather than the whole scrape failing.
    async collect () { this.set(await countLive().catch(() => NaN)) }
  })

  let webhooksSilent: () => boolean = () => false
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'livekit_webhooks_silent',
    help: '1 while LiveKit\'s webhooks are not arriving (no signed room_started for the rooms this replica created lately): reads then ask LiveKit',
    registers,
    collect () { this.set(webhooksSilent() ? 1 : 0) }
  })

  return {
    registry,
    /** Times one LiveKit call: call the result with its outcome. */
    livekitCall: (operation: string) => livekitCalls.startTimer({ operation }) as (labels: { outcome: string }) => void,
    sessionStarted: (agentType: string) => { started.inc({ agent_type: agentType }) },
    sessionEnded: (reason: EndReason) => { ended.inc({ reason }) },
    agentDispatched: (outcome: 'with_room' | 'again' | 'failed') => { dispatches.inc({ outcome }) },
    webhookEvent: (event: string, outcome: string) => { webhookEvents.inc({ event: event === '' ? 'unknown' : event, outcome }) },
    rateLimited: (route: string) => { rateLimited.inc({ route }) },
    sessionCapRefused: (scope: 'user' | 'service') => { capRefusals.inc({ scope }) },
    /** Where the live-sessions gauge reads its value when scraped. */
    countLiveWith: (count: () => Promise<number>) => { countLive = count },
    /** Where the webhooks gauge reads whether they are silent when scraped. */
    webhooksSilentWith: (silent: () => boolean) => { webhooksSilent = silent }
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/** Metrics that go nowhere: for domain code built without a registry (unit tests). */
export const noMetrics: Metrics = createMetrics()
