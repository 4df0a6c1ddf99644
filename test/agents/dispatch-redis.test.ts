import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk'
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { startLivekit } from '../helper.js'
import { recordingProxy } from '../livekit-proxy.js'
import { createAgentDispatch } from '#agents/dispatch.js'
import { createRedisDispatchLedger } from '#agents/redis-ledger.js'
import { createLivekit } from '#livekit/livekit.js'
import { DEFAULT_KEY_PREFIX, redisKeys } from '#redis/keys.js'

const keys = redisKeys(DEFAULT_KEY_PREFIX)
/** Short, so that a slow read outlasts it; each watch renews it on every look (every 200 ms here). */
const CLAIM_TTL_MS = 2000
const config = { LIVEKIT_AGENT_NAME: 'fenced-agent', LIVEKIT_AGENT_NAMES: '', AGENT_JOIN_TIMEOUT_MS: 200, AGENT_DISPATCH_ATTEMPTS: 3 }
const session = { user_id: 'alice', agent_type: 'general' as const, room_name: 'fitness-voice-alice-fe9ce001' }
const waiting = { people: 1, agentConnected: false }
/** A room old enough that its own dispatch has had its time. */
const OLD_ROOM_MS = 60_000
const CLAIM_LOST = 'agent watch: its claim on the room lapsed (another watch may hold it now); stopping'

/** Waits (20 s at most) until `ready` holds. */
async function until (ready: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await ready()) return
    await sleep(50)
  }
  throw new Error(`never happened: ${what}`)
}

const count = (calls: string[], method: string): number => calls.filter((call) => call === method).length

t.test('two replicas on one Redis: a watch whose claim lapsed during a slow LiveKit read stops, and the room gets one dispatch per attempt', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  const livekit = await startLivekit(t)
  const connect = (t: Test): Redis => {
    const client = new Redis(redis.url)
    t.teardown(() => client.quit())
    return client
  }
  const admin = connect(t)

  // Replica one's LiveKit answers its first ListDispatch late: the answer LiveKit gave before replica two dispatched.
  let letGo = () => {}
  const held = new Promise<void>((resolve) => { letGo = resolve })
  let holding = true
  const slow = await recordingProxy(t, livekit.port, {
    holdAnswer: async (call) => {
      if (call === 'ListDispatch' && holding) {
        holding = false
        await held
      }
    }
  })
  const fast = await recordingProxy(t, livekit.port)

  /** One replica's dispatcher: its own Redis connection and LiveKit client, the ledger shared through Redis. */
  function replica (livekitUrl: string) {
    const warnings: string[] = []
    const log = { warn: (_details: object, message: string) => { warnings.push(message) } } as unknown as FastifyBaseLogger
    const client = createLivekit({ ...config, LIVEKIT_URL: livekitUrl, LIVEKIT_API_KEY: livekit.apiKey, LIVEKIT_API_SECRET: livekit.apiSecret, LIVEKIT_REQUEST_TIMEOUT_MS: 20_000, LIVEKIT_TOKEN_TTL_SECONDS: 600 })
    const ledger = createRedisDispatchLedger({ redis: connect(t), keys, claimTtlMs: CLAIM_TTL_MS })
    const agents = createAgentDispatch({ livekit: client, config, log, ledger })
    t.teardown(() => { agents.close(); client.close() })
    return { agents, ledger, warnings }
  }
  const one = replica(slow.url)
  const two = replica(fast.url)

  // A person waits in a room whose agent never came: no dispatch listed, so a watch dispatches at its first look.
  await new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret).createRoom({ name: session.room_name, emptyTimeout: 300 })

  t.equal(await one.agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching', 'replica one starts a watch')
  await until(() => count(slow.calls, 'ListDispatch') === 1, 'replica one\'s watch is reading the dispatches')
  await until(async () => !await admin.exists(keys.dispatchClaim(session.room_name)), 'replica one\'s claim lapsed during the read')

  t.equal(await one.agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching')
  t.equal(await admin.exists(keys.dispatchClaim(session.room_name)), 0, 'replica one claims nothing again: it watches the room already')
  t.equal(one.agents.watching(), 1)

  t.equal(await two.agents.agentStateRedispatchingIfLost(session, waiting, OLD_ROOM_MS), 'dispatching', 'replica two takes the room over')
  await until(() => count(fast.calls, 'CreateDispatch') === 1, 'replica two dispatched')
  const takenWith = await admin.get(keys.dispatchClaim(session.room_name))

  letGo()
  await until(() => one.agents.watching() === 0, 'replica one\'s watch stopped')
  t.same(one.warnings, [CLAIM_LOST], 'replica one saw its claim lost, and said so once')
  t.equal(count(slow.calls, 'CreateDispatch'), 0, 'replica one never dispatched: its read said every dispatch was lost, its claim said otherwise')
  t.ok(count(slow.calls, 'ListDispatch') >= 1)
  t.equal(count(fast.calls, 'CreateDispatch'), 1, 'one CreateDispatch in all')
  t.equal(await admin.get(keys.dispatchClaim(session.room_name)), takenWith, 'replica two\'s claim stays, with its fence')
  t.equal(await two.ledger.dispatchesMade(session.room_name), 2, 'the room\'s own dispatch and replica two\'s: one CreateDispatch per attempt')
  const listed = await new AgentDispatchClient(livekit.url, livekit.apiKey, livekit.apiSecret).listDispatch(session.room_name)
  // LiveKit lists the room's automatic dispatch (for workers without an agent name) beside ours.
  t.equal(listed.filter((dispatch) => dispatch.agentName === 'fenced-agent').length, 1, 'LiveKit holds one dispatch of the agent')
  t.equal(two.agents.watching(), 1, 'replica two watches on')
})
