import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import t, { type Test } from 'tap'
import readinessPlugin from '../../plugins/app/readiness.js'

/** The readiness plugin on a bare instance, beside stand-ins for what it depends on: a LiveKit that answers, no Redis, and this session index. */
async function withIndex (t: Test, sessionIndex: object): Promise<FastifyInstance> {
  const app = Fastify()
  const standIn = (name: string, decorations: Record<string, unknown>) => fp(async (fastify) => {
    for (const [key, value] of Object.entries(decorations)) fastify.decorate(key, value)
  }, { name })
  await app.register(standIn('config', { config: { LIVEKIT_REQUEST_TIMEOUT_MS: 1000 } }))
  await app.register(standIn('livekit', { livekit: { rooms: { listRooms: async () => [] } } }))
  await app.register(standIn('redis', { redis: undefined }))
  await app.register(standIn('under-pressure', { isUnderPressure: () => false }))
  await app.register(standIn('session-index', { sessionIndex }))
  await app.register(readinessPlugin)
  await app.ready()
  t.teardown(() => app.close())
  return app
}

const webhooks = (state: string) => ({ state: () => state })

t.test('the session index\'s own `usable` decides whether the replica is ready', async (t) => {
  let usable = false
  const app = await withIndex(t, { usable: () => usable, webhooks: webhooks('unknown') })
  t.match(await app.readiness.check(), { status: 'not_ready', checks: { index: 'not usable yet' } })
  usable = true
  t.match(await app.readiness.check(), { status: 'ready', checks: { livekit: 'ok' } })
})

t.test('whether webhooks arrive is reported, and is never a reason for 503', async (t) => {
  const app = await withIndex(t, { usable: () => true, webhooks: webhooks('silent') })
  t.same(await app.readiness.check(), { status: 'ready', degraded: false, checks: { livekit: 'ok' }, dependencies: { livekit: { state: 'up' } }, webhooks: 'silent' })
})
