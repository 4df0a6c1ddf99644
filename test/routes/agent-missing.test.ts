import t from 'tap'
import { bearer, buildWithLivekit, userToken } from '../helper.js'
import { startSession, statusWhen } from '../sessions.js'

/**
 * A session whose agent has no worker, ever: once its dispatches have run out, the service says
 * the agent is missing instead of promising it. LiveKit's webhooks keep the session index current.
 */

t.test('an agent whose worker never registers is reported missing once the dispatches run out', async (t) => {
  const { app } = await buildWithLivekit(t, { LIVEKIT_AGENT_NAME: 'nobody-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 2 })
  const bob = bearer(userToken(app, 'bob'))
  const session = await startSession(app, bob)
  const missing = await statusWhen(app, bob, session.room_name, (s) => s.agent_state === 'missing')
  t.match(missing, { agent_connected: false, agent_state: 'missing' })
  t.equal(app.agents.watching(), 0, 'the watch gave up after its attempts')
})
