import autocannon from 'autocannon'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { RoomServiceClient } from 'livekit-server-sdk'
import { startLivekitServer } from '../scripts/livekit-server.js'
import { signHs256 } from '../scripts/user-jwt.js'
import app from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { serverOptions } from '../src/server-options.js'

/**
 * `npm run bench`: the service against a real livekit-server on loopback, measured with autocannon.
 * Prints requests per second and latency for each endpoint, with other users' rooms in LiveKit
 * (the cost of `active` grows with them until the session index lands).
 */

const DURATION_SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const OTHER_ROOMS = Number(process.env.BENCH_OTHER_ROOMS ?? 500)
const CONNECTIONS = 10

const livekit = await startLivekitServer()
const jwtSecret = 'a-bench-jwt-secret-of-at-least-32-bytes'
const config = loadConfig({
  env: false,
  dotenv: false,
  data: {
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'warn',
    // The bench is two users making thousands of calls: limits and overload protection would measure themselves.
    START_RATE_LIMIT: '1000000/minute',
    API_RATE_LIMIT: '1000000/minute',
    MAX_SESSIONS_PER_USER: 1000000,
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 0
  }
})
const server = Fastify(serverOptions(config))
await server.register(fp(app), { config })
const base = await server.listen({ host: '127.0.0.1', port: 0 })

const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
for (let i = 0; i < OTHER_ROOMS; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, OTHER_ROOMS - i) }, (_, j) =>
    rooms.createRoom({ name: `bench-other-${i + j}`, metadata: JSON.stringify({ user_id: `other-${i + j}` }) })))
}

const authorization = `Bearer ${signHs256(jwtSecret, { sub: 'bench-user', email: 'bench@example.com' })}`
const started = await fetch(`${base}/api/v1/voice-sessions/start`, { method: 'POST', headers: { authorization } })
const { room_name: roomName } = await started.json() as { room_name: string }

// Another user starts sessions, so that the bench user has one session among many rooms.
const starter = `Bearer ${signHs256(jwtSecret, { sub: 'bench-starter' })}`
const scenarios = [
  { name: 'POST /voice-sessions/start', method: 'POST' as const, path: '/api/v1/voice-sessions/start', as: starter },
  { name: 'GET  /voice-sessions/{room}/status', method: 'GET' as const, path: `/api/v1/voice-sessions/${roomName}/status` },
  { name: 'GET  /voice-sessions/active', method: 'GET' as const, path: '/api/v1/voice-sessions/active' },
  { name: 'GET  /voice-sessions/active without JWT (401)', method: 'GET' as const, path: '/api/v1/voice-sessions/active', as: '' }
]

console.log(`livekit-server on loopback, ${CONNECTIONS} connections, ${DURATION_SECONDS} s each\n`)
console.log('endpoint'.padEnd(48), 'req/s'.padStart(8), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'non-2xx'.padStart(8))
for (const scenario of scenarios) {
  const result = await autocannon({
    url: `${base}${scenario.path}`,
    method: scenario.method,
    headers: scenario.as === '' ? {} : { authorization: scenario.as ?? authorization },
    connections: CONNECTIONS,
    duration: DURATION_SECONDS
  })
  console.log(
    scenario.name.padEnd(48),
    result.requests.average.toFixed(0).padStart(8),
    String(result.latency.p50).padStart(8),
    String(result.latency.p99).padStart(8),
    String(result.non2xx).padStart(8)
  )
}

console.log(`\nLiveKit held ${(await rooms.listRooms()).length} rooms at the end; \`active\` lists them all on every call.`)
await server.close()
await livekit.stop()
