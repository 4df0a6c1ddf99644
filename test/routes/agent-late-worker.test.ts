import { AgentDispatchClient } from 'livekit-server-sdk'
import t from 'tap'
import { startAgentWorker } from '../agent-worker.js'
import { pollUntil } from '../clients.js'
import { bearer, buildWithLivekit, userToken } from '../helper.js'
import { AGENT_WAIT, sessionStatus, startSession, statusWhen } from '../sessions.js'

/**
 * A session whose agent has no worker yet: LiveKit drops a dispatch made while no worker of its
 * name is registered, so the service must dispatch again. (agent-missing.test.ts: no worker ever.)
 * LiveKit's webhooks keep the service's session index current, as operators run it.
 */

t.test('an agent whose worker registers late is dispatched again and comes', async (t) => {
  const { app, livekit } = await buildWithLivekit(t, { LIVEKIT_AGENT_NAME: 'late-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 })
  const dispatches = new AgentDispatchClient(livekit.url, livekit.apiKey, livekit.apiSecret)
  const bob = bearer(userToken(app, 'bob'))
  const session = await startSession(app, bob)
  t.match(await sessionStatus(app, bob, session.room_name), { agent_connected: false, agent_state: 'dispatching' }, 'no worker yet')

  // The worker starts only once the service has dispatched again after the room's own dispatch,
  // which LiveKit dropped: so the agent can only come from a dispatch the service made later.
  const before = await pollUntil(async () => await dispatches.listDispatch(session.room_name), (list) => list.length >= 2, AGENT_WAIT)
  t.ok(before.length >= 2, `the service dispatched again while no worker was there (${before.length} dispatches)`)
  await startAgentWorker(t, livekit, { agentName: 'late-agent' })
  const arrived = await statusWhen(app, bob, session.room_name, (s) => s.agent_connected === true)
  t.match(arrived, { agent_connected: true, agent_state: 'connected' }, 'a later dispatch reached the new worker')
  const [first] = await dispatches.listDispatch(session.room_name)
  t.same(first?.state?.jobs ?? [], [], 'the room\'s own dispatch, made before any worker, never got a job')
})
