import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'

/**
 * The reads' floor (issue: close to the floor): Fastify with @fastify/jwt verifying the same user
 * JWT as the service and answering bodies of the same shape as `status` and `active` from memory,
 * with nothing else. A process of its own, measured as the service is. Env: PORT, JWT_SECRET.
 */
const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: process.env.JWT_SECRET ?? '' })
app.addHook('onRequest', async (request) => { await request.jwtVerify() })

const createdAt = new Date().toISOString()
const endsAt = new Date(Date.now() + 3_600_000).toISOString()

app.get<{ Params: { room: string } }>('/api/v1/voice-sessions/:room/status', async (request) => ({
  room_name: request.params.room,
  active: false,
  participants: 0,
  agent_connected: false,
  agent_state: 'none',
  created_at: createdAt,
  ends_at: endsAt
}))

app.get('/api/v1/voice-sessions/active', async () => ({
  sessions: [0, 1, 2].map((i) => ({ room_name: `fitness-voice-bench-user-0000000${i}`, agent_type: 'general', participants: 0, agent_state: 'none', created_at: createdAt, ends_at: endsAt }))
}))

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
