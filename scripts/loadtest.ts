import { randomBytes } from 'node:crypto'
import { constants } from 'node:os'
import { parseArgs } from 'node:util'
import { devUserToken, loadUserTokenConfig } from './dev-config.js'
import { formatReport, summarize } from './loadtest-report.js'
import { CLEANUP_BUDGET_MS, LoadTest, POLL_INTERVAL_MS, REQUEST_TIMEOUT_MS } from './loadtest-run.js'

/**
 * `npm run loadtest -- --url http://127.0.0.1:3000 [--duration 30] [--users 200]`: a realistic
 * mix of distinct users against a running service (see loadtest-run.ts), a report per route
 * (throughput, p50/p95/p99 latency, answers by status) and of the sessions (started, ended, left
 * behind), and an exit code for CI:
 *   0   passed;
 *   1   a 5xx, a request without an answer (connection error, timeout), an answer the mix never
 *       expects (any 4xx but 429), a load route's p99 over --max-p99-ms, no session started, or a
 *       session left behind (or a user whose sessions could not be checked); also when the
 *       service cannot be reached or refuses the script's JWTs before any load;
 *   2   bad arguments or a JWT_SECRET the script cannot sign with;
 *   130 / 143  interrupted by SIGINT / SIGTERM, everything ended and nothing else wrong.
 * It talks to --url only. User JWTs are HS256 with JWT_SECRET (the environment, `.env`, or the
 * dev default, like `npm run token`), with `aud` / `iss` when JWT_AUDIENCE / JWT_ISSUER are set.
 */

const USAGE = 'usage: npm run loadtest -- --url <service URL> [--duration <seconds>] [--users <n>] [--session-seconds <seconds>] [--max-p99-ms <ms>] [--json]'

/**
 * The p99 bound of every load route unless --max-p99-ms says otherwise. Measured on a 2-core
 * machine running the built service (Redis index), livekit-server and this script, with 200
 * users: 30-60 ms per route; against `npm run dev` (the agent worker too) with a container build
 * beside it, up to about 550 ms; with 1000 users (about 480 requests a second, the machine
 * saturated) about 900 ms. A second is also the service's own overload threshold
 * (OVERLOAD_MAX_EVENT_LOOP_DELAY_MS), and a start a person waits longer for feels broken: past
 * it, the service is not merely busy.
 */
export const MAX_P99_MS = 1000

const DEFAULTS = { duration: 30, users: 200, sessionSeconds: 10 }
const MAX_DURATION_SECONDS = 24 * 3600
const MAX_USERS = 10_000
/** A session is polled at least once. */
const MIN_SESSION_SECONDS = POLL_INTERVAL_MS / 1000 + 1
/** A room nobody joins ends after 300 s (its empty timeout); a session of the mix must end before. */
const MAX_SESSION_SECONDS = 240
/** A signal this soon after the first is the same Ctrl-C delivered again (npm and tsx pass it on), not a second one. */
const REPEATED_SIGNAL_MS = 1000
const PROGRESS_INTERVAL_MS = 5000

function usageError (message: string): never {
  console.error(`npm run loadtest: ${message}\n${USAGE}`)
  process.exit(2)
}

function say (line: string): void {
  process.stderr.write(`loadtest: ${line}\n`)
}

let args: { url?: string, duration?: string, users?: string, 'session-seconds'?: string, 'max-p99-ms'?: string, json?: boolean, help?: boolean }
try {
  ({ values: args } = parseArgs({
    options: {
      url: { type: 'string' },
      duration: { type: 'string' },
      users: { type: 'string' },
      'session-seconds': { type: 'string' },
      'max-p99-ms': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true,
    allowPositionals: false
  }))
} catch (err) {
  usageError((err as Error).message)
}

if (args.help === true) {
  console.log(`${USAGE}

Each virtual user is a user of its own (loadtest-<run>-<n>): it starts a voice session, polls its
status every ${POLL_INTERVAL_MS / 1000} s, lists its active sessions once, ends the session after --session-seconds
(${DEFAULTS.sessionSeconds}) and starts the next, for --duration seconds (${DEFAULTS.duration}). --users (${DEFAULTS.users}) of them come in over
the first session. Then every session still live is ended, and GET /active checks, user by
user, that none is left. Ctrl-C (or SIGTERM) stops the load and does the same; a second Ctrl-C
exits at once. User JWTs: HS256 with JWT_SECRET (environment, .env, or the dev default), with
aud / iss when JWT_AUDIENCE / JWT_ISSUER are set.

Exit 0: passed. 1: a 5xx, a request without an answer, an answer other than 2xx or 429 (a 429
is reported, not a failure), a p99 over --max-p99-ms (${MAX_P99_MS}), no session started, or a session
left behind. 2: bad arguments. 130 / 143: interrupted, and clean. --json prints the summary as
JSON on stdout.`)
  process.exit(0)
}

/** A whole number from `min` to `max`, or the default; exits 2 naming the option otherwise. */
function wholeNumber (name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  const number = Number(value)
  if (!/^\d+$/.test(value) || number < min || number > max) usageError(`--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`)
  return number
}

function serviceUrl (value: string | undefined): URL {
  if (value === undefined || value === '') usageError('--url is required: the service\'s base URL, e.g. http://127.0.0.1:3000')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    usageError(`--url must be an http:// or https:// URL (got ${JSON.stringify(value)})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') usageError(`--url must be an http:// or https:// URL (got ${JSON.stringify(value)})`)
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    usageError(`--url must be the service's base URL, without credentials, query or fragment (got ${JSON.stringify(value)})`)
  }
  return url
}

const url = serviceUrl(args.url)
const durationSeconds = wholeNumber('duration', args.duration, DEFAULTS.duration, 1, MAX_DURATION_SECONDS)
const users = wholeNumber('users', args.users, DEFAULTS.users, 1, MAX_USERS)
const sessionSeconds = wholeNumber('session-seconds', args['session-seconds'], DEFAULTS.sessionSeconds, MIN_SESSION_SECONDS, MAX_SESSION_SECONDS)
const maxP99Ms = args['max-p99-ms'] === undefined ? MAX_P99_MS : Number(args['max-p99-ms'])
if (!/^\d+(\.\d+)?$/.test(args['max-p99-ms'] ?? '0') || !Number.isFinite(maxP99Ms)) {
  usageError(`--max-p99-ms must be a number of milliseconds, 0 or more (got ${JSON.stringify(args['max-p99-ms'])})`)
}

const runId = randomBytes(3).toString('hex')
let tokenFor: (sub: string) => string
try {
  const config = loadUserTokenConfig()
  // Tokens outlive the run and its clean-up.
  const ttlSeconds = durationSeconds + 3600
  tokenFor = (sub) => devUserToken(config, { sub, ttlSeconds })
  tokenFor(`loadtest-${runId}-0`)
} catch (err) {
  usageError((err as Error).message)
}

const test = new LoadTest({ url, users, durationMs: durationSeconds * 1000, sessionMs: sessionSeconds * 1000, runId, tokenFor })
const began = performance.now()
let running = false
let firstSignalAt: number | undefined

/** What the script knows may be left behind, for a message on the way out. */
function mayBeLeft (): string {
  const rooms = test.possiblyLeft()
  if (rooms.length === 0) return 'no session it started is known to be live (a start without an answer may still have made one)'
  return `${rooms.length} sessions may be left behind: ${rooms.join(', ')}`
}

function onSignal (signal: NodeJS.Signals): void {
  const now = performance.now()
  if (!running) {
    say(`${signal} before the load began: nothing started`)
    process.exit(128 + constants.signals[signal])
  }
  if (firstSignalAt === undefined) {
    firstSignalAt = now
    say(`${signal}: stopping the load, then ending every session it started (Ctrl-C again to exit at once)`)
    test.interrupt(signal)
    return
  }
  if (now - firstSignalAt < REPEATED_SIGNAL_MS) return
  say(`${signal} again: exiting at once; ${mayBeLeft()}`)
  process.exit(test.possiblyLeft().length > 0 ? 1 : 128 + constants.signals[signal])
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

const refusal = await test.preflight()
if (refusal !== undefined) {
  say(refusal)
  process.exit(1)
}

say(`run ${runId}: ${users} users (loadtest-${runId}-0 to -${users - 1}) against ${url.href} for ${durationSeconds} s, ` +
  `sessions of ${sessionSeconds} s polled every ${POLL_INTERVAL_MS / 1000} s; Ctrl-C stops the load and ends every session it started`)
running = true

// The run cannot outlast its parts: the load, a request in flight, the wind-down's two, the clean-up.
const boundMs = durationSeconds * 1000 + 4 * REQUEST_TIMEOUT_MS + CLEANUP_BUDGET_MS + 10_000
const watchdog = setTimeout(() => {
  say(`did not finish within ${boundMs / 1000} s; exiting; ${mayBeLeft()}`)
  process.exit(1)
}, boundMs)
const progress = setInterval(() => { say(test.progress(performance.now() - began)) }, PROGRESS_INTERVAL_MS)
progress.unref()

await test.run()
clearTimeout(watchdog)
clearInterval(progress)

const summary = summarize({
  url: url.href,
  runId,
  users,
  durationSeconds,
  sessionSeconds,
  pollSeconds: POLL_INTERVAL_MS / 1000,
  maxP99Ms,
  loadSeconds: test.loadSeconds,
  interrupted: test.interrupted,
  stats: test.stats,
  sessions: test.sessions
})
const output = args.json === true ? `${JSON.stringify(summary, null, 2)}\n` : formatReport(summary)
process.stdout.write(output, () => process.exit(summary.exit_code))
