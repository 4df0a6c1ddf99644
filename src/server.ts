import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import app from './app.js'
import { loadConfig } from './config.js'
import { serverOptions } from '#http/server-options.js'
import { limitHeapGrowth } from '#ops/heap-growth.js'

limitHeapGrowth()

let config
try {
  config = loadConfig()
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}

const server = Fastify(serverOptions(config))
await server.register(fp(app), { config })

// Requests accepted and not yet answered: what a shutdown past its grace cuts off.
const inFlight = new Set<string>()
server.addHook('onRequest', async (request) => { inFlight.add(request.id) })
server.addHook('onResponse', async (request) => { inFlight.delete(request.id) })

// Once shutting down, every answer closes its connection. server.close() waits for every open
// connection, and Fastify closes only those idle at that moment: a keep-alive connection busy then
// would stay open after its answer until the client's idle timeout, and hold the close for it.
let closing = false
server.addHook('onSend', async (_request, reply) => {
  if (closing) reply.header('connection', 'close')
})

/**
 * A graceful stop: /ready turns 503 at once; the service keeps serving for SHUTDOWN_DRAIN_MS so a
 * load balancer stops sending (Node's server.close() would drop connections whose request was
 * accepted but not yet read); then it stops taking connections, finishes what it accepted, stops
 * its timers and closes its LiveKit and Redis clients (onClose hooks). Past SHUTDOWN_GRACE_MS it
 * logs what was cut off and exits 1.
 */
closeWithGrace({
  delay: config.SHUTDOWN_GRACE_MS,
  onTimeout: (delay) => { server.log.error({ graceMs: delay, inFlight: [...inFlight] }, 'shutdown grace ran out: these requests were cut off') }
}, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'closing after an error')
  else server.log.info({ signal, drainMs: config.SHUTDOWN_DRAIN_MS }, 'closing: draining')
  closing = true
  server.readiness.drain()
  if (err === undefined) await sleep(config.SHUTDOWN_DRAIN_MS)
  await server.close()
  server.log.info('closed')
})

await server.listen({ host: config.HOST, port: config.PORT })
