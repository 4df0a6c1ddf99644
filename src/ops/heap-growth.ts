import { setFlagsFromString } from 'node:v8'

/**
 * How far V8's old generation may grow past what survived its last full GC before it collects
 * again: 50%. V8 picks a factor of up to 4x from its GC and mutator speeds, and under load its
 * request garbage that outlives two scavenges (a socket's, a kept read's) is promoted at 2-6 MB/s,
 * so at 10,000 sessions the old space grew from 60 to 190 MB between full GCs, each of which
 * costs 5-25 ms. At 50% a full GC comes every few seconds and RSS under load held 160-200 MB,
 * throughput unchanged (BENCHMARKS.md, "Memory").
 */
export const HEAP_GROWING_PERCENT = 50

/**
 * Sets V8's `--heap-growing-percent` (it reads the flag at every full GC, so it applies from the
 * next one on) unless Node's command line set it: `node --heap-growing-percent=N` wins. The flag is
 * not allowed in NODE_OPTIONS. Returns whether it was set here.
 */
export function limitHeapGrowth (execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return false
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  return true
}
