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

/** Whether Node's command line or NODE_OPTIONS gives `flag` (`--max-semi-space-size`, with - or _). */
function given (flag: string, execArgv: readonly string[], nodeOptions: string): boolean {
  const pattern = new RegExp(`^${flag.replaceAll('-', '[-_]')}\\b`)
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => pattern.test(arg))
}

/**
 * The V8 flags for a service's heap growth, but those Node was started with a choice of:
 * - `--heap-growing-percent=50` (HEAP_GROWING_PERCENT), unless Node's command line set it (the flag
 *   is not allowed in NODE_OPTIONS). V8 reads it at every full GC, so it applies from the next one.
 * - `--semi-space-growth-factor=1` unless a semi-space size or growth was given (the image's
 *   NODE_OPTIONS gives `--max-semi-space-size=8`): the young generation stays at the size it starts
 *   with. A semi-space's maximum is fixed when the heap is made, and on a host with much memory Node 24
 *   grows the young generation to 128 MB: RSS under load reached 264-300 MB without a flag, 176-196 MB
 *   with this one and 173-201 MB with the image's, reads within 4% of each other.
 */
export function heapGrowthFlags (execArgv: readonly string[], nodeOptions: string): string[] {
  const flags: string[] = []
  if (!given('--heap-growing-percent', execArgv, '')) flags.push(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  if (!given('--max-semi-space-size', execArgv, nodeOptions) && !given('--semi-space-growth-factor', execArgv, nodeOptions)) flags.push('--semi-space-growth-factor=1')
  return flags
}

/** Sets heapGrowthFlags in this process, from its command line and NODE_OPTIONS; returns the flags it set. */
export function limitHeapGrowth (execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const flags = heapGrowthFlags(execArgv, nodeOptions)
  for (const flag of flags) setFlagsFromString(flag)
  return flags
}
