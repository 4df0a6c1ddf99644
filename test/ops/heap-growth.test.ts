import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { limitHeapGrowth } from '#ops/heap-growth.js'

/** V8's heap growth limited at start (src/server.ts): a full GC comes sooner, and the old space stays smaller. */

const churn = join(import.meta.dirname, 'fixtures', 'old-space-churn.ts')

/** The old space's peak use in a fresh Node running the churn, with the service's limit or with V8's own growth. */
async function peakOldSpace (mode: 'limit' | 'v8'): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', churn, mode], { timeout: 60_000 })
  return (JSON.parse(stdout) as { peak: number }).peak
}

t.test('with the limit, the old space peaks well below where V8 alone lets it grow', async (t) => {
  const [limited, own] = await Promise.all([peakOldSpace('limit'), peakOldSpace('v8')])
  t.ok(limited * 1.25 < own, `peak ${(limited / 2 ** 20).toFixed(0)} MB with the limit, ${(own / 2 ** 20).toFixed(0)} MB without`)
})

t.test('a growth chosen on Node\'s command line is left as it is', async (t) => {
  t.notOk(limitHeapGrowth(['--heap-growing-percent=80']))
  t.notOk(limitHeapGrowth(['--heap_growing_percent=80']))
  t.ok(limitHeapGrowth(['--max-semi-space-size=8']), 'other flags do not count')
})
