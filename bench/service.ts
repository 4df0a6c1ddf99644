import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnTied, type TiedProcess } from '../scripts/child-process.js'
import type { RunningLivekit } from '../scripts/livekit-server.js'

/**
 * The built service (`dist/src/server.js`, as the container image runs it: `npm start` with the
 * image's NODE_OPTIONS) as child processes of the bench, configured by environment variables only,
 * and what the bench reads of them: how soon they answer and how much memory they hold.
 */

const root = join(import.meta.dirname, '..')
export const serverEntry = join(root, 'dist', 'src', 'server.js')

/** The V8 heap settings the service image runs with (`ENV NODE_OPTIONS` in the Containerfile); empty when it sets none. */
export const imageNodeOptions = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(readFileSync(join(root, 'Containerfile'), 'utf8'))?.[1] ?? ''

/** How long a replica may take to answer before the bench gives up on it. */
const START_DEADLINE_MS = 120_000
const POLL_EVERY_MS = 5

export interface Replica {
  origin: string
  server: TiedProcess
  pid: number
  /** Spawn to the first 200 of GET /api/docs/json: the process listens and serves. */
  listeningMs: number
  /** Spawn to the first 200 of GET /api/v1/voice-sessions/active, which waits for the session index's start-up rebuild. */
  indexedMs: number
}

export interface ReplicaOptions {
  port: number
  /** The service's whole environment (LIVEKIT_*, JWT_SECRET, REDIS_URL...), beside PATH and HOME. */
  env: Record<string, string>
  /** A user JWT for GET /active. */
  authorization: string
  /** Node's own options before the entry (`--cpu-prof`, which NODE_OPTIONS may not carry). */
  nodeArgs?: string[]
  /** The CPUs the replica may run on (`taskset -c`, e.g. `0`); any when unset. */
  cpus?: string
}

/**
 * The environment every bench starts the service with: LiveKit's, the user JWTs' secret, a quiet
 * log, and a per-user API limit far above the bench's load (the limiter still counts every call).
 */
export function benchServiceEnv (livekit: Pick<RunningLivekit, 'url' | 'apiKey' | 'apiSecret'>, jwtSecret: string): Record<string, string> {
  return {
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'warn',
    API_RATE_LIMIT: '1000000/second'
  }
}

/** Polls `url` until it answers 200, for at most START_DEADLINE_MS; fails at once if `server` exits. */
async function firstOk (url: string, headers: Record<string, string>, server: TiedProcess, spawnedAt: number): Promise<number> {
  const deadline = spawnedAt + START_DEADLINE_MS
  while (performance.now() < deadline) {
    if (server.hasExited()) throw new Error(`the service exited before ${url} answered: ${server.describe()}`)
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(START_DEADLINE_MS) })
      await response.arrayBuffer()
      if (response.ok) return performance.now() - spawnedAt
    } catch {}
    await sleep(POLL_EVERY_MS)
  }
  throw new Error(`${url} did not answer 200 within ${START_DEADLINE_MS} ms: ${server.describe()}`)
}

/**
 * Starts one replica with `process.execPath` (the bench's own Node), from a working directory
 * without a `.env` (`dist/`), so that only `env` configures it; resolves once it serves `active`.
 */
export async function startReplica ({ port, env, authorization, nodeArgs = [], cpus }: ReplicaOptions): Promise<Replica> {
  const origin = `http://127.0.0.1:${port}`
  const spawnedAt = performance.now()
  const node = [process.execPath, ...nodeArgs, serverEntry]
  const [command, ...args] = cpus === undefined ? node : ['taskset', '-c', cpus, ...node]
  const server = spawnTied(command as string, args, {
    name: `service on port ${port}`,
    cwd: join(root, 'dist'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_OPTIONS: imageNodeOptions, ...env, HOST: '127.0.0.1', PORT: String(port) }
  })
  try {
    const listeningMs = await firstOk(`${origin}/api/docs/json`, {}, server, spawnedAt)
    const indexedMs = await firstOk(`${origin}/api/v1/voice-sessions/active`, { authorization }, server, spawnedAt)
    return { origin, server, pid: server.process.pid as number, listeningMs, indexedMs }
  } catch (err) {
    await server.kill()
    throw err
  }
}

/** The resident memory of process `pid` (VmRSS), in bytes; 0 once it has gone. */
export function residentBytes (pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? 0 : Number(match[1]) * 1024
  } catch {
    return 0
  }
}

/** Samples the resident memory of `pids` every `everyMs` until `stop()`, which returns the largest seen of each. */
export function sampleResidentMemory (pids: readonly number[], everyMs = 50): { stop: () => number[] } {
  const largest = pids.map(residentBytes)
  const sample = () => {
    pids.forEach((pid, i) => { largest[i] = Math.max(largest[i] as number, residentBytes(pid)) })
  }
  const timer = setInterval(sample, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return largest
    }
  }
}
