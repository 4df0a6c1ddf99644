import type { Machine } from '../bench/report.js'
import { ConfigSchema } from '../src/config.js'

/**
 * What `npm run chaos` records, how it judges each fault, and how it says so (RELIABILITY.md and
 * the terminal). Pure functions of the recorded facts: the run (scripts/chaos.ts) only gathers them.
 */

export const FAULT_NAMES = ['redis-restart', 'redis-stall', 'livekit-stall', 'replica-kill', 'webhooks-cut'] as const
export type FaultName = typeof FAULT_NAMES[number]
export type PhaseName = FaultName | 'baseline'

/** The service's RECONCILE_INTERVAL_MS, which the run leaves at its default: some bounds below are counted in it. */
export const RECONCILE_INTERVAL_MS = ConfigSchema.properties.RECONCILE_INTERVAL_MS.default
/** A change shows in every answer within this when the service reads LiveKit (README, "The session index": 3 s). */
export const LIVE_BOUND_MS = 3000

/**
 * The longest an answer may disagree with LiveKit in each phase, as the README's table "When the
 * index answers (the truth bounds)" promises it for the situation the fault makes. Where it says
 * "milliseconds", the bound is the live one: the checker cannot time finer than its rounds.
 */
export const DISAGREEMENT_BOUNDS: Record<PhaseName, { ms: number, promise: string }> = {
  baseline: { ms: LIVE_BOUND_MS, promise: 'webhooks arriving: milliseconds' },
  'redis-restart': { ms: 2000 + LIVE_BOUND_MS, promise: 'Redis lost the index: every replica notices within 2 s, then live reads' },
  'redis-stall': { ms: 2 * RECONCILE_INTERVAL_MS, promise: 'a webhook refused while Redis was away is redelivered, or a lost event corrected within 2 x RECONCILE_INTERVAL_MS' },
  'livekit-stall': { ms: LIVE_BOUND_MS, promise: 'webhooks arriving: milliseconds' },
  'replica-kill': { ms: LIVE_BOUND_MS, promise: 'webhooks arriving (a delivery cut by the kill is redelivered 1 s later): milliseconds' },
  'webhooks-cut': { ms: 1.5 * RECONCILE_INTERVAL_MS, promise: 'webhooks stop after working: live once a room\'s room_started is 5 s late, never longer than 1.5 x RECONCILE_INTERVAL_MS' }
}
/**
 * How long after a dependency is back a 503/504 for it is still fair: the readiness check asks
 * LiveKit at most every 2 s, and ioredis reconnects after at most 2 s.
 */
export const RECOVERY_GRACE_MS = 2000
/**
 * A room that lived this long must have had its agent: AGENT_JOIN_TIMEOUT_MS (10 s, when the
 * service dispatches again) and 5 s for that dispatch's job. A shorter session that ended before
 * its agent came is counted, not judged.
 */
export const AGENT_DUE_MS = 15_000
/** The message the error handler puts in place of an unexpected error's: a masked 5xx is never a documented one. */
const MASKED_MESSAGE = 'Internal Server Error'

/** Who sent a request through the balancer: the load-test users, the checker, or the witness sessions' owner. */
export type Source = 'load' | 'check' | 'witness'

/**
 * One request through the balancer. `outcome`: answered by a replica; `no-replica` (no replica was
 * ready, so the balancer answered 502 itself); `cut` (in flight on a replica the run SIGKILLed: a
 * POST the balancer must not send twice); `upstream-error` (the replica broke the connection
 * otherwise); `abandoned` (the client gave up first: its 10 s timeout).
 */
export interface AnswerRecord {
  sentAt: number
  doneAt: number
  source: Source
  /** `GET /api/v1/voice-sessions/{room}/status` and the like. */
  route: string
  outcome: 'answered' | 'no-replica' | 'cut' | 'upstream-error' | 'abandoned'
  status?: number
  retryAfter?: boolean
  message?: string
  requestId?: string
}

/** A webhook delivery from LiveKit to the balancer: the replica's status, or dropped while webhooks were cut. */
export interface WebhookRecord {
  at: number
  dropped: boolean
  status?: number
}

/** A time an answer about `room` disagreed with LiveKit, from the first answer that did to the first that no longer did. */
export interface Disagreement {
  /** What disagreed: `status: agent_connected`, `active: missing` ... */
  what: string
  room: string
  from: number
  to: number
  /** Still disagreeing when the run ended. */
  open: boolean
}

export interface RoomRecord {
  room: string
  /** When its start was answered 200 (undefined: LiveKit had it, no start was answered for it). */
  startedAt?: number
  /** When it was last known live: its end answered, or the last time LiveKit listed it. */
  lastLiveAt: number
  /** Job requests the agent worker received for it, and the times its agent joined. */
  jobs: number
  joins: number
  /** When its agent first joined. */
  agentJoinedAt?: number
}

/** What the run found after a phase settled: sessions live in LiveKit that `active` did not list, and the reverse. */
export interface Census {
  /** Started (a 200 to their start), not ended, live in LiveKit, not listed by their user's `active`. */
  lost: string[]
  /** Ended (a 200 to their DELETE), and still live in LiveKit: the room outlived its end. */
  outlived: string[]
  /** Live in LiveKit, never answered 200 to a start, not listed either: rooms nobody knows of. */
  orphans: string[]
  /** Listed by `active`, not in LiveKit. */
  ghosts: string[]
}

export interface PhaseFacts {
  name: PhaseName
  /** ms since the run began. */
  start: number
  end: number
  /** The fault itself (for the baseline, nothing): from applying it to undoing it (or the restarted process serving). */
  faultFrom?: number
  faultTo?: number
  /** The dependency that was away, if any: 503/504s with Retry-After are acceptable while it is. */
  away?: 'Redis' | 'LiveKit'
  census: Census
}

export interface Settings {
  users: number
  sessionSeconds: number
  witnesses: number
  baselineSeconds: number
  stallSeconds: number
  webhooksCutSeconds: number
  settleSeconds: number
  checkEveryMs: number
  faults: readonly FaultName[]
  probe: string
  service: string
}

export interface ChaosFacts {
  startedAt: Date
  seconds: number
  loadBefore: string
  loadAfter: string
  machine: Machine
  settings: Settings
  phases: PhaseFacts[]
  answers: AnswerRecord[]
  webhooks: WebhookRecord[]
  disagreements: Disagreement[]
  /** The time between each two judged rounds of the checker in a row: how finely a disagreement is timed. */
  roundGapsMs: number[]
  rooms: RoomRecord[]
  /** Job requests the worker received for rooms the run never saw in LiveKit (so never named). */
  unnamedJobs: number
  /** The load test's own end: sessions its clean-up could not show ended, and rooms of the run LiveKit still held. */
  leftBehind: string[]
  leftInLivekit: string[]
}

/** How one answer is judged in its phase. */
export type Judgement = 'ok' | 'dependency away' | 'cut by the kill' | 'failure'

/** Whether [from, to] and [a, b] share a moment. */
const overlaps = (from: number, to: number, a: number, b: number): boolean => from <= b && to >= a

/**
 * An answer is fine when it is 2xx, 404 (the session is gone: a 404 for a live session shows as a
 * disagreement instead) or 429 (a limit); a 503 or 504 is fine only with Retry-After and a
 * documented message, for a request under way while the phase's dependency was away (or within
 * RECOVERY_GRACE_MS of its return). A POST in flight on a replica the run SIGKILLed is cut, not
 * failed: no balancer may send it twice. Anything else is a failure.
 */
export function judge (answer: AnswerRecord, phase: Pick<PhaseFacts, 'away' | 'faultFrom' | 'faultTo'>): Judgement {
  if (answer.outcome === 'cut') return 'cut by the kill'
  if (answer.outcome !== 'answered' || answer.status === undefined) return 'failure'
  const { status } = answer
  if ((status >= 200 && status < 300) || status === 404 || status === 429) return 'ok'
  if ((status === 503 || status === 504) && answer.retryAfter === true && answer.message !== undefined && answer.message !== MASKED_MESSAGE &&
    phase.away !== undefined && phase.faultFrom !== undefined && phase.faultTo !== undefined &&
    overlaps(answer.sentAt, answer.doneAt, phase.faultFrom, phase.faultTo + RECOVERY_GRACE_MS)) {
    return 'dependency away'
  }
  return 'failure'
}

/** How an answer is named in the tables: `200`, `503 with Retry-After`, `no answer (client timeout)`... */
export function answerLabel (answer: AnswerRecord): string {
  switch (answer.outcome) {
    case 'no-replica': return '502 from the balancer: no replica ready'
    case 'cut': return 'cut: in flight on the killed replica'
    case 'upstream-error': return 'connection broken by a replica'
    case 'abandoned': return 'no answer within the client\'s 10 s'
    default: {
      const status = String(answer.status)
      if (answer.status !== undefined && answer.status >= 500) {
        const hint = answer.retryAfter === true ? 'with Retry-After' : 'without Retry-After'
        return `${status} ${hint}${answer.message === undefined ? '' : `: ${answer.message}`}`
      }
      return status
    }
  }
}

export interface CountedAnswers {
  label: string
  count: number
  judgement: Judgement
}

export interface Verdict {
  bound: string
  measured: string
  met: boolean
}

export interface PhaseSummary {
  name: PhaseName
  title: string
  seconds: number
  faultSeconds?: number
  requests: Record<Source, number>
  answers: CountedAnswers[]
  /** Request ids of a few failures, to find in the replicas' logs. */
  failureSamples: string[]
  census: Census
  longestDisagreement?: Disagreement
  disagreements: number
  jobs: { rooms: number, one: number, none: number, noneDue: number, more: string[] }
  /** How long after its start each room's agent joined: median and longest, in ms (undefined when none joined). */
  agentJoinMs?: { median: number, max: number }
  webhooks: { delivered: Record<string, number>, dropped: number }
  verdicts: Verdict[]
  passed: boolean
}

export function phaseTitle (name: PhaseName, settings: Pick<Settings, 'stallSeconds' | 'webhooksCutSeconds' | 'baselineSeconds'>): string {
  switch (name) {
    case 'baseline': return `No fault (baseline, ${settings.baselineSeconds} s)`
    case 'redis-restart': return 'Redis restarted empty (SIGKILL, started again on its port)'
    case 'redis-stall': return `Redis stalled (SIGSTOP) for ${settings.stallSeconds} s`
    case 'livekit-stall': return `LiveKit stalled (SIGSTOP) for ${settings.stallSeconds} s`
    case 'replica-kill': return 'One replica SIGKILLed and started again'
    case 'webhooks-cut': return `Webhooks cut for ${settings.webhooksCutSeconds} s (the proxy drops them)`
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1)

export function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

function countAnswers (answers: AnswerRecord[], phase: PhaseFacts): { counted: CountedAnswers[], samples: string[] } {
  const counts = new Map<string, CountedAnswers>()
  const samples: string[] = []
  for (const answer of answers) {
    const judgement = judge(answer, phase)
    const label = answerLabel(answer)
    const key = `${judgement}|${label}`
    const counted = counts.get(key) ?? { label, count: 0, judgement }
    counted.count++
    counts.set(key, counted)
    if (judgement === 'failure' && samples.length < 5) samples.push(`${answer.route} (${answer.requestId ?? answer.source}): ${label}`)
  }
  const order: Judgement[] = ['ok', 'dependency away', 'cut by the kill', 'failure']
  const counted = [...counts.values()].sort((a, b) => order.indexOf(a.judgement) - order.indexOf(b.judgement) || b.count - a.count)
  return { counted, samples }
}

/** One phase's figures and verdicts, from the whole run's facts. */
export function summarizePhase (facts: ChaosFacts, phase: PhaseFacts): PhaseSummary {
  const inPhase = facts.answers.filter((answer) => answer.sentAt >= phase.start && answer.sentAt < phase.end)
  const requests: Record<Source, number> = { load: 0, check: 0, witness: 0 }
  for (const answer of inPhase) requests[answer.source]++
  const { counted, samples } = countAnswers(inPhase, phase)
  const failures = counted.filter((answer) => answer.judgement === 'failure').reduce((sum, answer) => sum + answer.count, 0)

  const overlapping = facts.disagreements.filter((d) => overlaps(d.from, d.to, phase.start, phase.end))
  const longest = overlapping.reduce<Disagreement | undefined>((best, d) => best === undefined || d.to - d.from > best.to - best.from ? d : best, undefined)
  const longestMs = longest === undefined ? 0 : longest.to - longest.from
  const bound = DISAGREEMENT_BOUNDS[phase.name]

  const rooms = facts.rooms.filter((room) => room.startedAt !== undefined && room.startedAt >= phase.start && room.startedAt < phase.end)
  const jobsOf = (room: RoomRecord) => Math.max(room.jobs, room.joins)
  const more = rooms.filter((room) => jobsOf(room) > 1)
  const none = rooms.filter((room) => jobsOf(room) === 0)
  const noneDue = none.filter((room) => room.lastLiveAt - (room.startedAt as number) >= AGENT_DUE_MS)
  const joinMs = rooms.flatMap((room) => room.agentJoinedAt === undefined ? [] : [room.agentJoinedAt - (room.startedAt as number)])

  const delivered: Record<string, number> = {}
  let dropped = 0
  for (const hook of facts.webhooks.filter((h) => h.at >= phase.start && h.at < phase.end)) {
    if (hook.dropped) dropped++
    else delivered[String(hook.status ?? 'no answer')] = (delivered[String(hook.status ?? 'no answer')] ?? 0) + 1
  }

  const verdicts: Verdict[] = [
    {
      bound: phase.away === undefined
        ? 'every answer 2xx, 404 or 429 (no 5xx, none unanswered)'
        : `every answer 2xx, 404 or 429; 503/504 with Retry-After and a documented message only while ${phase.away} is away`,
      measured: failures === 0 ? 'none other' : `${failures} other`,
      met: failures === 0
    },
    {
      bound: 'sessions lost: 0',
      measured: String(phase.census.lost.length),
      met: phase.census.lost.length === 0
    },
    {
      bound: 'rooms live in LiveKit after their DELETE answered 200: 0',
      measured: String(phase.census.outlived.length),
      met: phase.census.outlived.length === 0
    },
    {
      bound: `an answer disagrees with LiveKit for at most ${seconds(bound.ms)} s (${bound.promise})`,
      measured: longest === undefined ? 'never disagreed' : `${seconds(longestMs)} s (${longest.what}${longest.open ? ', still at the end' : ''})`,
      met: longestMs <= bound.ms
    },
    {
      bound: `one agent job per room (none only for a session shorter than ${seconds(AGENT_DUE_MS)} s)`,
      measured: `${more.length} with more, ${noneDue.length} due and without`,
      met: more.length === 0 && noneDue.length === 0
    }
  ]
  return {
    name: phase.name,
    title: phaseTitle(phase.name, facts.settings),
    seconds: (phase.end - phase.start) / 1000,
    faultSeconds: phase.faultFrom === undefined || phase.faultTo === undefined ? undefined : (phase.faultTo - phase.faultFrom) / 1000,
    requests,
    answers: counted,
    failureSamples: samples,
    census: phase.census,
    longestDisagreement: longest,
    disagreements: overlapping.length,
    jobs: {
      rooms: rooms.length,
      one: rooms.filter((room) => jobsOf(room) === 1).length,
      none: none.length,
      noneDue: noneDue.length,
      more: more.map((room) => `${room.room} (${room.jobs} jobs, ${room.joins} joins)`)
    },
    agentJoinMs: joinMs.length === 0 ? undefined : { median: median(joinMs), max: Math.max(...joinMs) },
    webhooks: { delivered, dropped },
    verdicts,
    passed: verdicts.every((verdict) => verdict.met)
  }
}

export interface ChaosSummary {
  phases: PhaseSummary[]
  /** The run's own end: the load test's clean-up, and what LiveKit still held. */
  end: Verdict[]
  passed: boolean
  exitCode: number
}

export function summarize (facts: ChaosFacts): ChaosSummary {
  const phases = facts.phases.map((phase) => summarizePhase(facts, phase))
  const end: Verdict[] = [
    { bound: 'the load test\'s clean-up ends every session (GET /active lists none)', measured: `${facts.leftBehind.length} left behind`, met: facts.leftBehind.length === 0 },
    { bound: 'LiveKit holds no room of the run once the clean-up is done', measured: `${facts.leftInLivekit.length} rooms`, met: facts.leftInLivekit.length === 0 }
  ]
  const passed = phases.every((phase) => phase.passed) && end.every((verdict) => verdict.met)
  return { phases, end, passed, exitCode: passed ? 0 : 1 }
}

/** A Markdown table; the columns in `text` are left-aligned, the others right-aligned. */
function table (header: string[], rows: string[][], text: number[]): string {
  const align = header.map((_, i) => text.includes(i) ? '---' : '---:')
  return [header, align, ...rows].map((cells) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`).join('\n')
}

const verdictWord = (met: boolean): string => met ? 'pass' : '**FAIL**'
const list = (items: string[], most = 5): string => items.length === 0 ? '' : `: ${items.slice(0, most).join(', ')}${items.length > most ? `, and ${items.length - most} more` : ''}`

function phaseSection (phase: PhaseSummary): string {
  const requests = phase.requests.load + phase.requests.check + phase.requests.witness
  const lines = [
    `### ${phase.title}: ${phase.passed ? 'pass' : 'FAIL'}`,
    '',
    `${seconds(phase.seconds * 1000)} s in all (witnesses started, ${phase.faultSeconds === undefined ? 'the load alone' : `the fault itself ${phase.faultSeconds.toFixed(1)} s, the settle phase`}, the census). ` +
      `${requests} requests: ${phase.requests.load} by the load-test users, ${phase.requests.check} by the checker, ${phase.requests.witness} for the witness sessions.`,
    '',
    table(['answers', 'count', 'judged'], phase.answers.map((answer) => [answer.label, String(answer.count), answer.judgement]), [0, 2])
  ]
  if (phase.failureSamples.length > 0) lines.push('', `First failures: ${phase.failureSamples.join('; ')}.`)
  const hooks = Object.entries(phase.webhooks.delivered).map(([status, count]) => `${status} × ${count}`)
  lines.push(
    '',
    `Webhooks: ${hooks.length === 0 ? 'none delivered' : `delivered and answered ${hooks.join(', ')}`}${phase.webhooks.dropped > 0 ? `; ${phase.webhooks.dropped} dropped by the cut` : ''}.`,
    `Sessions lost ${phase.census.lost.length}${list(phase.census.lost)}; ended and still in LiveKit ${phase.census.outlived.length}${list(phase.census.outlived)}; ` +
      `rooms nobody started that \`active\` does not list ${phase.census.orphans.length}${list(phase.census.orphans)}; ` +
      `sessions listed that LiveKit does not hold ${phase.census.ghosts.length}${list(phase.census.ghosts)}.`,
    `Disagreements with LiveKit: ${phase.disagreements}${phase.longestDisagreement === undefined ? '' : `, the longest ${seconds(phase.longestDisagreement.to - phase.longestDisagreement.from)} s (${phase.longestDisagreement.what}, ${phase.longestDisagreement.room})`}.`,
    `Agent jobs: ${phase.jobs.rooms} rooms started, ${phase.jobs.one} with one job, ${phase.jobs.none} with none (${phase.jobs.noneDue} of them lived ${seconds(AGENT_DUE_MS)} s or more), ${phase.jobs.more.length} with more${list(phase.jobs.more)}` +
      `${phase.agentJoinMs === undefined ? '' : `; the agent joined ${seconds(phase.agentJoinMs.median)} s after the start (median), at most ${seconds(phase.agentJoinMs.max)} s`}.`,
    '',
    table(['bound', 'measured', 'verdict'], phase.verdicts.map((v) => [v.bound, v.measured, verdictWord(v.met)]), [0, 1, 2])
  )
  return lines.join('\n')
}

/** RELIABILITY.md. */
export function markdown (facts: ChaosFacts, summary: ChaosSummary): string {
  const { machine, settings } = facts
  const overview = table(
    ['fault', 'requests', 'failed answers', 'sessions lost', 'longest disagreement', 'rooms with ≠ 1 job', 'verdict'],
    summary.phases.map((phase) => {
      const failed = phase.answers.filter((a) => a.judgement === 'failure').reduce((sum, a) => sum + a.count, 0)
      const longest = phase.longestDisagreement === undefined ? '0' : seconds(phase.longestDisagreement.to - phase.longestDisagreement.from)
      return [phase.title, String(phase.requests.load + phase.requests.check + phase.requests.witness), String(failed), String(phase.census.lost.length),
        `${longest} s`, `${phase.jobs.more.length} more, ${phase.jobs.noneDue} none`, verdictWord(phase.passed)]
    }),
    [0, 6]
  )
  return `# Reliability

Written by \`npm run chaos\` (\`scripts/chaos.ts\`). Started ${facts.startedAt.toISOString()}; the run took ${Math.round(facts.seconds)} s.
**Verdict: ${summary.passed ? 'every bound held' : 'bounds broken (FAIL below)'}.**

## Machine

- CPU: ${machine.cpu}, ${machine.cores} cores; RAM ${machine.ramGiB.toFixed(1)} GiB; load average (1 min) ${facts.loadBefore} before the run, ${facts.loadAfter} after it
- Node ${machine.node}, livekit-server ${machine.livekitServer}, redis-server ${machine.redisServer}
- ${machine.packages}
- The service at commit ${machine.commit}

## Settings

- Load: ${settings.users} load-test users (\`npm run loadtest\`'s mix: start, a status poll every 2 s, active, end after ${settings.sessionSeconds} s, again), and ${settings.witnesses} witness sessions per phase that live through the fault and its settle phase
- Faults, in order: ${settings.faults.length === 0 ? 'none' : settings.faults.join(', ')}; a ${settings.baselineSeconds} s baseline first; stalls of ${settings.stallSeconds} s, webhooks cut for ${settings.webhooksCutSeconds} s, ${settings.settleSeconds} s to settle after each
- The checker compares every ${settings.checkEveryMs} ms at most: ${facts.roundGapsMs.length} rounds were judged, ${seconds(median(facts.roundGapsMs))} s apart (median), at most ${seconds(Math.max(0, ...facts.roundGapsMs))} s (no round is judged while LiveKit is stalled)
- The balancer: ${settings.probe}
- The service: ${settings.service}

## How it runs

Everything on this machine, on loopback, every process tied to the run: one redis-server, one
livekit-server (\`room.auto_create: false\`) sending its webhooks to the run's balancer, two replicas
of the built service (\`node dist/src/server.js\`, environment only, sharing Redis) behind it, and the
reference agent worker, built (\`dist/agent/worker.js\`, 4 idle processes). The balancer sends each request to the next ready
replica (its \`/ready\` polled), tries another when a connection is refused (and, for GET and DELETE,
when one breaks), answers 502 itself when no replica is ready, and passes LiveKit's webhooks to
the replicas the same way, or drops them (answering LiveKit 200) while they are cut.

Each phase starts its witness sessions, applies its fault, undoes it (SIGCONT; a killed process
started again on its port), lets the service settle, then takes a census: every room of the run
that LiveKit holds before and after asking each owner's \`GET /active\`. A session *lost* is one
that was started (its start answered 200) and not ended, is live in LiveKit, and is not listed;
one whose DELETE was answered 200 and that LiveKit still holds outlived its end. Then the
witnesses are ended. Meanwhile the checker asks, each round, LiveKit (\`ListRooms\`,
\`ListParticipants\`), then every live session's \`status\` and each owner's \`active\` through the
balancer, then LiveKit again: an answer disagrees when it matches LiveKit neither before nor after
it (a room's existence, its people, its agent). A disagreement lasts from the first answer that
disagreed to the first that agreed again, so it is measured to within one round. Jobs per room
come from the agent worker's log (a job request per room, and the agent joining).

Answers are counted by the phase in which their request was sent, and judged so: 2xx, 404 (a
session that is gone) and 429 (a limit) are fine; a 503 or 504 is fine only with \`Retry-After\`
and a documented message, for a request under way while Redis or LiveKit was away or within
${seconds(RECOVERY_GRACE_MS)} s of its return; a POST in flight on the replica the run SIGKILLed is
counted as cut (no balancer may send it twice); anything else, a 502 from the balancer and a
request without an answer included, is a failure.

## Results

${overview}

${summary.phases.map(phaseSection).join('\n\n')}

### The run's end

${table(['bound', 'measured', 'verdict'], summary.end.map((v) => [v.bound, v.measured, verdictWord(v.met)]), [0, 1, 2])}
${facts.unnamedJobs > 0 ? `\n${facts.unnamedJobs} job requests were for rooms the checker never saw in LiveKit, so are counted in no phase.\n` : ''}`
}

/** The same, short, for the terminal. */
export function consoleSummary (summary: ChaosSummary): string {
  const lines: string[] = []
  for (const phase of summary.phases) {
    lines.push(`${phase.passed ? 'pass' : 'FAIL'}  ${phase.title}`)
    for (const verdict of phase.verdicts) if (!verdict.met) lines.push(`        ${verdict.bound}: ${verdict.measured}`)
  }
  for (const verdict of summary.end) if (!verdict.met) lines.push(`FAIL  ${verdict.bound}: ${verdict.measured}`)
  lines.push(summary.passed ? 'PASS: every bound held' : `FAIL (exit ${summary.exitCode}): bounds broken`)
  return `${lines.join('\n')}\n`
}
