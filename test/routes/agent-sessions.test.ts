import { DisconnectReason } from '@livekit/rtc-node'
import { RoomServiceClient } from 'livekit-server-sdk'
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { peakOf } from '../../agent/tone.js'
import { startAgentWorker } from '../agent-worker.js'
import { agentAudio, joinRoom, publishMicrophone, readFrames, waitFor, within } from '../clients.js'
import { bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'

/** Sessions end to end: the service, a real livekit-server, the real agent worker and real clients. */

const livekit = await startLivekit(t)
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const worker = await startAgentWorker(t, livekit, { agentName: 'voice-agent' })
const app = await build(t, { ...livekitConfig(livekit), LIVEKIT_AGENT_NAME: 'voice-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 })
const alice = bearer(userToken(app, 'alice'))
const AGENT_WAIT = { tries: 150, intervalMs: 200 }

async function start (headers = alice) {
  return (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers, payload: { agent_type: 'workout' } })).json()
}

async function status (roomName: string, headers = alice) {
  return (await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${roomName}/status`, headers })).json()
}

async function statusWhen (roomName: string, ready: (s: Record<string, unknown>) => boolean) {
  try {
    return await waitFor(async () => {
      const s = await status(roomName)
      return ready(s) ? s : undefined
    }, AGENT_WAIT)
  } catch (err) {
    // What the worker was doing meanwhile, for whoever reads a failure.
    t.comment(worker.logs.slice(-15).map((line) => JSON.stringify(line)).join('\n'))
    throw err
  }
}

t.test('start brings the agent in; status follows the user joining and leaving; agents are never people', async (t) => {
  const session = await start()
  const withAgent = await statusWhen(session.room_name, (s) => s.agent_connected === true)
  t.match(withAgent, { active: false, participants: 0, agent_connected: true, agent_state: 'connected' })

  const client = await joinRoom(t, session.livekit_url, session.token)
  await publishMicrophone(t, client.room)
  const audio = await agentAudio(client.room)
  const frames = await readFrames(audio.track, (frames) => frames.some((frame) => peakOf(frame.data) > 2000), 15_000)
  t.ok(frames.some((frame) => peakOf(frame.data) > 2000), `the user hears the agent (${frames.length} frames)`)
  t.match(await statusWhen(session.room_name, (s) => s.active === true), { active: true, participants: 1, agent_connected: true, agent_state: 'connected' })
  const listed = (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })).json()
  t.match(listed.sessions.find((s: { room_name: string }) => s.room_name === session.room_name), { participants: 1, agent_state: 'connected' })

  await client.room.disconnect()
  t.match(await statusWhen(session.room_name, (s) => s.active === false), { active: false, participants: 0 })
})

t.test('DELETE disconnects the user and the agent, and the room does not come back', async (t) => {
  const session = await start()
  const client = await joinRoom(t, session.livekit_url, session.token)
  await statusWhen(session.room_name, (s) => s.agent_connected === true)
  const ended = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${session.room_name}`, headers: alice })
  t.equal(ended.statusCode, 200)
  t.equal(await within(client.disconnected, 10_000), DisconnectReason.ROOM_DELETED, 'the client sees the room deleted')
  t.same(await rooms.listParticipants(session.room_name), [])
  t.equal((await status(session.room_name)).statusCode, 404)
})

t.test('a session ended while its agent is still connecting stays ended (no zombie room)', async (t) => {
  const session = await start()
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${session.room_name}`, headers: alice })).statusCode, 200)
  // A late agent would re-create the room about 15 s later if LiveKit allowed it (room.auto_create).
  for (let i = 0; i < 10; i++) {
    t.same(await rooms.listRooms([session.room_name]), [], `no room after ${(i + 1) * 2} s`)
    await sleep(2000)
  }
})

t.test('an agent whose worker registers late is dispatched again and comes; one that never does is reported missing', async (t) => {
  const late = await build(t, { ...livekitConfig(livekit), LIVEKIT_AGENT_NAME: 'late-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 })
  const nobody = await build(t, { ...livekitConfig(livekit), LIVEKIT_AGENT_NAME: 'nobody-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 2 })
  const bob = bearer(userToken(late, 'bob'))
  const lateSession = (await late.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bob })).json()
  const lostSession = (await nobody.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bob })).json()

  const waiting = (await late.inject({ method: 'GET', url: `/api/v1/voice-sessions/${lateSession.room_name}/status`, headers: bob })).json()
  t.match(waiting, { agent_connected: false, agent_state: 'dispatching' }, 'no worker yet: the dispatch is dropped by LiveKit')

  await sleep(1500)
  await startAgentWorker(t, livekit, { agentName: 'late-agent' })
  const arrived = await waitFor(async () => {
    const s = (await late.inject({ method: 'GET', url: `/api/v1/voice-sessions/${lateSession.room_name}/status`, headers: bob })).json()
    return s.agent_connected === true ? s : undefined
  }, AGENT_WAIT)
  t.match(arrived, { agent_connected: true, agent_state: 'connected' }, 'a later dispatch reached the new worker')

  const missing = await waitFor(async () => {
    const s = (await nobody.inject({ method: 'GET', url: `/api/v1/voice-sessions/${lostSession.room_name}/status`, headers: bob })).json()
    return s.agent_state === 'missing' ? s : undefined
  }, AGENT_WAIT)
  t.match(missing, { agent_connected: false, agent_state: 'missing' })
  t.equal(nobody.agents.watching(), 0, 'the watch gave up after its attempts')
})

t.test('the agent\'s worker dies while the user waits: once a worker is back, the agent is dispatched again', async (t) => {
  const worker = await startAgentWorker(t, livekit, { agentName: 'fragile-agent' })
  const fragile = await build(t, { ...livekitConfig(livekit), LIVEKIT_AGENT_NAME: 'fragile-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 })
  const carol = bearer(userToken(fragile, 'carol'))
  const session = (await fragile.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: carol })).json()
  const statusOf = async () => (await fragile.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: carol })).json()
  const client = await joinRoom(t, session.livekit_url, session.token)
  await publishMicrophone(t, client.room)
  await waitFor(async () => (await statusOf()).agent_connected === true ? true : undefined, AGENT_WAIT)

  await worker.kill()
  // LiveKit holds a participant whose connection broke open for a while, in case it resumes.
  const killedAt = Date.now()
  const lost = await waitFor(async () => {
    const s = await statusOf()
    return s.agent_connected === false ? s : undefined
  }, { tries: 300, intervalMs: 200 })
  t.comment(`the agent left the room ${Date.now() - killedAt} ms after its worker was killed`)
  t.match(lost, { active: true, participants: 1, agent_connected: false, agent_state: 'dispatching' }, 'the user waits; the agent is being dispatched again')

  await worker.restart()
  const back = await waitFor(async () => {
    const s = await statusOf()
    return s.agent_connected === true ? s : undefined
  }, AGENT_WAIT)
  t.match(back, { active: true, participants: 1, agent_connected: true, agent_state: 'connected' })
  t.ok(client.room.isConnected, 'the user stayed in the room throughout')
})
