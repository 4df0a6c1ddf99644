import { ParticipantInfo_Kind as Kind } from '@livekit/protocol'
import { ParticipantInfo, Room } from 'livekit-server-sdk'
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { createAgentDispatch, parseAgentNames } from '../../src/agent-dispatch.js'
import type { Livekit } from '../../src/livekit.js'

const config = {
  LIVEKIT_AGENT_NAME: 'voice-agent',
  LIVEKIT_AGENT_NAMES: 'workout=coach-agent, diet = diet-agent',
  AGENT_JOIN_TIMEOUT_MS: 20,
  AGENT_DISPATCH_ATTEMPTS: 3
}
const warnings: string[] = []
const log = { warn: (_details: object, message: string) => { warnings.push(message) } } as unknown as FastifyBaseLogger
const session = { user_id: 'alice', agent_type: 'workout' as const, room_name: 'fitness-voice-alice-0a1b2c3d' }

/** A LiveKit whose room and agent the test controls: a fault the real server cannot produce on demand. */
function fakeLivekit ({ agentJoinsAfter = Infinity, roomExists = true, failing = false } = {}) {
  const dispatches: Array<{ room: string, agent: string, metadata: string | undefined }> = []
  const fake = {
    rooms: {
      listRooms: async () => {
        if (failing) throw new TypeError('fetch failed')
        return roomExists ? [new Room({ name: session.room_name })] : []
      },
      listParticipants: async () => dispatches.length + 1 >= agentJoinsAfter ? [new ParticipantInfo({ identity: 'agent', kind: Kind.AGENT })] : []
    },
    agentDispatch: {
      createDispatch: async (room: string, agent: string, options?: { metadata?: string }) => {
        dispatches.push({ room, agent, metadata: options?.metadata })
      }
    }
  }
  return { livekit: fake as unknown as Livekit, dispatches }
}

async function settle (agents: { watching: () => number }) {
  for (let i = 0; i < 100 && agents.watching() > 0; i++) await sleep(10)
  await sleep(50)
}

t.test('agent names: the default, per-type overrides, and the type an agent name serves', async (t) => {
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

  const none = createAgentDispatch({ livekit, config: { ...config, LIVEKIT_AGENT_NAME: '', LIVEKIT_AGENT_NAMES: '' }, log })
  t.equal(none.agentNameFor('general'), undefined)
  t.same(none.roomDispatches('general', session), [])
  t.equal(none.agentTypeServedBy(''), undefined)
})

t.test('parseAgentNames reads type=name pairs and keeps the last name of a type', async (t) => {
  t.same(parseAgentNames(''), {})
  t.same(parseAgentNames('workout=a,diet=b,workout=c'), { workout: 'c', diet: 'b' })
  t.same(parseAgentNames(' tracker = t-agent '), { tracker: 't-agent' })
})

const nobody = { people: 0, agentConnected: false }
const waiting = { people: 1, agentConnected: false }

t.test('the agent state follows the room: connected, dispatching, missing, none', async (t) => {
  const { livekit, dispatches } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  t.equal(agents.check(session, { people: 1, agentConnected: true }, 10_000), 'connected')
  t.equal(agents.check(session, nobody, 0), 'dispatching', 'a young room another replica may be watching')
  t.equal(agents.check(session, nobody, 59), 'dispatching')
  t.equal(agents.check(session, nobody, 60), 'missing', 'every dispatch has had its time')
  agents.watch(session)
  t.equal(agents.check(session, nobody, 1000), 'dispatching', 'watched here')
  await settle(agents)
  t.equal(agents.check(session, nobody, 1), 'missing', 'the watch here gave up')
  t.equal(dispatches.length, 2)
  const none = createAgentDispatch({ livekit, config: { ...config, LIVEKIT_AGENT_NAME: '', LIVEKIT_AGENT_NAMES: '' }, log })
  t.equal(none.check({ ...session, agent_type: 'general' }, waiting, 0), 'none')
  t.equal(none.check({ ...session, agent_type: 'general' }, { people: 0, agentConnected: true }, 0), 'connected')
})

t.test('a person waiting without the agent gets it dispatched again, within the same bound', async (t) => {
  const { livekit, dispatches } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  t.equal(agents.check(session, waiting, 10), 'dispatching', 'too young: the room\'s own dispatch has its time')
  t.equal(dispatches.length, 0)
  t.equal(agents.check(session, waiting, 5000), 'dispatching', 'the agent left: dispatched again at once')
  t.equal(dispatches.length, 1)
  t.equal(agents.watching(), 1, 'and followed')
  await settle(agents)
  t.equal(dispatches.length, 2, '3 dispatches in all, the room\'s own included')
  t.equal(agents.check(session, waiting, 5000), 'missing', 'no more once the bound is reached')
  t.equal(dispatches.length, 2)
  agents.unwatch(session.room_name)
  t.equal(agents.check(session, nobody, 5000), 'missing')
})

t.test('only the most recent rooms are remembered', async (t) => {
  const { livekit } = fakeLivekit({ roomExists: false })
  const agents = createAgentDispatch({ livekit, config: { ...config, AGENT_JOIN_TIMEOUT_MS: 60_000 }, log })
  for (let i = 0; i < 10_005; i++) agents.watch({ ...session, room_name: `room-${i}` })
  agents.close()
  t.equal(agents.check({ ...session, room_name: 'room-0' }, nobody, 0), 'dispatching', 'forgotten: judged by its age')
  t.equal(agents.check({ ...session, room_name: 'room-10004' }, nobody, 0), 'missing', 'remembered: its watch ended')
})

t.test('an agent that never joins is dispatched again, a bounded number of times', async (t) => {
  const { livekit, dispatches } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  agents.watch(session)
  t.equal(agents.watching(), 1)
  await settle(agents)
  t.equal(dispatches.length, 2, 'attempts 2 and 3; the first came with the room')
  t.same(dispatches.map((d) => d.agent), ['coach-agent', 'coach-agent'])
  t.same(JSON.parse(dispatches[0]?.metadata ?? ''), session)
  t.equal(agents.watching(), 0, 'the watch ends')
  t.equal(warnings.at(-1), 'voice agent missing: no dispatch was answered')
})

t.test('the watch ends as soon as the agent is in the room', async (t) => {
  const { livekit, dispatches } = fakeLivekit({ agentJoinsAfter: 2 })
  const agents = createAgentDispatch({ livekit, config: { ...config, AGENT_DISPATCH_ATTEMPTS: 10 }, log })
  agents.watch(session)
  await settle(agents)
  t.equal(dispatches.length, 1, 'one more dispatch brought the agent')
  t.equal(agents.watching(), 0)
})

t.test('an ended session is never dispatched into', async (t) => {
  const { livekit, dispatches } = fakeLivekit({ roomExists: false })
  const agents = createAgentDispatch({ livekit, config, log })
  agents.watch(session)
  await settle(agents)
  t.equal(dispatches.length, 0)

  const second = fakeLivekit()
  const unwatched = createAgentDispatch({ livekit: second.livekit, config, log })
  unwatched.watch(session)
  unwatched.unwatch(session.room_name)
  await sleep(100)
  t.equal(second.dispatches.length, 0, 'unwatch cancels the next check')
})

t.test('LiveKit failing during the watch: logged, bounded, no unhandled rejection', async (t) => {
  const { livekit, dispatches } = fakeLivekit({ failing: true })
  const agents = createAgentDispatch({ livekit, config, log })
  agents.watch(session)
  await settle(agents)
  t.equal(dispatches.length, 0)
  t.equal(agents.watching(), 0)
  t.equal(warnings.at(-1), 'agent watch: a LiveKit call failed')
})

t.test('close cancels every watch; no dispatch configured means nothing to watch', async (t) => {
  const { livekit, dispatches } = fakeLivekit()
  const agents = createAgentDispatch({ livekit, config, log })
  agents.watch(session)
  agents.watch({ ...session, room_name: 'fitness-voice-alice-11111111' })
  t.equal(agents.watching(), 2)
  agents.close()
  t.equal(agents.watching(), 0)
  const none = createAgentDispatch({ livekit, config: { ...config, LIVEKIT_AGENT_NAME: '', LIVEKIT_AGENT_NAMES: '' }, log })
  none.watch({ ...session, agent_type: 'general' })
  t.equal(none.watching(), 0)
  await sleep(60)
  t.equal(dispatches.length, 0)
})
