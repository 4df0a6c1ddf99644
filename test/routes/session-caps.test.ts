import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { RoomServiceClient } from 'livekit-server-sdk'
import t, { type Test } from 'tap'
import type { RunningLivekit } from '../../scripts/livekit-server.js'
import { redisMissing, startRedisServer } from '../../scripts/redis-server.js'
import { bearer, build, buildWithLivekit, livekitConfig, startLivekit, userToken } from '../helper.js'
import { recordingProxy } from '../livekit-proxy.js'

/**
 * The session caps under concurrent starts and failed ones, against a real livekit-server (and a
 * real redis-server, shared by two replicas): every start of a burst is in flight at once, so caps
 * that were checked first and taken after would let the whole burst through; a start that fails
 * gives back the place it held.
 */

// START_RATE_LIMIT far above the bursts: what refuses here is a cap, never the rate limiter.
const CAPS = { START_RATE_LIMIT: '1000/minute', MAX_SESSIONS_PER_USER: 3 }

/** One start of a burst: the replica it goes through, and whose it is. */
interface Start {
  app: FastifyInstance
  user: string
}

/** How many of each key. */
function countBy<T> (items: T[], key: (item: T) => string | undefined): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) {
    const name = key(item)
    if (name !== undefined) counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}

/** Every start at once; each one's outcome (`started`, a refusal by the user's cap or the service's, else its status) counted, and who started. */
async function burst (starts: Start[]): Promise<{ outcomes: Record<string, number>, startedBy: Record<string, number> }> {
  const answers = await Promise.all(starts.map(async ({ app, user }) =>
    await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(app, user)) })))
  const outcomes = countBy(answers, (answer) => {
    if (answer.statusCode === 200) return 'started'
    const { message } = answer.json() as { message: string }
    if (answer.statusCode === 429 && /\(MAX_SESSIONS_PER_USER = \d+\)/.test(message)) return 'user cap'
    if (answer.statusCode === 429 && /\(MAX_LIVE_SESSIONS\)/.test(message)) return 'service cap'
    return String(answer.statusCode)
  })
  const started = starts.filter((_start, i) => answers[i]?.statusCode === 200)
  return { outcomes, startedBy: countBy(started, (start) => start.user) }
}

/** `count` starts by each user, alternating between the replicas given. */
function startsBy (users: string[], count: number, replicas: FastifyInstance[]): Start[] {
  const starts = users.flatMap((user) => Array.from({ length: count }, () => user))
  return starts.map((user, i) => ({ app: replicas[i % replicas.length] as FastifyInstance, user }))
}

/** The rooms LiveKit holds, counted by the user their metadata names. */
async function roomsByUser (livekit: RunningLivekit): Promise<Record<string, number>> {
  const rooms = await new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret).listRooms()
  return countBy(rooms, (room) => (JSON.parse(room.metadata) as { user_id: string }).user_id)
}

async function redisUrl (t: Test): Promise<string> {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  return redis.url
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: starts at once never pass a cap: 10 by one user against MAX_SESSIONS_PER_USER=3, then 8 users against MAX_LIVE_SESSIONS=5`, {
    skip: store === 'redis' ? redisMissing() ?? false : false
  }, async (t) => {
    const { app, livekit } = await buildWithLivekit(t, { ...CAPS, MAX_LIVE_SESSIONS: 5, ...store === 'redis' ? { REDIS_URL: await redisUrl(t) } : {} })

    t.same((await burst(startsBy(['ann'], 10, [app]))).outcomes, { started: 3, 'user cap': 7 })
    t.same(await roomsByUser(livekit), { ann: 3 }, '3 rooms in LiveKit')

    const others = ['bo', 'cy', 'di', 'ed', 'fay', 'gus', 'hal', 'ivy']
    const { outcomes, startedBy } = await burst(startsBy(others, 1, [app]))
    t.same(outcomes, { started: 2, 'service cap': 6 })
    const rooms = await roomsByUser(livekit)
    t.equal(Object.values(rooms).reduce((sum, n) => sum + n, 0), 5, '5 rooms in LiveKit')
    t.same(rooms, { ann: 3, ...startedBy }, 'each the room of a start answered 200')

    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    t.match(metrics, /session_cap_refusals_total\{scope="user"\} 7\n/, 'each refusal counted by its cap')
    t.match(metrics, /session_cap_refusals_total\{scope="service"\} 6\n/)
  })
}

t.test('two replicas on one Redis: starts at once through both never pass MAX_SESSIONS_PER_USER nor MAX_LIVE_SESSIONS', { skip: redisMissing() ?? false }, async (t) => {
  const shared = { ...CAPS, MAX_LIVE_SESSIONS: 7, REDIS_URL: await redisUrl(t) }
  const { app: one, livekit } = await buildWithLivekit(t, shared)
  const two = await build(t, { ...livekitConfig(livekit), ...shared })

  t.same((await burst(startsBy(['ann'], 10, [one, two]))).outcomes, { started: 3, 'user cap': 7 }, 'one user, through both')
  t.same(await roomsByUser(livekit), { ann: 3 })

  const { outcomes, startedBy } = await burst(startsBy(['bo', 'cy', 'di', 'ed'], 5, [one, two]))
  t.equal(outcomes.started, 4, 'the 4 places MAX_LIVE_SESSIONS leaves are taken')
  t.equal((outcomes['user cap'] ?? 0) + (outcomes['service cap'] ?? 0), 16, 'every other start is refused by a cap')
  const rooms = await roomsByUser(livekit)
  t.same(rooms, { ann: 3, ...startedBy }, 'each room in LiveKit is a start answered 200')
  t.equal(Object.values(rooms).reduce((sum, n) => sum + n, 0), 7, 'MAX_LIVE_SESSIONS rooms in LiveKit')
  t.ok(Object.values(rooms).every((n) => n <= 3), 'none over MAX_SESSIONS_PER_USER')
})

t.test('a start LiveKit refuses gives its place back at once (two replicas, one with a wrong API secret)', { skip: redisMissing() ?? false }, async (t) => {
  const shared = { ...CAPS, REDIS_URL: await redisUrl(t) }
  const { app: good, livekit } = await buildWithLivekit(t, shared)
  const refused = await build(t, { ...livekitConfig(livekit), ...shared, LIVEKIT_API_SECRET: 'a-secret-livekit-does-not-know-at-all' })
  t.same((await burst(startsBy(['ann'], 3, [refused]))).outcomes, { 502: 3 }, 'CreateRoom refused')
  t.same((await burst(startsBy(['ann'], 3, [good]))).outcomes, { started: 3 }, 'every place is free again')
})

t.test('a start whose index write fails deletes its room and gives its place back at once', { skip: redisMissing() ?? false }, async (t) => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  const admin = new Redis(redis.url)
  t.teardown(() => admin.quit())
  const livekit = await startLivekit(t)
  // Once CreateRoom has made the room, and before the service hears so, Redis refuses its scripts (the index write) but
  // not plain commands (the release).
  let failIndexWrite = false
  const proxy = await recordingProxy(t, livekit.port, {
    holdAnswer: async (call) => {
      if (call === 'CreateRoom' && failIndexWrite) await admin.call('ACL', 'SETUSER', 'default', '-eval', '-evalsha')
    }
  })
  const app = await build(t, { ...livekitConfig(livekit), LIVEKIT_URL: proxy.url, REDIS_URL: redis.url, ...CAPS, MAX_SESSIONS_PER_USER: 1 })
  const ann = bearer(userToken(app, 'ann'))

  failIndexWrite = true
  const failed = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: ann })
  failIndexWrite = false
  await admin.call('ACL', 'SETUSER', 'default', '+eval', '+evalsha')
  t.equal(failed.statusCode, 503, 'the index is unavailable')
  t.same(await roomsByUser(livekit), {}, 'the room it made is deleted')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: ann })).statusCode, 200, 'its place is free at once')
  t.same(await roomsByUser(livekit), { ann: 1 })
})

t.test('a start whose CreateRoom timed out keeps its place: LiveKit may have made the room', { skip: redisMissing() ?? false }, async (t) => {
  const livekit = await startLivekit(t)
  // LiveKit makes the room, and its answer is held past the service's timeout.
  let answer = (): void => {}
  const held = new Promise<void>((resolve) => { answer = resolve })
  const proxy = await recordingProxy(t, livekit.port, { holdAnswer: async (call) => { if (call === 'CreateRoom') await held } })
  const shared = { ...livekitConfig(livekit), ...CAPS, MAX_SESSIONS_PER_USER: 1, REDIS_URL: await redisUrl(t) }
  const direct = await build(t, shared)
  const slow = await build(t, { ...shared, LIVEKIT_URL: proxy.url, LIVEKIT_REQUEST_TIMEOUT_MS: 500 })

  const timedOut = (await burst(startsBy(['ann'], 1, [slow]))).outcomes
  answer()
  t.same(timedOut, { 504: 1 })
  t.same(await roomsByUser(livekit), { ann: 1 }, 'LiveKit made the room all the same')
  t.same((await burst(startsBy(['ann'], 1, [direct]))).outcomes, { 'user cap': 1 }, 'its place is still held')
  t.same(await roomsByUser(livekit), { ann: 1 })
})
