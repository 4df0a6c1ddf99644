import { join } from 'node:path'
import autoload from '@fastify/autoload'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config.js'

export interface AppOptions {
  config: Config
}

// The same relative layout holds in src/ and in dist/src/.
const root = join(import.meta.dirname, '..')

/** The whole service as a plugin: registers everything, never listens (src/server.ts does). */
export default async function app (fastify: FastifyInstance, opts: AppOptions) {
  await fastify.register(autoload, { dir: join(root, 'plugins/external'), options: opts, encapsulate: false })
  await fastify.register(autoload, { dir: join(root, 'plugins/app'), options: opts, encapsulate: false })
  await fastify.register(autoload, {
    dir: join(root, 'routes'),
    options: opts,
    autoHooks: true,
    cascadeHooks: true
  })
}
