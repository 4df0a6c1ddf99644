import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { startAgentWorker } from '../agent-worker.js'
import { joinRoom, publishMicrophone } from '../clients.js'
import { bearer, buildWithLivekit, userToken } from '../helper.js'
import { startSession, statusWhen } from '../sessions.js'

/** The agent's worker dies mid-session; LiveKit takes about 20 s to notice the agent is gone. */

/** Polls `check` every 200 ms until it holds, at most `tries` times. */
async function until (check: () => Promise<boolean>, tries: number): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return
    await sleep(200)
  }
  throw new Error('condition not met')
}

t.test('the agent\'s worker dies while the user waits: once a worker is back, the agent is dispatched again', async (t) => {
  // LiveKit's webhooks keep the service's session index current, as operators run it.
  const { app: fragile, livekit } = await buildWithLivekit(t, { LIVEKIT_AGENT_NAME: 'fragile-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 })
  const worker = await startAgentWorker(t, livekit, { agentName: 'fragile-agent' })
  const carol = bearer(userToken(fragile, 'carol'))
  const session = await startSession(fragile, carol)
  const client = await joinRoom(t, session.livekit_url, session.token)
  await publishMicrophone(t, client.room)
  await statusWhen(fragile, carol, session.room_name, (s) => s.agent_connected === true)

  await worker.kill()
  // LiveKit holds a participant whose connection broke open for a while, in case it resumes.
  // No status call from here on: LiveKit's participant_left webhook alone must bring the agent back.
  const killedAt = Date.now()
  const agentIn = async () => (await fragile.sessionIndex.store.get(session.room_name))?.participants.some((p) => p.role === 'agent')
  await until(async () => await agentIn() === false, 300)
  t.comment(`the agent left the room ${Date.now() - killedAt} ms after its worker was killed`)
  await until(async () => fragile.agents.watching() === 1, 50)
  t.pass('the webhook had the agent dispatched again: a watch follows the room, with no status call')

  await worker.restart()
  await until(async () => await agentIn() === true, 300)
  t.pass('the agent is back in the room, by the index the webhooks keep')
  const back = await statusWhen(fragile, carol, session.room_name, (s) => s.agent_connected === true)
  t.match(back, { active: true, participants: 1, agent_connected: true, agent_state: 'connected' })
  t.ok(client.room.isConnected, 'the user stayed in the room throughout')
})
