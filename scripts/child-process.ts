import { spawn, type ChildProcess } from 'node:child_process'

/**
 * Child processes that never outlive the process that started them: livekit-server, agent
 * workers, the built service (and redis-server) in tests, livekit-server in `npm run dev`.
 *
 * Each child runs in its own process group, so one signal reaches it and everything it forks
 * (an agent worker's job processes). Beside it runs a watchdog, a `sh` that holds the read end
 * of a pipe whose write end only this process holds. However this process ends (a normal exit,
 * an uncaught error, SIGTERM, tap's timeout, SIGKILL), the kernel closes that pipe; the watchdog
 * reads end-of-file and SIGKILLs the child's group. `process.on('exit')` could not do this: it
 * does not run when the process is killed by a signal.
 *
 * The child's stdout and stderr are piped, never inherited, so a child can never hold the test
 * runner's output open; the last `outputLimit` characters are kept for error messages.
 */

// Nobody writes to the pipe, so `read` returns at end-of-file: when this process has ended.
const WATCHDOG = 'read -r _; kill -s KILL -- "-$1" 2>/dev/null'

/** The longest output kept by default: enough for a crash report, bounded for a chatty child. */
export const DEFAULT_OUTPUT_LIMIT = 64 * 1024

export interface TiedProcessOptions {
  /** What the child is, in messages: 'livekit-server', 'agent worker'. */
  name: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Characters of output (stdout and stderr, interleaved) kept; older output is dropped. */
  outputLimit?: number
  /** Also copy the child's output to this process's stderr, e.g. for `npm run dev`. */
  echo?: boolean
}

export interface TiedProcess {
  name: string
  /** The child; its stdout and stderr may be read by more listeners. */
  process: ChildProcess
  /** The last `outputLimit` characters of its stdout and stderr. */
  output: () => string
  /** Resolves when the child has exited and its output is complete: its exit code, its signal, or null if it never started. */
  exited: Promise<number | NodeJS.Signals | null>
  hasExited: () => boolean
  /** Resolves once the kept output matches `pattern`; rejects if the child exits first or after `timeoutMs`. */
  waitForOutput: (pattern: RegExp, timeoutMs: number) => Promise<void>
  /** Sends a signal to the child alone (not its group), e.g. SIGTERM for a graceful stop. */
  signal: (signal: NodeJS.Signals) => void
  /** SIGKILLs the child and everything in its group; resolves once the child has exited. */
  kill: () => Promise<number | NodeJS.Signals | null>
  /** The name, pid, how it ended (if it has) and the last output: for an error message. */
  describe: () => string
}

function killGroup (pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {}
}

/** Spawns `command` so that it (and what it forks) dies with this process, whatever ends it. */
export function spawnTied (command: string, args: readonly string[], options: TiedProcessOptions): TiedProcess {
  const limit = options.outputLimit ?? DEFAULT_OUTPUT_LIMIT
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const pid = child.pid
  let watchdog: ChildProcess | undefined
  if (pid !== undefined) {
    // In a group of its own too, so that what ends this process's group (Ctrl-C, `timeout`,
    // killing a tied parent's group) does not end the watchdog before it has done its work.
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'watchdog', String(pid)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] })
    // Neither keeps this process alive: the watchdog's work starts when this process ends.
    watchdog.unref()
    const pipe = watchdog.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null
    pipe?.unref?.()
  }

  let output = ''
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-limit)
    if (options.echo === true) process.stderr.write(chunk)
  }
  child.stdout!.setEncoding('utf8').on('data', keep)
  child.stderr!.setEncoding('utf8').on('data', keep)

  let spawnError: Error | undefined
  let ended: string | undefined
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('error', (err) => {
      spawnError = err
      if (pid === undefined) { ended = `failed to start: ${err.message}`; resolve(null) }
    })
    child.once('exit', (code, signal) => {
      ended = code !== null ? `exited ${code}` : `killed by ${signal}`
      // What it forked and left behind goes with it; then the watchdog has nothing left to do.
      if (pid !== undefined) killGroup(pid)
      watchdog?.kill('SIGKILL')
      // Resolved once its output is complete, unless a process outside its group holds the pipes.
      const late = setTimeout(() => resolve(code ?? signal), 1000)
      child.once('close', () => { clearTimeout(late); resolve(code ?? signal) })
    })
  })

  const hasExited = () => ended !== undefined
  const describe = () => {
    const state = ended ?? 'running'
    const error = spawnError !== undefined && pid !== undefined ? ` (${spawnError.message})` : ''
    return `${options.name} (pid ${pid ?? 'none'}, ${state}${error}); its last output:\n${output.trimEnd() || '(none)'}`
  }

  async function waitForOutput (pattern: RegExp, timeoutMs: number): Promise<void> {
    if (pattern.test(output)) return
    let check = () => {}
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms from ${describe()}`)), timeoutMs)
        check = () => { if (pattern.test(output)) { clearTimeout(timer); resolve() } }
        child.stdout!.on('data', check)
        child.stderr!.on('data', check)
        exited.then(() => {
          clearTimeout(timer)
          if (pattern.test(output)) resolve()
          else reject(new Error(`no output matching ${pattern} before the end of ${describe()}`))
        }, reject)
      })
    } finally {
      child.stdout!.off('data', check)
      child.stderr!.off('data', check)
    }
  }

  return {
    name: options.name,
    process: child,
    output: () => output,
    exited,
    hasExited,
    waitForOutput,
    signal: (signal) => { if (!hasExited()) child.kill(signal) },
    kill: async () => {
      if (pid !== undefined && !hasExited()) killGroup(pid)
      return await exited
    },
    describe
  }
}

/** Calls `onLine` with each complete, non-empty line `stream` writes; an unfinished last line waits for the rest. */
export function eachLine (stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = ''
  stream.on('data', (chunk: string | Buffer) => {
    pending += String(chunk)
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) if (line.trim() !== '') onLine(line)
  })
}
