import t from 'tap'
import { faultyStore } from '../faulty-store.js'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { build, endWithTest, livekitConfig, startLivekit } from '../helper.js'
import { sessionRoom, signedDelivery, webhookEvent } from '../webhooks.js'

/**
 * A delivery the index could not apply (Redis away: the store fails on demand here, which a real
 * one cannot) is answered 503, LiveKit delivers it again, and the redelivery is applied, not
 * dropped as a duplicate; then a real Redis stalled with SIGSTOP: the 503 delivery's change ran
 * once Redis resumed, so the redelivery is a duplicate and the change is in, once.
 */

const livekit = await startLivekit(t)
const ROOM = 'fitness-voice-nora-0a1b2c3d'
const room = sessionRoom(ROOM, 'nora', 'general')

t.test('a delivery answered 503 is applied when LiveKit delivers it again', async (t) => {
  const { store, failing } = faultyStore()
  const app = await build(t, { ...livekitConfig(livekit), RECONCILE_INTERVAL_MS: 3_600_000 }, undefined, { sessionStore: store })
  const keys = { apiKey: app.config.LIVEKIT_API_KEY, apiSecret: app.config.LIVEKIT_API_SECRET }
  const deliver = async (event: Record<string, unknown>) => {
    const delivery = await signedDelivery(event, keys)
    return await app.inject({ method: 'POST', url: '/api/v1/livekit/webhook', headers: delivery.headers, payload: delivery.body })
  }
  t.equal((await deliver(webhookEvent('room_started', room))).statusCode, 200)
  const joined = webhookEvent('participant_joined', room, { participant: { sid: 'PA_nora', identity: 'nora', kind: 'STANDARD' } })
  failing.add('applyEvent')
  const failed = await deliver(joined)
  failing.delete('applyEvent')
  t.equal(failed.statusCode, 503)
  t.same(failed.json(), { statusCode: 503, error: 'Service Unavailable', message: 'The session index is unavailable; LiveKit will deliver again' })
  const again = await deliver(joined)
  t.equal(again.statusCode, 200)
  t.same(again.json(), { outcome: 'applied' }, 'the redelivery is applied')
  t.match(await store.get(ROOM), { participants: [{ sid: 'PA_nora' }] })
  t.same((await deliver(joined)).json(), { outcome: 'duplicate' }, 'once applied, a further delivery is a duplicate')
})

t.test('on a real Redis stalled (SIGSTOP): the delivery is answered 503; after SIGCONT the event is in the index, applied once', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  endWithTest(t, redis.server)
  const app = await build(t, { ...livekitConfig(livekit), REDIS_URL: redis.url, RECONCILE_INTERVAL_MS: 3_600_000 })
  await app.sessionIndex.reconciler.whenRebuilt()
  const keys = { apiKey: app.config.LIVEKIT_API_KEY, apiSecret: app.config.LIVEKIT_API_SECRET }
  const deliver = async (event: Record<string, unknown>) => {
    const delivery = await signedDelivery(event, keys)
    return await app.inject({ method: 'POST', url: '/api/v1/livekit/webhook', headers: delivery.headers, payload: delivery.body })
  }
  const started = webhookEvent('room_started', { ...room, name: 'fitness-voice-nora-0a1b2c3e' })
  redis.server.signal('SIGSTOP')
  t.teardown(() => { redis.server.signal('SIGCONT') })
  t.equal((await deliver(started)).statusCode, 503, 'answered 503 within REDIS_COMMAND_TIMEOUT_MS')
  redis.server.signal('SIGCONT')
  // The change and its event mark are one script, already in the stalled Redis's socket: it runs on SIGCONT,
  // before the redelivery's, which then finds the event applied.
  t.same((await deliver(started)).json(), { outcome: 'duplicate' }, 'the first delivery\'s script ran once Redis resumed')
  t.match(await app.sessionIndex.store.get('fitness-voice-nora-0a1b2c3e'), { userId: 'nora', heardAtMs: Number }, 'the session is indexed, heard of by webhook')
})
