import t from 'tap'
import { countTests } from '../../scripts/count-tests.js'

/** Raw TAP as tap 21 prints it for a run of four files (trimmed of diagnostics). */
const RUN = `TAP version 14
# Subtest: test/pass.test.ts
    # Subtest: one
        ok 1 - should be equal
        ok 2 - should be equal
        1..2
    ok 1 - one # time=2.993ms

    # Subtest: outer
        # Subtest: inner
            ok 1 - x
            1..1
        ok 1 - inner # time=0.615ms

        1..1
    ok 2 - outer # time=1.932ms

    ok 3 - skipped # SKIP not here
    1..3
    # time=17.666ms
ok 1 - test/pass.test.ts # time=17.666ms

# Subtest: test/fail.test.ts
    # Subtest: good
        ok 1 - should be equal
        1..1
    ok 1 - good # time=3.668ms

    # Subtest: bad
        not ok 1 - should be equal
          ---
          compare: ===
          ...

        1..1
    not ok 2 - bad # time=14.769ms

    1..2
    # time=30.359ms
not ok 2 - test/fail.test.ts # time=30.359ms

# Subtest: test/crash.test.ts
    # Subtest: good
        ok 1 - should be equal
        1..1
    ok 1 - good # time=3.763ms

    not ok 2 - top-level crash
      ---
      tapCaught: unhandledRejection
      test: TAP
      ...

    1..2
    # time=82.894ms
not ok 3 - test/crash.test.ts # time=82.894ms

# Subtest: test/hang.test.ts
    # Subtest: good
        ok 1 - should be equal
        1..1
    ok 1 - good # time=3.362ms

    not ok 2 - timeout!
      ---
      expired: TAP
      ...

    1..2
not ok 4 - test/hang.test.ts # time=120009.2ms
  ---
  signal: SIGKILL
  ...

1..4
# { total: 12, pass: 7, fail: 4, skip: 1 }
-----------------|---------|----------|---------|---------|
File             | % Stmts | % Branch | % Funcs | % Lines |
ERROR: Coverage for lines (85%) does not meet global threshold (90%)
`

t.test('test cases are the subtests of the files; assertions and skips are counted apart', async (t) => {
  t.same(countTests(RUN), {
    files: 4,
    // one, outer, inner, good (three times); bad.
    cases: { passed: 6, failed: 1 },
    // The crash and the timeout, which no test case of theirs caught.
    failedFiles: 2,
    assertions: { passed: 6, failed: 3 },
    skipped: 1
  })
})

t.test('a file that failed inside a test case is not counted twice', async (t) => {
  const fail = RUN.slice(RUN.indexOf('# Subtest: test/fail.test.ts'), RUN.indexOf('# Subtest: test/crash.test.ts'))
  t.match(countTests(`TAP version 14\n${fail}1..1\n`), { cases: { passed: 1, failed: 1 }, failedFiles: 0 })
})

t.test('nothing run, nothing counted', async (t) => {
  t.same(countTests(''), { files: 0, cases: { passed: 0, failed: 0 }, failedFiles: 0, assertions: { passed: 0, failed: 0 }, skipped: 0 })
})
