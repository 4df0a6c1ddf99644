import { AgentDispatchClient } from 'livekit-server-sdk'
import t from 'tap'
import { startAgentWorker } from '../agent-worker.js'
import { pollUntil } from '../clients.js'
import { bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'
import { AGENT_WAIT, sessionStatus, startSession, statusWhen } from '../sessions.js'

/** A session whose agent has no worker yet: LiveKit drops such a dispatch, so the service must dispatch again. */

const livekit = await startLivekit(t)
const dispatches = new AgentDispatchClient(livekit.url, livekit.apiKey, livekit.apiSecret)

t.test('an agent whose worker registers late is dispatched again and comes; one that never does is reported missing', async (t) => {
  const late = await build(t, { ...livekitConfig(livekit), LIVEKIT_AGENT_NAME: 'late-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 })
  const nobody = await build(t, { ...livekitConfig(livekit), LIVEKIT_AGENT_NAME: 'nobody-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 2 })
  const bob = bearer(userToken(late, 'bob'))
  const lateSession = await startSession(late, bob)
  const lostSession = await startSession(nobody, bob)
  t.match(await sessionStatus(late, bob, lateSession.room_name), { agent_connected: false, agent_state: 'dispatching' }, 'no worker yet')

  // The worker starts only once the service has dispatched again after the room's own dispatch,
  // which LiveKit dropped: so the agent can only come from a dispatch the service made later.
  const before = await pollUntil(async () => await dispatches.listDispatch(lateSession.room_name), (list) => list.length >= 2, AGENT_WAIT)
  t.ok(before.length >= 2, `the service dispatched again while no worker was there (${before.length} dispatches)`)
  await startAgentWorker(t, livekit, { agentName: 'late-agent' })
  const arrived = await statusWhen(late, bob, lateSession.room_name, (s) => s.agent_connected === true)
  t.match(arrived, { agent_connected: true, agent_state: 'connected' }, 'a later dispatch reached the new worker')
  const [first] = await dispatches.listDispatch(lateSession.room_name)
  t.same(first?.state?.jobs ?? [], [], 'the room\'s own dispatch, made before any worker, never got a job')

  const missing = await statusWhen(nobody, bob, lostSession.room_name, (s) => s.agent_state === 'missing')
  t.match(missing, { agent_connected: false, agent_state: 'missing' })
  t.equal(nobody.agents.watching(), 0, 'the watch gave up after its attempts')
})
