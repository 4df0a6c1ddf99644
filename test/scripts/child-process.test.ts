import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { spawnTied, type TiedProcess } from '../../scripts/child-process.js'

/** What every spawn in the tests relies on: a child never outlives the test that started it. */

const root = join(import.meta.dirname, '..', '..')
const fixture = join(import.meta.dirname, 'fixtures', 'tied-parent.ts')

/** False once the process is gone, or is a zombie that nobody has reaped yet (dead either way). */
function isRunning (pid: number): boolean {
  if (existsSync('/proc/self/stat')) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // The state letter follows the command name, which is in parentheses.
      return stat[stat.lastIndexOf(')') + 2] !== 'Z'
    } catch {
      return false
    }
  }
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pids still running once all are gone or `timeoutMs` has passed. */
async function survivors (pids: number[], timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let running = pids.filter(isRunning)
  while (running.length > 0 && Date.now() < deadline) {
    await sleep(20)
    running = running.filter(isRunning)
  }
  return running
}

/** Resolves with the first line of output, or rejects if the process closes its output first. */
async function firstLine (child: TiedProcess): Promise<string> {
  return await new Promise((resolve, reject) => {
    const check = () => {
      const output = child.output()
      if (output.includes('\n')) resolve(output.slice(0, output.indexOf('\n')))
    }
    child.process.stdout!.on('data', check)
    child.process.once('close', () => { check(); reject(new Error(`no line from ${child.describe()}`)) })
  })
}

interface Pids { parent: number, child: number, grandchild: number }

/** Starts the fixture: a parent with a tied child, which has a child of its own. */
async function startParent (t: Test, how: 'wait' | 'exit' | 'throw'): Promise<{ parent: TiedProcess, pids: Pids }> {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const parent = spawnTied(process.execPath, ['--import', 'tsx', fixture, how], { name: 'parent', cwd: root, env })
  t.teardown(parent.kill)
  const pids = JSON.parse(await firstLine(parent)) as Pids
  t.ok(pids.child > 0 && pids.grandchild > 0, 'the child and the grandchild started')
  return { parent, pids }
}

for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  t.test(`a parent killed with ${signal}: its tied child and the child's own child die too`, async (t) => {
    const { parent, pids } = await startParent(t, 'wait')
    t.ok(isRunning(pids.child) && isRunning(pids.grandchild), 'both run while the parent lives')
    // The parent alone, as tap's timeout or the kernel's OOM killer would: not its group.
    process.kill(pids.parent, signal)
    t.equal(await parent.exited, signal)
    t.same(await survivors([pids.child, pids.grandchild]), [], 'nothing survives the parent')
  })
}

for (const how of ['exit', 'throw'] as const) {
  t.test(`a parent that ends by ${how === 'exit' ? 'exiting' : 'an uncaught error'} without stopping its child takes it along`, async (t) => {
    const { parent, pids } = await startParent(t, how)
    t.equal(await parent.exited, how === 'exit' ? 0 : 1)
    t.same(await survivors([pids.child, pids.grandchild]), [], 'nothing survives the parent')
  })
}

t.test('kill() ends the child and what it forked; so does the child exiting by itself', async (t) => {
  const forking = (then: string) => `
    const { spawn } = require('node:child_process')
    const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    console.log(grandchild.pid)
    ${then}`
  const killed = spawnTied(process.execPath, ['-e', forking('setInterval(() => {}, 1000)')], { name: 'killed' })
  const killedGrandchild = Number(await firstLine(killed))
  t.equal(await killed.kill(), 'SIGKILL')
  t.same(await survivors([killedGrandchild]), [], 'its child is gone too')

  const leaving = spawnTied(process.execPath, ['-e', forking('setTimeout(() => process.exit(3), 100)')], { name: 'leaving' })
  const leftBehind = Number(await firstLine(leaving))
  t.equal(await leaving.exited, 3)
  t.same(await survivors([leftBehind]), [], 'what it left behind is gone')
  t.match(leaving.describe(), /^leaving \(pid \d+, exited 3\); its last output:\n\d+$/)
})

t.test('output is kept, bounded to the last outputLimit characters, stdout and stderr alike', async (t) => {
  const chatty = spawnTied(process.execPath, ['-e', 'process.stdout.write("a".repeat(100000)); process.stderr.write("the end")'], { name: 'chatty', outputLimit: 1000 })
  t.equal(await chatty.exited, 0)
  t.equal(chatty.output().length, 1000)
  t.match(chatty.output(), /^a+the end$/)
})

t.test('a command that cannot start is reported, not thrown', async (t) => {
  const missing = spawnTied(join(root, 'no-such-command'), [], { name: 'missing' })
  t.equal(await missing.exited, null)
  t.match(missing.describe(), /^missing \(pid none, failed to start: .*ENOENT/)
})
