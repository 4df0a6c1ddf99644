import { spawnSync } from 'node:child_process'
import { spawnTied, type TiedProcess } from './child-process.js'
import { freePort } from './livekit-server.js'

/** Where redis-server is: `REDIS_SERVER_BIN` if set, else found on the PATH (Debian's package: /usr/bin/redis-server). */
export function findRedisServer (): string | undefined {
  if (process.env.REDIS_SERVER_BIN !== undefined) return process.env.REDIS_SERVER_BIN
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const path = found.stdout.trim()
  return found.status === 0 && path !== '' ? path : undefined
}

/** Why tests that need Redis are skipped on this machine, or undefined when redis-server is there. */
export function redisMissing (): string | undefined {
  return findRedisServer() === undefined ? 'redis-server is not installed (apt-get install redis-server, or npm run pretest as root)' : undefined
}

/**
 * Installs Debian's redis-server with apt-get when it is missing and this process may (root);
 * otherwise says how. Returns the binary's path, or undefined.
 */
export function ensureRedisServer (): string | undefined {
  const found = findRedisServer()
  if (found !== undefined) return found
  if (process.getuid?.() !== 0) {
    console.error('redis-server is missing: install it (apt-get install redis-server); the Redis tests are skipped without it')
    return undefined
  }
  console.error('Installing redis-server with apt-get...')
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'redis-server']]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    if (result.status !== 0) {
      console.error(`apt-get ${args.join(' ')} failed; the Redis tests are skipped`)
      return undefined
    }
  }
  return findRedisServer()
}

export interface RunningRedis {
  url: string
  port: number
  server: TiedProcess
  stop: () => Promise<void>
}

/** Starts a throwaway redis-server on loopback (no persistence), tied to this process; resolves once it accepts connections. */
export async function startRedisServer ({ port }: { port?: number } = {}): Promise<RunningRedis> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(port)
    } catch (err) {
      // A free port can be taken by another process before redis-server binds it: another, a few times.
      if (port !== undefined || attempt >= PORT_ATTEMPTS || !/address already in use/i.test((err as Error).message)) throw err
    }
  }
}

/** Starts on a free port tried at most this many times. */
const PORT_ATTEMPTS = 3

async function startOnce (port: number | undefined): Promise<RunningRedis> {
  const bin = findRedisServer()
  if (bin === undefined) throw new Error(redisMissing())
  const chosen = port ?? await freePort()
  const server = spawnTied(bin, ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { name: 'redis-server' })
  try {
    await server.waitForOutput(/Ready to accept connections/, 10_000)
  } catch (err) {
    await server.kill()
    throw new Error(`${(err as Error).message}\n${server.describe()}`)
  }
  return { url: `redis://127.0.0.1:${chosen}`, port: chosen, server, stop: async () => { await server.kill() } }
}
