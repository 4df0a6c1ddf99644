import { readFileSync } from 'node:fs'
import { Parser, type Result } from 'tap-parser'

/**
 * Counts a tap run from its raw TAP (`tap --reporter=tap`), for .ci/run. A test case is a
 * subtest inside a test file (each `t.test`, nested ones too); assertions are counted apart. A
 * file that failed outside all of its test cases (a crash, an error at its top level, a timeout
 * between tests) counts as one failed test case, so that such a file never passes unseen.
 *
 * Usage: tsx scripts/count-tests.ts run.tap
 * Prints a summary to stderr and "<passed> <failed>" (test cases) to stdout.
 */

export interface TestCounts {
  files: number
  cases: { passed: number, failed: number }
  /** Files that failed with none of their test cases failing. */
  failedFiles: number
  assertions: { passed: number, failed: number }
  /** Test cases and assertions marked SKIP or TODO (TAP does not tell a skipped test from an assertion). */
  skipped: number
}

const isSkipped = (result: Result) => result.skip !== false || result.todo !== false

export function countTests (tap: string): TestCounts {
  const counts: TestCounts = { files: 0, cases: { passed: 0, failed: 0 }, failedFiles: 0, assertions: { passed: 0, failed: 0 }, skipped: 0 }
  const root = new Parser()
  let failedCasesInFile = 0

  // Everything inside one test file: the subtests' closing points are test cases, the rest assertions.
  const watch = (parser: Parser): void => {
    parser.on('assert', (result: Result) => {
      if (isSkipped(result)) counts.skipped++
      else if (result.closingTestPoint) {
        if (result.ok) counts.cases.passed++
        else { counts.cases.failed++; failedCasesInFile++ }
      } else if (result.ok) counts.assertions.passed++
      else counts.assertions.failed++
    })
    parser.on('child', watch)
  }
  // The root's children are the test files, its test points their results.
  root.on('child', (file: Parser) => {
    failedCasesInFile = 0
    watch(file)
  })
  root.on('assert', (result: Result) => {
    counts.files++
    if (!result.ok && !isSkipped(result) && failedCasesInFile === 0) counts.failedFiles++
  })
  root.end(tap)
  return counts
}

if (import.meta.filename === process.argv[1]) {
  const file = process.argv[2]
  if (file === undefined) throw new Error('usage: count-tests.ts <raw TAP file>')
  const { files, cases, failedFiles, assertions, skipped } = countTests(readFileSync(file, 'utf8'))
  const failed = cases.failed + failedFiles
  console.error(`::: ${files} test files; test cases: ${cases.passed} passed, ${failed} failed` +
    `${failedFiles > 0 ? ` (${failedFiles} of them a file that failed outside its test cases)` : ''}; ` +
    `assertions: ${assertions.passed} passed, ${assertions.failed} failed; ${skipped} skipped`)
  console.log(`${cases.passed} ${failed}`)
}
