import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { writeLeadingSections, writeSection } from '../../bench/section.js'

/** A report file in a directory of its own, gone when the test ends. */
function reportFile (t: Test, text?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-section-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'BENCHMARKS.md')
  if (text !== undefined) writeFileSync(file, text)
  return file
}

const EXISTING = '# Benchmarks\n\nold intro\n\n## Results\n\nold results\n\n## Reads\n\nreads\n\n## By hand\n\nnotes\n'

t.test('npm run bench\'s report replaces its own sections and keeps the others\'', async (t) => {
  const file = reportFile(t, EXISTING)
  writeLeadingSections(file, '# Benchmarks\n\nnew intro\n\n## Results\n\nnew results\n\n## Targets\n\ntargets\n')
  t.equal(readFileSync(file, 'utf8'), '# Benchmarks\n\nnew intro\n\n## Results\n\nnew results\n\n## Targets\n\ntargets\n\n## Reads\n\nreads\n\n## By hand\n\nnotes\n')
  writeLeadingSections(file, '# Benchmarks\n\nagain\n\n## Results\n\nagain\n\n## Targets\n\nagain\n')
  t.equal(readFileSync(file, 'utf8'), '# Benchmarks\n\nagain\n\n## Results\n\nagain\n\n## Targets\n\nagain\n\n## Reads\n\nreads\n\n## By hand\n\nnotes\n', 'written again, nothing doubled')
})

t.test('into a file that is not there yet, the report alone', async (t) => {
  const file = reportFile(t)
  writeLeadingSections(file, '# Benchmarks\n\n## Results\n\nr\n')
  t.equal(readFileSync(file, 'utf8'), '# Benchmarks\n\n## Results\n\nr\n')
})

t.test('another bench\'s section is replaced in place, or added at the end', async (t) => {
  const file = reportFile(t, EXISTING)
  writeSection(file, '## Reads', '## Reads\n\nnew reads\n')
  t.equal(readFileSync(file, 'utf8'), EXISTING.replace('reads\n\n## By', 'new reads\n\n## By'))
  writeSection(file, '## Reconcile', '## Reconcile\n\npasses\n')
  t.match(readFileSync(file, 'utf8'), /## By hand\n\nnotes\n\n## Reconcile\n\npasses\n$/)
})
