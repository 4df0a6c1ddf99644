import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ParticipantInfo_Kind as Kind } from '@livekit/protocol'
import { AccessToken, RoomAgentDispatch, RoomServiceClient, type ParticipantInfo } from 'livekit-server-sdk'
import t from 'tap'
import { spawnTied } from '../../scripts/child-process.js'
import { peakOf } from '../../agent/tone.js'
import { AGENT_TYPE_ATTRIBUTE, TRACK_NAME } from '../../agent/voice-agent.js'
import { startAgentWorker, type LogLine } from '../agent-worker.js'
import { agentAudio, joinRoom, publishMicrophone, readFrames, waitFor } from '../clients.js'
import { endWithTest, startLivekit } from '../helper.js'

const root = join(import.meta.dirname, '..', '..')
const AGENT_NAME = 'reference-agent'
/** A second worker whose agent gives up on a user after 2 s. */
const IMPATIENT_AGENT_NAME = 'impatient-agent'
const AGENT_NAME_ATTRIBUTE = 'lk.agent.name'

const livekit = await startLivekit(t)
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
// Started together: each takes about 2 s to register.
const [worker, impatientWorker] = await Promise.all([
  startAgentWorker(t, livekit, { agentName: AGENT_NAME, numIdle: 1 }),
  startAgentWorker(t, livekit, { agentName: IMPATIENT_AGENT_NAME, numIdle: 1, env: { AGENT_USER_WAIT_SECONDS: '2' } })
])
/** Agents join within a few seconds; poll for up to 20 s. */
const AGENT_WAIT = { tries: 100, intervalMs: 200 }

async function agentsIn (room: string): Promise<ParticipantInfo[]> {
  try {
    const participants = await rooms.listParticipants(room)
    return participants.filter((participant) => participant.kind === Kind.AGENT)
  } catch (err) {
    const { exitCode, signalCode } = livekit.process
    if (exitCode === null && signalCode === null) throw err
    throw new Error(`livekit-server is gone (exit ${exitCode ?? signalCode}), it crashed or something outside this test stopped it`, { cause: err })
  }
}

/** A room like the service's, with a dispatch of `agentName` whose metadata is `metadata(room name)`. */
async function createDispatchedRoom (agentName: string, metadata: (name: string) => string): Promise<string> {
  const name = `agent-test-${randomUUID().slice(0, 8)}`
  await rooms.createRoom({
    name,
    emptyTimeout: 300,
    departureTimeout: 20,
    agents: [new RoomAgentDispatch({ agentName, metadata: metadata(name) })]
  })
  return name
}

async function userToken (room: string, identity: string): Promise<string> {
  const token = new AccessToken(livekit.apiKey, livekit.apiSecret, { identity, ttl: 600 })
  token.addGrant({ roomJoin: true, room, canSubscribe: true, canPublish: true })
  return await token.toJwt()
}

function isLeaving (room: string) {
  return (line: LogLine) => line.msg === 'agent leaving room' && line.room === room
}

t.test('a dispatch brings the agent in; a user hears it; when the user leaves, so does the agent', async (t) => {
  const roomName = await createDispatchedRoom(AGENT_NAME, (name) => JSON.stringify({ user_id: 'user-1', agent_type: 'workout', room_name: name }))

  // The agent joins an empty room, as a participant of kind AGENT named after its worker.
  const agent = await waitFor(async () => {
    const [found] = await agentsIn(roomName)
    return found?.attributes[AGENT_TYPE_ATTRIBUTE] !== undefined ? found : undefined
  }, AGENT_WAIT)
  t.equal(agent.kind, Kind.AGENT, 'kind AGENT (4)')
  t.equal(agent.attributes[AGENT_NAME_ATTRIBUTE], AGENT_NAME, 'lk.agent.name is the worker\'s agent name')
  t.equal(agent.attributes[AGENT_TYPE_ATTRIBUTE], 'workout', 'the job read agent_type from the dispatch metadata')
  const joined = await worker.waitForLog((line) => line.msg === 'agent joined room' && line.room === roomName)
  t.match(joined, { user_id: 'user-1', agent_type: 'workout', room_name: roomName }, 'the job logged the dispatch metadata')

  // A user joins, with a microphone as the app has, and receives the agent's audio.
  const client = await joinRoom(t, livekit.url, await userToken(roomName, 'user-1'))
  await publishMicrophone(t, client.room)
  const audio = await agentAudio(client.room)
  t.equal(audio.participant.identity, agent.identity, 'the track is the agent\'s')
  t.equal(audio.track.name, TRACK_NAME)
  // Enough frames to be sure audio flows, and until the beep (every 3 s) is heard.
  const frames = await readFrames(audio.track, (frames) => frames.length >= 50 && frames.some((frame) => peakOf(frame.data) > 2000), 15_000)
  t.ok(frames.length >= 50, `received ${frames.length} audio frames`)
  t.ok(frames.every((frame) => frame.sampleRate === 48000 && frame.channels === 1), '48 kHz mono')
  t.ok(frames.some((frame) => peakOf(frame.data) > 2000), `heard the beep (loudest frame peak ${Math.max(...frames.map((frame) => peakOf(frame.data)))})`)
  t.match(await worker.waitForLog((line) => line.msg === 'user joined' && line.room === roomName), { identity: 'user-1' }, 'the agent saw the user')
  await client.room.disconnect()

  // The user has gone: the agent leaves.
  await waitFor(async () => (await agentsIn(roomName)).length === 0 ? true : undefined, AGENT_WAIT)
  t.pass('the agent left the room')
  t.match(await worker.waitForLog(isLeaving(roomName)), { reason: 'user left' })
  await rooms.deleteRoom(roomName)
})

t.test('bad dispatch metadata is logged and the agent serves anyway, as the default agent type', async (t) => {
  const roomName = await createDispatchedRoom(AGENT_NAME, () => 'not json')
  const agent = await waitFor(async () => {
    const [found] = await agentsIn(roomName)
    return found?.attributes[AGENT_TYPE_ATTRIBUTE] !== undefined ? found : undefined
  }, AGENT_WAIT)
  t.equal(agent.attributes[AGENT_TYPE_ATTRIBUTE], 'general')
  const warning = await worker.waitForLog((line) => line.msg === 'dispatch metadata is incomplete; serving anyway' && line.rawMetadata === 'not json')
  t.same(warning.problems, ['metadata is not JSON'])
  // Deleting the room disconnects the agent, which ends its job.
  await rooms.deleteRoom(roomName)
})

t.test('an agent whose user never comes leaves after AGENT_USER_WAIT_SECONDS', async (t) => {
  const roomName = await createDispatchedRoom(IMPATIENT_AGENT_NAME, (name) => JSON.stringify({ user_id: 'user-2', agent_type: 'diet', room_name: name }))
  await waitFor(async () => (await agentsIn(roomName)).length > 0 ? true : undefined, AGENT_WAIT)
  t.match(await impatientWorker.waitForLog(isLeaving(roomName)), { reason: 'no user joined' })
  await waitFor(async () => (await agentsIn(roomName)).length === 0 ? true : undefined, AGENT_WAIT)
  t.pass('the agent left the empty room')
  await rooms.deleteRoom(roomName)
})

t.test('a killed worker, restarted, serves dispatches again; SIGTERM stops it', async (t) => {
  const restarted = await impatientWorker.restart()
  const roomName = await createDispatchedRoom(IMPATIENT_AGENT_NAME, (name) => JSON.stringify({ user_id: 'user-3', agent_type: 'tracker', room_name: name }))
  await waitFor(async () => (await agentsIn(roomName)).length > 0 ? true : undefined, AGENT_WAIT)
  t.match(await restarted.waitForLog(isLeaving(roomName)), { reason: 'no user joined' }, 'the new worker ran the job')
  await rooms.deleteRoom(roomName)
  t.equal(await restarted.stop(), 143, 'exit code 143 after SIGTERM')
})

t.test('the worker refuses bad configuration with one message and a non-zero exit', async (t) => {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE }
  const worker = spawnTied(process.execPath, ['--import', 'tsx', 'agent/worker.ts', 'start'], {
    name: 'misconfigured agent worker',
    cwd: root,
    env: {
      ...env,
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: livekit.apiKey,
      LIVEKIT_API_SECRET: livekit.apiSecret,
      LIVEKIT_AGENT_NAME: '',
      LIVEKIT_WORKER_NUM_IDLE: '0',
      AGENT_HEALTH_PORT: '70000'
    }
  })
  endWithTest(t, worker)
  const code = await Promise.race([worker.exited, sleep(20_000, 'timeout' as const, { ref: false })])
  t.equal(code, 1, 'exit code 1')
  const message = worker.output()
  t.equal(message.trim().split('\n').length, 1, 'one line')
  t.match(message, /^Invalid configuration: /)
  for (const key of ['LIVEKIT_AGENT_NAME', 'LIVEKIT_WORKER_NUM_IDLE', 'AGENT_HEALTH_PORT']) t.match(message, key, `names ${key}`)
})
