import t from 'tap'
import { createMemoryStore } from '#index/memory-store.js'
import type { SessionStore } from '#index/session-store.js'
import { build, livekitConfig, startLivekit } from '../helper.js'
import { signedDelivery, webhookEvent } from '../webhooks.js'

/**
 * A delivery the index could not apply (Redis away: the store fails on demand here, which a real
 * one cannot) is answered 503, LiveKit delivers it again, and the redelivery is applied, not
 * dropped as a duplicate. The real stalled Redis is in test/routes/dependency-faults.test.ts.
 */

const livekit = await startLivekit(t)
const ROOM = 'fitness-voice-nora-0a1b2c3d'
const room = {
  sid: 'RM_1',
  name: ROOM,
  creationTime: String(Math.floor(Date.now() / 1000)),
  metadata: JSON.stringify({ user_id: 'nora', agent_type: 'general', mode: 'voice', created_at: new Date().toISOString() })
}

/** The memory store, whose next `joined` fails as a Redis away would. */
function storeFailingOnce (): SessionStore & { failNext: () => void } {
  const store = createMemoryStore()
  let failing = false
  return {
    ...store,
    async joined (...args) {
      if (failing) {
        failing = false
        throw new Error('Command timed out')
      }
      return await store.joined(...args)
    },
    failNext: () => { failing = true }
  }
}

t.test('a delivery answered 503 is applied when LiveKit delivers it again', async (t) => {
  const store = storeFailingOnce()
  const app = await build(t, { ...livekitConfig(livekit), RECONCILE_INTERVAL_MS: 3_600_000 }, undefined, { sessionStore: store })
  const keys = { apiKey: app.config.LIVEKIT_API_KEY, apiSecret: app.config.LIVEKIT_API_SECRET }
  const deliver = async (event: Record<string, unknown>) => {
    const delivery = await signedDelivery(event, keys)
    return await app.inject({ method: 'POST', url: '/api/v1/livekit/webhook', headers: delivery.headers, payload: delivery.body })
  }
  t.equal((await deliver(webhookEvent('room_started', room))).statusCode, 200)
  const joined = webhookEvent('participant_joined', room, { participant: { sid: 'PA_nora', identity: 'nora', kind: 'STANDARD' } })
  store.failNext()
  const failed = await deliver(joined)
  t.equal(failed.statusCode, 503)
  t.same(failed.json(), { statusCode: 503, error: 'Service Unavailable', message: 'The session index is unavailable; LiveKit will deliver again' })
  const again = await deliver(joined)
  t.equal(again.statusCode, 200)
  t.same(again.json(), { outcome: 'applied' }, 'the redelivery is applied')
  t.match(await store.get(ROOM), { participants: [{ sid: 'PA_nora' }] })
  t.same((await deliver(joined)).json(), { outcome: 'duplicate' }, 'once applied, a further delivery is a duplicate')
})
