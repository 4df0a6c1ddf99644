import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { eachLine, spawnTied } from '../scripts/child-process.js'
import { freePort, waitUntilAnswering, type RunningLivekit } from '../scripts/livekit-server.js'
import { endWithTest } from './helper.js'

const root = join(import.meta.dirname, '..')

/** Longest wait for a worker to register with LiveKit (it takes about 2 s under tsx). */
export const REGISTER_TIMEOUT_MS = 30_000
/**
 * Longest wait for a worker to exit after SIGTERM before it is killed. An idle worker exits in
 * well under a second, but one whose job process is still starting takes the worker's
 * shutdownProcessTimeout (10 s): that process misses the shutdown request.
 */
export const STOP_TIMEOUT_MS = 20_000
/** Log lines kept for `waitForLog`; the oldest go first. */
const KEPT_LOG_LINES = 5000

export interface AgentWorkerOptions {
  agentName: string
  /** LIVEKIT_WORKER_NUM_IDLE (default 1: enough for tests, and each idle process is ~200 MB under tsx). */
  numIdle?: number
  /** More environment for the worker (e.g. AGENT_USER_WAIT_SECONDS); wins over the defaults here. */
  env?: Record<string, string>
}

/** One line of the worker's stdout: pino JSON from the worker and its job processes. */
export type LogLine = Record<string, unknown> & { msg?: string, level?: number }

export interface RunningAgentWorker {
  process: ChildProcess
  /** The worker's health endpoint: GET / is 200 while it is registered with LiveKit. */
  healthUrl: string
  /** The last KEPT_LOG_LINES JSON log lines; a line that is not JSON is kept as { msg: line }. */
  logs: LogLine[]
  /** The worker's name, pid, state and last output (stdout and stderr), for a failure message. */
  describe: () => string
  /** Resolves with the first log line (past or future) that matches, or rejects after `timeoutMs`. */
  waitForLog: (match: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>
  /** SIGTERM (the library drains, then exits 143); SIGKILL after STOP_TIMEOUT_MS. Resolves with the exit code or signal. */
  stop: () => Promise<number | NodeJS.Signals | null>
  /** SIGKILL for the worker and its job processes at once, as if the machine died. */
  kill: () => Promise<void>
  /** Kills this worker and starts a new one with the same options (and a new health port). */
  restart: () => Promise<RunningAgentWorker>
}

/** The environment of a worker: what the test gives, never the machine's LiveKit or agent settings. */
function workerEnv (livekit: RunningLivekit, port: number, options: AgentWorkerOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    // Not the test runner's loaders (NODE_OPTIONS) or settings, not a developer's LiveKit or agent keys.
    if (/^(LIVEKIT_|AGENT_|LOG_LEVEL$|NODE_OPTIONS$|TAP|_TAPJS)/.test(key)) continue
    env[key] = value
  }
  return {
    ...env,
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    LIVEKIT_AGENT_NAME: options.agentName,
    LIVEKIT_WORKER_NUM_IDLE: String(options.numIdle ?? 1),
    AGENT_HEALTH_HOST: '127.0.0.1',
    AGENT_HEALTH_PORT: String(port),
    LOG_LEVEL: 'info',
    ...options.env
  }
}

/** Spawns `node --import tsx agent/worker.ts start`; resolves when its health endpoint says it is registered. */
async function spawnWorker (t: Test, livekit: RunningLivekit, options: AgentWorkerOptions): Promise<RunningAgentWorker> {
  const port = await freePort()
  const healthUrl = `http://127.0.0.1:${port}/`
  // In a process group of its own, so that one signal reaches the worker and every job process it
  // forks; tied to this process, so that they all die with the test, however it ends.
  const worker = spawnTied(process.execPath, ['--import', 'tsx', 'agent/worker.ts', 'start'], {
    name: `agent worker ${options.agentName}`,
    cwd: root,
    env: workerEnv(livekit, port, options)
  })
  endWithTest(t, worker)
  const child = worker.process

  const logs: LogLine[] = []
  const waiters = new Set<{ match: (line: LogLine) => boolean, resolve: (line: LogLine) => void }>()
  eachLine(child.stdout!.setEncoding('utf8'), (text) => {
    let line: LogLine
    try {
      line = JSON.parse(text) as LogLine
    } catch {
      line = { msg: text }
    }
    logs.push(line)
    if (logs.length > KEPT_LOG_LINES) logs.shift()
    for (const waiter of waiters) {
      if (waiter.match(line)) { waiters.delete(waiter); waiter.resolve(line) }
    }
  })
  const describe = worker.describe

  async function waitForLog (match: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = logs.find(match)
    if (seen !== undefined) return seen
    let waiter: { match: typeof match, resolve: (line: LogLine) => void } | undefined
    const found = new Promise<LogLine>((resolve) => { waiter = { match, resolve }; waiters.add(waiter) })
    const timeout = sleep(timeoutMs, undefined, { ref: false })
    const line = await Promise.race([found, timeout])
    waiters.delete(waiter!)
    if (line === undefined) throw new Error(`no matching worker log line within ${timeoutMs} ms\n${describe()}`)
    return line
  }

  async function kill (): Promise<void> {
    await worker.kill()
  }

  /** SIGTERM; the job processes it leaves behind, if any, are killed when it exits. */
  async function stop (): Promise<number | NodeJS.Signals | null> {
    worker.signal('SIGTERM')
    const result = await Promise.race([worker.exited, sleep(STOP_TIMEOUT_MS, 'timeout' as const, { ref: false })])
    return result === 'timeout' ? await worker.kill() : result
  }

  try {
    await waitUntilAnswering(healthUrl, child, REGISTER_TIMEOUT_MS)
  } catch (err) {
    await kill()
    throw new Error(`agent worker did not register: ${(err as Error).message}\n${describe()}`)
  }

  return {
    process: child,
    healthUrl,
    logs,
    describe,
    waitForLog,
    stop,
    kill,
    restart: async () => {
      await kill()
      return await spawnWorker(t, livekit, options)
    }
  }
}

/**
 * Starts the reference agent worker against `livekit` and waits until it has registered
 * (its health endpoint answers 200 only then). Every worker it or `restart` starts is killed,
 * with its job processes, when the test ends; its last output is printed if the test failed.
 */
export async function startAgentWorker (t: Test, livekit: RunningLivekit, options: AgentWorkerOptions): Promise<RunningAgentWorker> {
  return await spawnWorker(t, livekit, options)
}
