import { join } from 'node:path'
import type { Test } from 'tap'
import { spawnTied, type TiedProcess } from '../../scripts/child-process.js'
import { endWithTest } from '../helper.js'

export const root = join(import.meta.dirname, '..', '..')

/** This machine's environment for a script, less what would change its behaviour: test runner, LiveKit, dev and user-token keys. */
export function scriptEnv (values: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(NODE_OPTIONS$|TAP|_TAPJS|LIVEKIT_|AGENT_|JWT_|HOST$|PORT$|LOG_LEVEL$|REDIS_URL$|INIT_CWD$|npm_)/.test(key)) continue
    env[key] = value
  }
  return { ...env, ...values }
}

export interface RunningScript {
  child: TiedProcess
  /** What it has written to stdout so far (stderr is apart). */
  stdout: () => string
  stderr: () => string
}

/** Starts `command` tied to the test (killed when it ends, its output shown if it failed). */
export function startScript (t: Test, command: string, args: string[], options: { env: NodeJS.ProcessEnv, cwd?: string, name?: string }): RunningScript {
  const child = spawnTied(command, args, { name: options.name ?? args.join(' '), cwd: options.cwd ?? root, env: options.env })
  endWithTest(t, child)
  let stdout = ''
  let stderr = ''
  child.process.stdout!.on('data', (chunk: string) => { stdout += chunk })
  child.process.stderr!.on('data', (chunk: string) => { stderr += chunk })
  return { child, stdout: () => stdout, stderr: () => stderr }
}

/** Runs `command` to its end: its exit code (or signal) and what it wrote to stdout and stderr. */
export async function runScript (t: Test, command: string, args: string[], options: { env: NodeJS.ProcessEnv, cwd?: string }): Promise<{ code: number | NodeJS.Signals | null, stdout: string, stderr: string }> {
  const script = startScript(t, command, args, options)
  const code = await script.child.exited
  return { code, stdout: script.stdout(), stderr: script.stderr() }
}

/** A TypeScript script of this repository, run with tsx from any working directory. */
export function tsxArgs (script: string, args: string[]): string[] {
  return ['--import', import.meta.resolve('tsx'), join(root, script), ...args]
}
