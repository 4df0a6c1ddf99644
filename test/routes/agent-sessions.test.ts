import { DisconnectReason } from '@livekit/rtc-node'
import t from 'tap'
import { peakOf } from '../../agent/tone.js'
import { startAgentWorker } from '../agent-worker.js'
import { agentAudio, joinRoom, pollUntil, publishMicrophone, readFrames, within } from '../clients.js'
import { bearer, buildWithLivekit, userToken } from '../helper.js'
import { AGENT_WAIT, startSession, statusWhen } from '../sessions.js'

/**
 * Sessions end to end: the service, a real livekit-server, the real agent worker and real clients.
 * The agent's other paths (a late worker, a worker that dies) have files of their own, so that
 * each file stays short on a busy machine.
 */

// LiveKit's webhooks keep the service's session index current, as operators run it.
const { app, livekit } = await buildWithLivekit(t, { LIVEKIT_AGENT_NAME: 'voice-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 })
const worker = await startAgentWorker(t, livekit, { agentName: 'voice-agent' })
const alice = bearer(userToken(app, 'alice'))

/** The jobs the worker is running, from its own /worker endpoint. */
async function activeJobs (): Promise<number> {
  const info = await (await fetch(new URL('/worker', worker.healthUrl))).json() as { active_jobs: number }
  return info.active_jobs
}

// First, while the worker has no job but this session's: "no job left" is then about its room alone.
t.test('DELETE disconnects the user and ends the agent\'s job; the session is then not found', async (t) => {
  const session = await startSession(app, alice)
  const client = await joinRoom(t, session.livekit_url, session.token)
  await statusWhen(app, alice, session.room_name, (s) => s.agent_connected === true)
  t.ok(await activeJobs() >= 1, 'the worker runs the agent\'s job')
  const ended = await app.inject({ method: 'DELETE', url: `/api/v1/voice-sessions/${session.room_name}`, headers: alice })
  t.equal(ended.statusCode, 200)
  t.equal(await within(client.disconnected, 10_000), DisconnectReason.ROOM_DELETED, 'the client sees the room deleted')
  t.equal(await pollUntil(activeJobs, (jobs) => jobs === 0, AGENT_WAIT), 0, 'the worker has no job left: the agent left with the room')
  const gone = await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${session.room_name}/status`, headers: alice })
  t.equal(gone.statusCode, 404)
  t.same(gone.json(), { statusCode: 404, error: 'Not Found', message: 'Session not found' })
})

t.test('start brings the agent in; status follows the user joining and leaving; agents are never people', async (t) => {
  const session = await startSession(app, alice)
  const withAgent = await statusWhen(app, alice, session.room_name, (s) => s.agent_connected === true)
  t.match(withAgent, { active: false, participants: 0, agent_connected: true, agent_state: 'connected' })

  const client = await joinRoom(t, session.livekit_url, session.token)
  await publishMicrophone(t, client.room)
  const audio = await agentAudio(client.room)
  const frames = await readFrames(audio.track, (frames) => frames.some((frame) => peakOf(frame.data) > 2000), 15_000)
  t.ok(frames.some((frame) => peakOf(frame.data) > 2000), `the user hears the agent (${frames.length} frames)`)
  t.match(await statusWhen(app, alice, session.room_name, (s) => s.active === true), { active: true, participants: 1, agent_connected: true, agent_state: 'connected' })
  const listed = (await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice })).json()
  t.match(listed.sessions.find((s: { room_name: string }) => s.room_name === session.room_name), { participants: 1, agent_state: 'connected' })

  await client.room.disconnect()
  t.match(await statusWhen(app, alice, session.room_name, (s) => s.active === false), { active: false, participants: 0 })
})
