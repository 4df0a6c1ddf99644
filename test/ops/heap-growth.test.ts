import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { heapGrowthFlags } from '#ops/heap-growth.js'

/** V8's heap growth limited at start (src/server.ts): a full GC comes sooner, the young generation stays small. */

const churn = join(import.meta.dirname, 'fixtures', 'old-space-churn.ts')
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MB`

/** The old space's peak use and the new space's peak size in a fresh Node running the churn, with the service's limits or V8's own. */
async function peaks (mode: 'limit' | 'v8'): Promise<{ old: number, young: number }> {
  // Without NODE_OPTIONS: the test runner's, or a heap flag in it, is not what is measured.
  const env = { ...process.env, NODE_OPTIONS: '' }
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', churn, mode], { timeout: 60_000, env })
  return JSON.parse(stdout) as { old: number, young: number }
}

t.test('with the limits, the old space peaks well below where V8 alone lets it grow, and the young generation stays small', async (t) => {
  const [limited, own] = await Promise.all([peaks('limit'), peaks('v8')])
  t.ok(limited.old * 1.25 < own.old, `old space: peak ${mb(limited.old)} with the limits, ${mb(own.old)} without`)
  t.ok(limited.young * 2 < own.young, `new space: peak ${mb(limited.young)} with the limits, ${mb(own.young)} without`)
})

t.test('a choice given to Node is left as it is', async (t) => {
  t.same(heapGrowthFlags([], ''), ['--heap-growing-percent=50', '--semi-space-growth-factor=1'], 'none given: both')
  t.same(heapGrowthFlags(['--heap-growing-percent=80'], ''), ['--semi-space-growth-factor=1'])
  t.same(heapGrowthFlags(['--heap_growing_percent=80'], ''), ['--semi-space-growth-factor=1'])
  t.same(heapGrowthFlags([], '--max-semi-space-size=8'), ['--heap-growing-percent=50'], 'the image\'s NODE_OPTIONS')
  t.same(heapGrowthFlags(['--max_semi_space_size=16'], '--enable-source-maps'), ['--heap-growing-percent=50'])
  t.same(heapGrowthFlags([], '--enable-source-maps --semi-space-growth-factor=2'), ['--heap-growing-percent=50'])
  t.same(heapGrowthFlags(['--max-old-space-size=200'], '--stack-trace-limit=50'), ['--heap-growing-percent=50', '--semi-space-growth-factor=1'], 'other flags do not count')
})
