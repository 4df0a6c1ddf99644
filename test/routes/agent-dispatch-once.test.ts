import t from 'tap'
import { buildWithLivekit } from '../helper.js'
import { ONE_AGENT_CONFIG, oneAgentPerRoom } from '../one-agent-per-room.js'

t.test('never more than one agent job per room: a worker that registers late, clients polling status and active throughout', async (t) => {
  const { app, livekit } = await buildWithLivekit(t, ONE_AGENT_CONFIG)
  await oneAgentPerRoom(t, livekit, [app])
})
