import { Writable } from 'node:stream'
import t from 'tap'
import { redisMissing, startRedisServer, type RunningRedis } from '../../scripts/redis-server.js'
import { waitFor } from '../clients.js'
import { endWithTest, bearer, build, livekitConfig, startLivekit, userToken } from '../helper.js'

/**
 * A Redis that restarts empty (or is flushed) loses the session index: the service notices (its
 * generation is gone), rebuilds it from LiveKit, and until then reads LiveKit: active, the caps
 * and the max-length sweep come back without restarting any replica.
 */

const skip = redisMissing()
if (skip !== undefined) t.plan(0, skip)

const livekit = await startLivekit(t)

async function redisOn (port?: number): Promise<RunningRedis> {
  const redis = await startRedisServer(port === undefined ? {} : { port })
  endWithTest(t, redis.server)
  return redis
}

function logLines () {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done() } })
  return { lines, stream }
}

t.test('Redis restarted empty: the index is rebuilt from LiveKit; active, the caps and the sweep repaired, no replica restarted', async (t) => {
  const redis = await redisOn()
  const config = { ...livekitConfig(livekit), REDIS_URL: redis.url, MAX_SESSIONS_PER_USER: 2, RECONCILE_INTERVAL_MS: 3_600_000, LOG_LEVEL: 'info' }
  const { lines, stream } = logLines()
  const one = await build(t, config, stream)
  const two = await build(t, config)
  await one.sessionIndex.reconciler.whenRebuilt()
  await two.sessionIndex.reconciler.whenRebuilt()
  const headers = bearer(userToken(one, 'lena'))
  const started = []
  for (let i = 0; i < 2; i++) started.push((await one.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })).json().room_name)
  t.equal((await two.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })).statusCode, 429, 'at the cap')

  await redis.stop()
  const empty = await redisOn(redis.port)

  for (const app of [one, two]) {
    const listed = await waitFor(async () => {
      const response = await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers })
      const names = response.statusCode === 200 ? response.json().sessions.map((s: { room_name: string }) => s.room_name) : []
      return names.length === 2 ? names : undefined
    }, { tries: 100, intervalMs: 100 })
    t.same(listed.sort(), [...started].sort(), 'active lists the sessions again')
  }
  await waitFor(async () => await two.sessionIndex.store.count() === 2 ? true : undefined, { tries: 100, intervalMs: 100 })
  t.equal((await two.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })).statusCode, 429, 'the user\'s cap holds again')
  t.same((await one.sessionIndex.store.startedBefore(Date.now() + 1)).sort(), [...started].sort(), 'the max-length sweep finds them again')
  t.ok(lines.some((line) => String(line.msg).startsWith('the session index lost its data')), 'said in the log')
  await empty.stop()
})

t.test('a rebuild that fails (LiveKit stalled) is tried again, with backoff, until it succeeds', async (t) => {
  const redis = await redisOn()
  const { lines, stream } = logLines()
  const app = await build(t, { ...livekitConfig(livekit), REDIS_URL: redis.url, RECONCILE_INTERVAL_MS: 3_600_000, LIVEKIT_REQUEST_TIMEOUT_MS: 300, LOG_LEVEL: 'info' }, stream)
  await app.sessionIndex.reconciler.whenRebuilt()
  const headers = bearer(userToken(app, 'milo'))
  const session = (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers })).json()
  livekit.server.signal('SIGSTOP')
  t.teardown(() => { livekit.server.signal('SIGCONT') })
  await app.redis?.flushall()
  const failed = () => lines.filter((line) => String(line.msg).startsWith('session index: checking or rebuilding it failed')).length
  await waitFor(() => failed() >= 2 ? true : undefined, { tries: 150, intervalMs: 100 })
  t.notOk(app.sessionIndex.reconciler.usable(), 'not usable while it cannot be rebuilt')
  livekit.server.signal('SIGCONT')
  await app.sessionIndex.reconciler.whenRebuilt()
  t.match(await app.sessionIndex.store.get(session.room_name), { userId: 'milo' }, 'rebuilt once LiveKit answered')
})
