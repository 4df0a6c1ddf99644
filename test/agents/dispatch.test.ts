import { ParticipantInfo_Kind as Kind, AgentDispatch, AgentDispatchState, Job, JobState, JobStatus } from '@livekit/protocol'
import fc from 'fast-check'
import { ParticipantInfo, ParticipantInfo_State as State, Room } from 'livekit-server-sdk'
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { AGENT_START_MS, agentMayStillCome, createAgentDispatch, dispatchClaimTtlMs, JOB_LISTING_MS, parseAgentNames } from '#agents/dispatch.js'
import type { DispatchLedger } from '#agents/ledger.js'
import { createMemoryDispatchLedger } from '#agents/memory-ledger.js'
import { dispatchLedgerContract } from './ledger.contract.js'
import type { Livekit } from '#livekit/livekit.js'
import { loadConfig } from '../../src/config.js'

const config = {
  LIVEKIT_AGENT_NAME: 'voice-agent',
  LIVEKIT_AGENT_NAMES: 'workout=coach-agent, diet = diet-agent',
  AGENT_JOIN_TIMEOUT_MS: 20,
  AGENT_DISPATCH_ATTEMPTS: 3
}
const AGAIN = 'voice agent not in the room and every dispatch lost: dispatching again'
const MISSING = 'voice agent missing: no dispatch was answered'
const DISPATCH_FAILED = 'agent dispatch failed'
const READ_FAILED = 'agent watch: reading the room from LiveKit failed; looking again later'
const CLAIM_LOST = 'agent watch: its claim on the room lapsed (another watch may hold it now); stopping'

/** A logger for one test: the messages it was warned with, in order, and nothing from another test. */
function recordingLog (): { log: FastifyBaseLogger, warnings: string[] } {
  const warnings: string[] = []
  return { log: { warn: (_details: object, message: string) => { warnings.push(message) } } as unknown as FastifyBaseLogger, warnings }
}
const session = { user_id: 'alice', agent_type: 'workout' as const, room_name: 'fitness-voice-alice-0a1b2c3d' }
const nobody = { people: 0, agentConnected: false }
const waiting = { people: 1, agentConnected: false }
/** A room old enough that its own dispatch has had its time. */
const OLD_ROOM_MS = 5000

type Call = 'listRooms' | 'listParticipants' | 'listDispatch' | 'createDispatch'

interface FakeOptions {
  /** The agent is in the room once LiveKit holds this many dispatches (the room's own included). */
  agentJoinsAt?: number
  roomExists?: boolean
  /** What LiveKit lists for each dispatch: no job (no worker took it), or a job a worker took. */
  job?: 'none' | 'running'
  /** How long ago LiveKit says each dispatch and its job were made; 0: just now, still being placed or started. */
  madeAgoMs?: number
  /** Whether a call fails (its kind, and the how-manyth LiveKit call it is), as in a LiveKit outage. */
  fails?: (call: Call, n: number) => boolean
  /** Runs as each call starts, before it answers: e.g. a status request landing meanwhile. */
  during?: (call: Call) => Promise<void> | void
}

/**
 * A LiveKit whose room, dispatch list, agent and faults the test controls: faults and timings a
 * real server cannot produce on demand. The room's own dispatch (from createRoom) is listed.
 */
function fakeLivekit ({ agentJoinsAt = Infinity, roomExists = true, job = 'none', madeAgoMs = 60_000, fails = () => false, during }: FakeOptions = {}) {
  const calls: Record<Call, number> = { listRooms: 0, listParticipants: 0, listDispatch: 0, createDispatch: 0 }
  let callsInAll = 0
  let inFlight = 0
  let mostInFlight = 0
  let dispatchedWithAgentIn = 0
  const listed: AgentDispatch[] = []
  const created: Array<{ room: string, agent: string, metadata: string | undefined }> = []
  function list (agentName: string): void {
    const at = BigInt(Date.now() - madeAgoMs) * 1_000_000n
    const jobs = job === 'running' ? [new Job({ id: `AJ_${listed.length}`, state: new JobState({ status: JobStatus.JS_RUNNING, startedAt: at }) })] : []
    listed.push(new AgentDispatch({ id: `AD_${listed.length}`, agentName, room: session.room_name, state: new AgentDispatchState({ createdAt: at, jobs }) }))
  }
  list('coach-agent')
  async function call<T> (kind: Call, answer: () => T): Promise<T> {
    calls[kind]++
    const n = callsInAll++
    inFlight++
    mostInFlight = Math.max(mostInFlight, inFlight)
    try {
      await during?.(kind)
      await sleep(1)
      if (fails(kind, n)) throw new TypeError('fetch failed')
      return answer()
    } finally {
      inFlight--
    }
  }
  const fake = {
    rooms: {
      listRooms: async () => await call('listRooms', () => roomExists ? [new Room({ name: session.room_name })] : []),
      listParticipants: async () => await call('listParticipants', () => listed.length >= agentJoinsAt ? [new ParticipantInfo({ identity: 'agent', kind: Kind.AGENT, state: State.ACTIVE })] : [])
    },
    agentDispatch: {
      listDispatch: async () => await call('listDispatch', () => listed.map((dispatch) => dispatch.clone())),
      createDispatch: async (room: string, agent: string, options?: { metadata?: string }) => await call('createDispatch', () => {
        if (listed.length >= agentJoinsAt) dispatchedWithAgentIn++
        created.push({ room, agent, metadata: options?.metadata })
        list(agent)
      })
    }
  }
  return { livekit: fake as unknown as Livekit, calls, created, mostInFlight: () => mostInFlight, dispatchedWithAgentIn: () => dispatchedWithAgentIn }
}

/** Polls `ready` until it holds; fails the wait after 5 s. */
async function until (ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2500; i++) {
    if (ready()) return
    await sleep(2)
  }
  throw new Error(`never happened: ${what}`)
}

async function settle (agents: { watching: () => number }) {
  await until(() => agents.watching() === 0, 'every watch ended')
}

const noAgents = { ...config, LIVEKIT_AGENT_NAME: '', LIVEKIT_AGENT_NAMES: '' }

t.test('agent names: the default, per-type overrides, and the type an agent name serves', async (t) => {
  const { log } = recordingLog()
  const { livekit } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  t.equal(agents.agentNameFor('workout'), 'coach-agent')
  t.equal(agents.agentNameFor('diet'), 'diet-agent')
  t.equal(agents.agentNameFor('general'), 'voice-agent')
  t.equal(agents.agentTypeServedBy('coach-agent'), 'workout')
  t.equal(agents.agentTypeServedBy('voice-agent'), 'general')
  t.equal(agents.agentTypeServedBy('stranger'), undefined)
  const dispatch = agents.roomDispatches('diet', { ...session, agent_type: 'diet' })
  t.equal(dispatch.length, 1)
  t.equal(dispatch[0]?.agentName, 'diet-agent')
  t.same(JSON.parse(dispatch[0]?.metadata ?? ''), { ...session, agent_type: 'diet' })

  const none = createAgentDispatch({ livekit, config: noAgents, log })
  t.equal(none.agentNameFor('general'), undefined)
  t.same(none.roomDispatches('general', session), [])
  t.equal(none.agentTypeServedBy(''), undefined)
})

t.test('parseAgentNames reads type=name pairs and keeps the last name of a type', async (t) => {
  t.same(parseAgentNames(''), {})
  t.same(parseAgentNames('workout=a,diet=b,workout=c'), { workout: 'c', diet: 'b' })
  t.same(parseAgentNames(' tracker = t-agent '), { tracker: 't-agent' })
})

t.test('a dispatch is lost only when LiveKit lists it with no job once placing is over, or its job is over', async (t) => {
  const now = 1_000_000_000
  const windows = { listingMs: JOB_LISTING_MS, startMs: AGENT_START_MS }
  const ns = (ms: number) => BigInt(ms) * 1_000_000n
  const dispatch = (createdAgoMs: number, ...jobs: Array<{ status: JobStatus, startedAgoMs?: number }>) => new AgentDispatch({
    state: new AgentDispatchState({
      createdAt: ns(now - createdAgoMs),
      jobs: jobs.map(({ status, startedAgoMs }) => new Job({ state: new JobState({ status, startedAt: startedAgoMs === undefined ? 0n : ns(now - startedAgoMs) }) }))
    })
  })
  t.equal(agentMayStillCome([], now, windows), false, 'no dispatch at all')
  t.equal(agentMayStillCome([dispatch(JOB_LISTING_MS - 1)], now, windows), true, 'no job yet: LiveKit may still be placing it')
  t.equal(agentMayStillCome([dispatch(JOB_LISTING_MS)], now, windows), false, 'no job, placing over: lost')
  t.equal(agentMayStillCome([dispatch(60_000, { status: JobStatus.JS_RUNNING, startedAgoMs: AGENT_START_MS - 1 })], now, windows), true, 'a worker took it: its agent is starting')
  t.equal(agentMayStillCome([dispatch(60_000, { status: JobStatus.JS_RUNNING, startedAgoMs: AGENT_START_MS })], now, windows), false, 'still listed running long after: its agent is gone')
  t.equal(agentMayStillCome([dispatch(AGENT_START_MS - 1, { status: JobStatus.JS_PENDING })], now, windows), true, 'pending, not started: aged from the dispatch')
  t.equal(agentMayStillCome([dispatch(AGENT_START_MS, { status: JobStatus.JS_PENDING })], now, windows), false)
  t.equal(agentMayStillCome([dispatch(0, { status: JobStatus.JS_SUCCESS, startedAgoMs: 0 }), dispatch(0, { status: JobStatus.JS_FAILED, startedAgoMs: 0 })], now, windows), false, 'ended jobs bring no agent')
  t.equal(agentMayStillCome([dispatch(60_000), dispatch(60_000, { status: JobStatus.JS_FAILED }, { status: JobStatus.JS_RUNNING, startedAgoMs: 1 })], now, windows), true, 'any one dispatch that may still bring the agent')
  t.equal(agentMayStillCome([new AgentDispatch()], now, windows), false, 'no state: judged by nothing, lost')
})

t.test('the agent state follows the room: connected, dispatching, missing, none', async (t) => {
  const { log } = recordingLog()
  const { livekit, created } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  const giveUpAfterMs = JOB_LISTING_MS * config.AGENT_DISPATCH_ATTEMPTS
  t.equal(await agents.agentStateRedispatchingIfLost(session, { people: 1, agentConnected: true }, 10_000), 'connected')
  t.equal(await agents.agentStateRedispatchingIfLost(session, nobody, 0), 'dispatching', 'a young room another replica may be watching')
  t.equal(await agents.agentStateRedispatchingIfLost(session, nobody, giveUpAfterMs - 1), 'dispatching')
  t.equal(await agents.agentStateRedispatchingIfLost(session, nobody, giveUpAfterMs), 'missing', 'every dispatch has had its time')
  await agents.watch(session)
  t.equal(await agents.agentStateRedispatchingIfLost(session, nobody, 1000), 'dispatching', 'watched here')
  await settle(agents)
  t.equal(await agents.agentStateRedispatchingIfLost(session, nobody, 1), 'missing', 'the watch here gave up')
  t.equal(created.length, 2)
  const none = createAgentDispatch({ livekit, config: noAgents, log })
  t.equal(await none.agentStateRedispatchingIfLost({ ...session, agent_type: 'general' }, waiting, 0), 'none')
  t.equal(await none.agentStateRedispatchingIfLost({ ...session, agent_type: 'general' }, { people: 0, agentConnected: true }, 0), 'connected')
})

t.test('an agent that never joins is dispatched again, a bounded number of times', async (t) => {
  const { log, warnings } = recordingLog()
  const { livekit, created } = fakeLivekit()
  const counted: string[] = []
  const agents = createAgentDispatch({ livekit, config, log, onDispatch: (outcome) => counted.push(outcome) })
  await agents.watch(session)
  t.equal(agents.watching(), 1)
  await settle(agents)
  t.equal(created.length, 2, 'attempts 2 and 3; the first came with the room')
  t.same(counted, ['again', 'again'], 'each counted (for agent_dispatches_total)')
  t.same(created.map((d) => d.agent), ['coach-agent', 'coach-agent'])
  t.same(JSON.parse(created[0]?.metadata ?? ''), session)
  t.same(warnings, [AGAIN, AGAIN, MISSING], 'each dispatch again warned of, then the missing agent')
})

t.test('the watch ends as soon as the agent is in the room', async (t) => {
  const { log } = recordingLog()
  const { livekit, created } = fakeLivekit({ agentJoinsAt: 2 })
  const agents = createAgentDispatch({ livekit, config: { ...config, AGENT_DISPATCH_ATTEMPTS: 10 }, log })
  await agents.watch(session)
  await settle(agents)
  t.equal(created.length, 1, 'one more dispatch brought the agent')
})

t.test('a dispatch LiveKit is still placing (listed, no job yet) is waited for, not repeated', async (t) => {
  const { log } = recordingLog()
  const { livekit, calls, created } = fakeLivekit({ job: 'none', madeAgoMs: 0 })
  const agents = createAgentDispatch({ livekit, config, log })
  await agents.watch(session)
  await until(() => calls.listDispatch >= 5 || agents.watching() === 0, 'five looks at the dispatches, or the watch ended')
  t.equal(created.length, 0, 'five looks, no second dispatch')
  t.equal(agents.watching(), 1, 'still watching')
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching')
  agents.close()
})

t.test('a dispatch whose job a worker took is waited for while its agent starts, never repeated', async (t) => {
  const { log } = recordingLog()
  const { livekit, calls, created } = fakeLivekit({ job: 'running', madeAgoMs: 0 })
  const agents = createAgentDispatch({ livekit, config, log })
  await agents.watch(session)
  // A person polls status the whole time, as a client does.
  const states: Array<Promise<string>> = []
  await until(() => {
    states.push(agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS))
    return calls.listDispatch >= 5 || agents.watching() === 0
  }, 'five looks at the dispatches, or the watch ended')
  t.equal(created.length, 0, 'the running job is waited for')
  t.same(new Set(await Promise.all(states)), new Set(['dispatching']))
  t.equal(agents.watching(), 1)
  agents.close()
})

t.test('a job LiveKit still lists as running long after it started is over: its agent is dispatched again', async (t) => {
  const { log } = recordingLog()
  const { livekit, created } = fakeLivekit({ job: 'running', madeAgoMs: AGENT_START_MS + 1000 })
  const agents = createAgentDispatch({ livekit, config, log })
  await agents.watch(session)
  await settle(agents)
  t.equal(created.length, 2, 'bounded as any other')
})

t.test('a person waiting without the agent gets it dispatched again (a GET\'s side effect), within the same bound', async (t) => {
  const { log } = recordingLog()
  const { livekit, created } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, 10), 'dispatching', 'too young: the room\'s own dispatch has its time')
  t.equal(agents.watching(), 0)
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching', 'the agent is absent: a watch looks at once')
  t.equal(agents.watching(), 1)
  await settle(agents)
  t.equal(created.length, 2, '3 dispatches in all, the room\'s own included')
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'missing', 'no more once the bound is reached')
  t.equal(agents.watching(), 0)
  t.equal(created.length, 2)
  await agents.unwatch(session.room_name)
  t.equal(await agents.agentStateRedispatchingIfLost(session, nobody, OLD_ROOM_MS), 'dispatching', 'forgotten: judged by its age')
})

t.test('a status landing while a look is under way starts no second watch; close stops every LiveKit call', async (t) => {
  const { log } = recordingLog()
  let release = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let holding = true
  const fake = fakeLivekit({
    during: async (call) => {
      // The first look stops at its first read until the test lets it go on.
      if (call === 'listRooms' && holding) { holding = false; await held }
    }
  })
  const agents = createAgentDispatch({ livekit: fake.livekit, config, log })
  await agents.watch(session)
  await until(() => fake.calls.listRooms === 1, 'the first look is under way')
  for (let i = 0; i < 5; i++) {
    t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching')
  }
  t.equal(agents.watching(), 1, 'one watch')
  t.equal(fake.created.length, 0, 'no dispatch while the look is under way')
  release()
  await until(() => fake.created.length === 1, 'the look found the dispatch lost')
  agents.close()
  t.equal(agents.watching(), 0)
  const after = { ...fake.calls }
  await sleep(config.AGENT_JOIN_TIMEOUT_MS * 10)
  t.same(fake.calls, after, 'no LiveKit call after close')
  t.ok(fake.mostInFlight() <= 2, 'never more than one look (two reads at once) in flight')
  await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS)
  t.equal(agents.watching(), 0, 'closed: a status starts no watch')
})

t.test('status calls at once for a session nobody watches (this replica restarted) start one watch', async (t) => {
  const { log } = recordingLog()
  const fake = fakeLivekit()
  const agents = createAgentDispatch({ livekit: fake.livekit, config, log })
  const states = await Promise.all(Array.from({ length: 8 }, async () => await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS)))
  t.same(new Set(states), new Set(['dispatching']))
  t.equal(agents.watching(), 1)
  await settle(agents)
  t.equal(fake.calls.createDispatch, 2, 'the room\'s own dispatch counted, then 2 more: the bound')
  t.ok(fake.mostInFlight() <= 2, 'one look at a time')
})

t.test('a failed dispatch counts once', async (t) => {
  const { log, warnings } = recordingLog()
  const { livekit, calls, created } = fakeLivekit({ fails: (call) => call === 'createDispatch' })
  const counted: string[] = []
  const agents = createAgentDispatch({ livekit, config, log, onDispatch: (outcome) => counted.push(outcome) })
  await agents.watch(session)
  await settle(agents)
  t.equal(calls.createDispatch, 2, 'attempts 2 and 3 were both tried')
  t.same(counted, ['failed', 'failed'])
  t.equal(created.length, 0)
  t.same(warnings, [AGAIN, DISPATCH_FAILED, AGAIN, DISPATCH_FAILED, MISSING], 'each failed dispatch warned of')
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'missing')
})

t.test('a failed LiveKit read counts as no dispatch: after an outage the session gets its whole bound', async (t) => {
  const { log, warnings } = recordingLog()
  const outage = 12
  const { livekit, calls, created } = fakeLivekit({ fails: (call) => call !== 'createDispatch' && calls.listRooms <= outage })
  const agents = createAgentDispatch({ livekit, config, log })
  await agents.watch(session)
  await until(() => calls.listRooms >= outage, 'looks throughout the outage')
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching', 'not missing during the outage')
  await settle(agents)
  t.equal(created.length, 2, 'then attempts 2 and 3')
  t.same(warnings, [...Array<string>(outage).fill(READ_FAILED), AGAIN, AGAIN, MISSING], 'each failed read warned of, none taken for a lost dispatch')

  let listings = 0
  const listing = fakeLivekit({ fails: (call) => call === 'listDispatch' && ++listings <= 3 })
  const second = createAgentDispatch({ livekit: listing.livekit, config, log: recordingLog().log })
  await second.watch(session)
  await settle(second)
  t.equal(listing.created.length, 2, 'the same when only the dispatch list fails')
})

t.test('property: under any LiveKit faults and status calls at any moment, at most AGENT_DISPATCH_ATTEMPTS dispatches and one watch', async (t) => {
  const { log } = recordingLog()
  const calls = fc.constantFrom<Call>('listRooms', 'listParticipants', 'listDispatch', 'createDispatch')
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 1, max: 4 }),
    fc.array(fc.boolean(), { maxLength: 20 }),
    fc.array(fc.option(calls, { nil: undefined }), { maxLength: 20 }),
    fc.constantFrom<'none' | 'running'>('none', 'running'),
    fc.integer({ min: 2, max: 6 }),
    async (attempts, faults, statusDuring, job, agentJoinsAt) => {
      let n = 0
      let mostWatches = 0
      const states: Array<Promise<string>> = []
      const agentsRef: { current?: ReturnType<typeof createAgentDispatch> } = {}
      const fake = fakeLivekit({
        job,
        agentJoinsAt,
        fails: (_call, i) => faults[i] ?? false,
        during: (call) => {
          if (statusDuring[n++] === call && agentsRef.current !== undefined) states.push(agentsRef.current.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS))
          mostWatches = Math.max(mostWatches, agentsRef.current?.watching() ?? 0)
        }
      })
      const agents = agentsRef.current = createAgentDispatch({ livekit: fake.livekit, config: { ...config, AGENT_JOIN_TIMEOUT_MS: 2, AGENT_DISPATCH_ATTEMPTS: attempts }, log })
      await agents.watch(session)
      await settle(agents)
      agents.close()
      await Promise.all(states)
      const dispatches = 1 + fake.calls.createDispatch
      const holds = dispatches <= attempts && fake.dispatchedWithAgentIn() === 0 && mostWatches <= 1 && fake.mostInFlight() <= 2
      if (!holds) t.comment({ attempts, dispatches, withAgentIn: fake.dispatchedWithAgentIn(), mostWatches, inFlight: fake.mostInFlight() })
      return holds
    }), { numRuns: 100 })
  t.pass('100 runs')
})

t.test('an ended session is never dispatched into', async (t) => {
  const { log } = recordingLog()
  const { livekit, created } = fakeLivekit({ roomExists: false })
  const agents = createAgentDispatch({ livekit, config, log })
  await agents.watch(session)
  await settle(agents)
  t.equal(created.length, 0)
  t.equal(await agents.agentStateRedispatchingIfLost(session, nobody, 0), 'dispatching', 'the ended room is forgotten')

  const second = fakeLivekit()
  const unwatched = createAgentDispatch({ livekit: second.livekit, config, log })
  await unwatched.watch(session)
  await unwatched.unwatch(session.room_name)
  t.equal(unwatched.watching(), 0)
  await sleep(config.AGENT_JOIN_TIMEOUT_MS * 5)
  t.equal(second.calls.listRooms, 0, 'unwatch cancels the next look')

  let endSession = () => {}
  const third = fakeLivekit({ during: async (call) => { if (call === 'listDispatch') endSession() } })
  const ending = createAgentDispatch({ livekit: third.livekit, config, log })
  let ended = Promise.resolve()
  endSession = () => { ended = ending.unwatch(session.room_name) }
  await ending.watch(session)
  await settle(ending)
  await ended
  await sleep(config.AGENT_JOIN_TIMEOUT_MS * 5)
  t.equal(third.calls.createDispatch, 0, 'a session ended during a look is not dispatched into')
  t.equal(third.calls.listDispatch, 1)
  t.equal(await ending.agentStateRedispatchingIfLost(session, nobody, 0), 'dispatching', 'nor counted: the ended room stays forgotten')
})

t.test('close cancels every watch; no dispatch configured means nothing to watch', async (t) => {
  const { log } = recordingLog()
  const { livekit, calls } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  await agents.watch(session)
  await agents.watch({ ...session, room_name: 'fitness-voice-alice-11111111' })
  t.equal(agents.watching(), 2)
  agents.close()
  t.equal(agents.watching(), 0)
  await agents.watch({ ...session, room_name: 'fitness-voice-alice-22222222' })
  t.equal(agents.watching(), 0, 'closed: watches nothing new')
  const none = createAgentDispatch({ livekit, config: noAgents, log })
  await none.watch({ ...session, agent_type: 'general' })
  t.equal(none.watching(), 0)
  await sleep(config.AGENT_JOIN_TIMEOUT_MS * 3)
  t.equal(calls.listRooms + calls.createDispatch, 0)
})

t.test('a claim lasts two of its watch\'s longest look cycles: 40 s with the default config, as the README says', async (t) => {
  const defaults = loadConfig({ env: false, dotenv: false, data: { LIVEKIT_URL: 'ws://127.0.0.1:1', LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's', JWT_SECRET: 'test-jwt-secret-that-signs-user-tokens' } })
  t.equal(dispatchClaimTtlMs(defaults), 40_000)
  t.equal(dispatchClaimTtlMs({ AGENT_JOIN_TIMEOUT_MS: 1000, LIVEKIT_REQUEST_TIMEOUT_MS: 100 }), 2400)
})

/** The ledger, with each call it answers recorded in `events` (beside LiveKit's, where the test records those too). */
function recordingLedger (ledger: DispatchLedger, events: string[]): DispatchLedger {
  return Object.fromEntries(Object.entries(ledger).map(([name, method]) => [name, async (...args: never[]) => {
    events.push(name)
    return await (method as (...args: never[]) => Promise<unknown>)(...args)
  }])) as unknown as DispatchLedger
}

t.test('a watch renews its claim on every look, and again just before each dispatch', async (t) => {
  const { log } = recordingLog()
  const events: string[] = []
  const fake = fakeLivekit({ during: (call) => { events.push(call) } })
  const agents = createAgentDispatch({ livekit: fake.livekit, config, log, ledger: recordingLedger(createMemoryDispatchLedger(), events) })
  await agents.watch(session)
  await settle(agents)
  const looks = events.filter((event) => event === 'listRooms').length
  t.equal(fake.calls.createDispatch, 2)
  t.ok(looks >= 3, `${looks} looks`)
  const beforeLooks = events.flatMap((event, i) => event === 'listRooms' ? [events[i - 1]] : [])
  t.same(new Set(beforeLooks), new Set(['renew']), 'each look starts with a renewal')
  const beforeDispatches = events.flatMap((event, i) => event === 'createDispatch' ? [events.slice(i - 3, i).join(' ')] : [])
  t.same(beforeDispatches, Array(2).fill('listDispatch renew countDispatchBelow'), 'each dispatch: after the reads, the claim checked, then the attempt counted')
})

t.test('a watch whose claim lapsed during a slow read stops without dispatching or releasing, and its replica starts no second watch', async (t) => {
  const { log, warnings } = recordingLog()
  let clock = 0
  const claimTtlMs = 1000
  const ledger = createMemoryDispatchLedger({ claimTtlMs, now: () => clock })
  let letGo = () => {}
  const held = new Promise<void>((resolve) => { letGo = resolve })
  const fake = fakeLivekit({ during: async (call) => { if (call === 'listDispatch') await held } })
  const agents = createAgentDispatch({ livekit: fake.livekit, config, log, ledger })
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching')
  await until(() => fake.calls.listDispatch === 1, 'the look is reading the dispatches')
  clock += claimTtlMs
  t.equal(await ledger.isClaimed(session.room_name), false, 'the claim lapsed')
  t.equal(await agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching')
  t.equal(await ledger.isClaimed(session.room_name), false, 'this replica claimed nothing: it watches the room already')
  t.equal(agents.watching(), 1)
  const other = await ledger.claim(session.room_name)
  t.type(other, 'number', 'another watch (another replica\'s) takes the room')
  letGo()
  await settle(agents)
  t.equal(fake.calls.createDispatch, 0, 'the watch that lost its claim never dispatched')
  t.same(warnings, [CLAIM_LOST], 'and said so once')
  t.equal(await ledger.renew(session.room_name, other ?? 0), true, 'the other watch\'s claim is left alone')
  t.equal(await ledger.dispatchesMade(session.room_name), 1, 'no attempt counted beyond the room\'s own')
})

t.test('a failing ledger is logged, never thrown at a request', async (t) => {
  const broken = (method: keyof DispatchLedger): DispatchLedger => ({ ...createMemoryDispatchLedger(), [method]: async () => { throw new Error(`${method} failed`) } })
  const { livekit, calls } = fakeLivekit()
  const noCountLog = recordingLog()
  const noCount = createAgentDispatch({ livekit, config, log: noCountLog.log, ledger: broken('countDispatchBelow') })
  await noCount.watch(session)
  t.equal(noCount.watching(), 0)
  t.same(noCountLog.warnings, ['agent watch could not start; status will heal the session'])
  await noCount.unwatch(session.room_name)

  const noReadLog = recordingLog()
  const noRead = createAgentDispatch({ livekit, config, log: noReadLog.log, ledger: broken('renew') })
  await noRead.watch(session)
  await settle(noRead)
  t.same(noReadLog.warnings, ['agent watch failed; status will heal the session'])
  t.equal(calls.createDispatch, 0)

  const noForgetLog = recordingLog()
  const noForget = createAgentDispatch({ livekit, config, log: noForgetLog.log, ledger: broken('forget') })
  await noForget.unwatch(session.room_name)
  t.same(noForgetLog.warnings, ['agent watch: forgetting the room failed'])
})

t.test('the in-memory dispatch ledger keeps the contract', async (t) => {
  dispatchLedgerContract(t, async (_t, claimTtlMs) => {
    const ledger = createMemoryDispatchLedger({ claimTtlMs })
    return [ledger, ledger]
  })
})

t.test('the in-memory dispatch ledger keeps a bounded memory', async (t) => {
  const ledger = createMemoryDispatchLedger({ capacity: 3 })
  for (const room of ['r1', 'r2', 'r3', 'r4']) await ledger.countDispatchBelow(room, 10)
  await ledger.countDispatchBelow('r2', 10)
  await ledger.countDispatchBelow('r5', 10)
  t.same(await Promise.all(['r1', 'r2', 'r3', 'r4', 'r5'].map(async (room) => await ledger.dispatchesMade(room))), [undefined, 2, undefined, 1, 1], 'past its capacity, the least recently counted rooms are forgotten')
})
