import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { runScript, scriptEnv, tsxArgs } from './run-script.js'

/** The JWT secret the load-test tests' services verify with. */
export const SECRET = 'loadtest-test-secret-of-at-least-32-bytes'

/** A folder with no .env to run the script in, so that the machine's .env changes nothing. */
export async function scriptFolder (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loadtest-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** `npm run loadtest -- <args>` as a child process, run to its end. */
export async function loadtest (t: Test, args: string[], env: Record<string, string> = { JWT_SECRET: SECRET }) {
  return await runScript(t, process.execPath, tsxArgs('scripts/loadtest.ts', args), { env: scriptEnv(env), cwd: await scriptFolder(t) })
}
