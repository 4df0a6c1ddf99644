import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import app from './app.js'
import { loadConfig } from './config.js'
import { serverOptions } from './server-options.js'

let config
try {
  config = loadConfig()
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}

const server = Fastify(serverOptions(config))
await server.register(fp(app), { config })

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'closing after an error')
  else server.log.info({ signal }, 'closing')
  await server.close()
})

await server.listen({ host: config.HOST, port: config.PORT })
