import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, renameSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnTied, type TiedProcess } from './child-process.js'

/** The livekit-server release this project is built and tested against. */
export const LIVEKIT_VERSION = 'v1.13.5'

const root = join(import.meta.dirname, '..')
const cacheDir = join(root, '.cache', `livekit-${LIVEKIT_VERSION}`)

/** Where the binary is: `LIVEKIT_SERVER_BIN` if set, else the project's cache (keyed by version). */
export const livekitServerBin = process.env.LIVEKIT_SERVER_BIN ?? join(cacheDir, 'livekit-server')

/** Builds livekit-server with `go install` into the ignored cache, unless it is already there. */
export function ensureLivekitServer (): string {
  if (existsSync(livekitServerBin)) return livekitServerBin
  console.error(`Installing livekit-server ${LIVEKIT_VERSION} with go install (a few minutes the first time)...`)
  mkdirSync(cacheDir, { recursive: true })
  const result = spawnSync('go', ['install', `github.com/livekit/livekit-server/cmd/server@${LIVEKIT_VERSION}`], {
    env: { ...process.env, GOBIN: cacheDir, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
    stdio: 'inherit'
  })
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(`go install of livekit-server failed (${result.error?.message ?? `exit ${result.status}`}); is Go installed?`)
  }
  renameSync(join(cacheDir, 'server'), livekitServerBin)
  return livekitServerBin
}

/** A free TCP port on loopback (also used for UDP: free enough in practice on a test machine). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

export interface RunningLivekit {
  url: string
  apiKey: string
  apiSecret: string
  port: number
  process: ChildProcess
  /** The server process, tied to this one: its bounded output, `describe()` for failures. */
  server: TiedProcess
  stop: () => Promise<void>
}

export interface LivekitServerOptions {
  port?: number
  /** Media ports (ICE over TCP, and UDP); free ones when not given. */
  rtcTcpPort?: number
  rtcUdpPort?: number
  apiKey?: string
  apiSecret?: string
  /** Extra YAML config lines (e.g. webhooks). */
  extraConfig?: string
  logLevel?: string
  /** Copy the server's output to stderr (for `npm run dev`); it is always kept for failures. */
  echo?: boolean
  /** A file where the server writes a Go CPU profile (`--cpuprofile`) when it stops gracefully (SIGINT). */
  cpuProfile?: string
}

/**
 * Polls `url` until it answers 2xx, for at most `timeoutMs`; fails at once if `child`, the process
 * that should answer, exits. Used for livekit-server and the agent worker's health endpoint.
 */
export async function waitUntilAnswering (url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the process exited (${child.exitCode ?? child.signalCode}) before ${url} answered`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
      if (response.ok) return
    } catch {}
    await sleep(50)
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`)
}

/**
 * Starts a real livekit-server on loopback, on free ports, with `room.auto_create: false`
 * (so a deleted room is never re-created by a late agent), and waits until it answers.
 * The server dies with this process (see `spawnTied`), however this process ends.
 */
export async function startLivekitServer (options: LivekitServerOptions = {}): Promise<RunningLivekit> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (err) {
      // A free port can be taken by another process between freePort() and the server's bind (tests
      // run side by side): try other free ports, a bounded number of times, unless the ports were given.
      const given = options.port !== undefined || options.rtcTcpPort !== undefined || options.rtcUdpPort !== undefined
      if (given || attempt >= PORT_ATTEMPTS || !(err as Error).message.includes('address already in use')) throw err
    }
  }
}

/** Starts on free ports tried at most this many times. */
const PORT_ATTEMPTS = 3

async function startOnce (options: LivekitServerOptions): Promise<RunningLivekit> {
  const bin = ensureLivekitServer()
  const port = options.port ?? await freePort()
  const tcpPort = options.rtcTcpPort ?? await freePort()
  const udpPort = options.rtcUdpPort ?? await freePort()
  const apiKey = options.apiKey ?? 'testkey'
  const apiSecret = options.apiSecret ?? 'test-secret-that-is-at-least-32-characters'
  const config = [
    `port: ${port}`,
    'bind_addresses: ["127.0.0.1"]',
    `rtc: { tcp_port: ${tcpPort}, udp_port: ${udpPort}, node_ip: 127.0.0.1, use_external_ip: false }`,
    `keys: { ${apiKey}: ${apiSecret} }`,
    'room: { auto_create: false }',
    `logging: { level: ${options.logLevel ?? 'warn'} }`,
    options.extraConfig ?? ''
  ].join('\n')
  const profile = options.cpuProfile === undefined ? [] : ['--cpuprofile', options.cpuProfile]
  const server = spawnTied(bin, [...profile, '--config-body', config], { name: 'livekit-server', echo: options.echo })
  const httpUrl = `http://127.0.0.1:${port}`
  try {
    await waitUntilAnswering(httpUrl, server.process, 15_000)
  } catch (err) {
    await server.kill()
    throw new Error(`${(err as Error).message}\n${server.describe()}`)
  }
  return {
    url: `ws://127.0.0.1:${port}`,
    apiKey,
    apiSecret,
    port,
    process: server.process,
    server,
    // A graceful stop drains for 5 s; this server holds nothing worth keeping.
    stop: async () => { await server.kill() }
  }
}
