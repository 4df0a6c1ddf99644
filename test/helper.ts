import { existsSync } from 'node:fs'
import type { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import fp from 'fastify-plugin'
import type { Test } from 'tap'
import type { TiedProcess } from '../scripts/child-process.js'
import { freePort, livekitServerBin, startLivekitServer, type LivekitServerOptions, type RunningLivekit } from '../scripts/livekit-server.js'
import { signHs256 } from '../scripts/user-jwt.js'
import type { SessionIndexPluginOptions } from '../plugins/app/session-index.js'
import app from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'
import { serverOptions } from '#http/server-options.js'

export const JWT_SECRET = 'test-jwt-secret-that-signs-user-tokens'

/** A Redis connection for the test, closed after it. */
export function redisConnection (t: Test, url: string): Redis {
  const client = new Redis(url)
  t.teardown(() => client.quit())
  return client
}

/** Config for a test: only what is given here, never the machine's environment or .env. */
export function testConfig (overrides: Record<string, unknown> = {}): Config {
  return loadConfig({
    env: false,
    dotenv: false,
    data: {
      LIVEKIT_URL: 'ws://127.0.0.1:1',
      LIVEKIT_API_KEY: 'testkey',
      LIVEKIT_API_SECRET: 'test-secret-that-is-at-least-32-characters',
      JWT_SECRET,
      LOG_LEVEL: 'silent',
      // Tests start many sessions as one user; the limits have tests of their own.
      START_RATE_LIMIT: '100000/minute',
      API_RATE_LIMIT: '100000/minute',
      MAX_SESSIONS_PER_USER: 1000,
      // A test process on a busy 2-core machine lags by seconds at times; overload has a test of its own.
      OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: 0,
      OVERLOAD_MAX_HEAP_RATIO: 0,
      ...overrides
    }
  })
}

/**
 * Kills `child` (and what it forked) when `t` ends, printing its last output first if `t` failed
 * or timed out. Should the test process die before that, the child dies with it anyway.
 */
export function endWithTest (t: Test, child: TiedProcess): void {
  t.teardown(async () => {
    if (!t.passing()) console.error(`# ${t.name} failed; ${child.describe().replaceAll('\n', '\n# ')}`)
    await child.kill()
  })
}

/** A real livekit-server for this test (or file), stopped when it ends. */
export async function startLivekit (t: Test, options: LivekitServerOptions = {}): Promise<RunningLivekit> {
  // Never a go install inside a test, whose timeout it would outlast: `pretest` builds it.
  if (!existsSync(livekitServerBin)) throw new Error(`no livekit-server at ${livekitServerBin}: run \`npm run pretest\` or set LIVEKIT_SERVER_BIN`)
  const livekit = await startLivekitServer(options)
  endWithTest(t, livekit.server)
  return livekit
}

/** Config that points the service at a running livekit-server. */
export function livekitConfig (livekit: RunningLivekit): Record<string, unknown> {
  return { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: livekit.apiKey, LIVEKIT_API_SECRET: livekit.apiSecret }
}

/**
 * A real livekit-server that sends its webhooks to the app this builds (on a loopback port chosen
 * first, so that LiveKit's config can name it): the service as operators run it.
 */
export async function buildWithLivekit (t: Test, overrides: Record<string, unknown> = {}, options: LivekitServerOptions = {}): Promise<{ app: FastifyInstance, livekit: RunningLivekit }> {
  const port = await freePort()
  const apiKey = options.apiKey ?? 'testkey'
  const webhook = `webhook: { api_key: ${apiKey}, urls: ["http://127.0.0.1:${port}/api/v1/livekit/webhook"] }`
  const livekit = await startLivekit(t, { ...options, apiKey, extraConfig: `${webhook}\n${options.extraConfig ?? ''}` })
  const app = await build(t, { ...livekitConfig(livekit), ...overrides })
  await app.listen({ host: '127.0.0.1', port })
  return { app, livekit }
}

/**
 * The whole app on a new instance, ready, closed when the test ends. `plugins` passes options to
 * the app's plugins, e.g. a `sessionStore` that fails on demand (plugins/app/session-index.ts).
 */
export async function build (t: Test, overrides: Record<string, unknown> = {}, logStream?: Writable, plugins: SessionIndexPluginOptions = {}): Promise<FastifyInstance> {
  const config = testConfig(overrides)
  const options = serverOptions(config)
  if (logStream !== undefined) options.logger = { ...(options.logger as object), stream: logStream }
  const fastify = Fastify(options)
  await fastify.register(fp(app), { config, ...plugins })
  await fastify.ready()
  t.teardown(() => fastify.close())
  return fastify
}

/** An app user's JWT, as the app's backend would hold it: it expires in an hour. */
export function userToken (fastify: FastifyInstance, sub: string, email = `${sub}@example.com`): string {
  return fastify.jwt.sign({ sub, email }, { expiresIn: '1h' })
}

export function bearer (token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

export { signHs256 }
