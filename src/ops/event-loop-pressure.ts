import { monitorEventLoopDelay } from 'node:perf_hooks'

/** How often the event loop's delay is sampled (the mean of each window). */
export const SAMPLE_EVERY_MS = 250
/** Windows in a row past the limit that make an overload: half a second of it, not one stall. */
export const WINDOWS_OVER = 2
/** The delay monitor's resolution, which is taken off its mean (as @fastify/under-pressure does). */
const RESOLUTION_MS = 10

/** The event loop's mean delay over the window since the last call, in ms; Infinity when the loop never turned meanwhile. */
export type DelaySampler = () => number

export interface EventLoopPressureOptions {
  /** OVERLOAD_MAX_EVENT_LOOP_DELAY_MS; 0: never overloaded. */
  maxDelayMs: number
  /** Where the delay comes from: Node's event-loop delay histogram unless given. */
  sample?: DelaySampler
  /** Sample on a timer every this many ms; 0: only when `tick` is called. */
  everyMs?: number
}

function histogramSampler (): { sample: DelaySampler, stop: () => void } {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  return {
    sample () {
      const mean = histogram.mean / 1e6
      histogram.reset()
      return Number.isNaN(mean) ? Number.POSITIVE_INFINITY : Math.max(0, mean - RESOLUTION_MS)
    },
    stop: () => { histogram.disable() }
  }
}

/**
 * Whether the event loop is overloaded: its mean delay past `maxDelayMs` in each of the last
 * WINDOWS_OVER windows, a load that lasts, rather than in one window only. A single stall that has
 * passed (the compilation of a replica just started, a long GC, the machine starving the process a
 * moment) leaves a window past the limit behind it, and refusing the requests that come after it
 * would refuse a loop that turns freely again: @fastify/under-pressure alone did so for 250 ms.
 */
export function createEventLoopPressure ({ maxDelayMs, sample, everyMs = SAMPLE_EVERY_MS }: EventLoopPressureOptions) {
  const sampler = sample === undefined ? histogramSampler() : { sample, stop: () => {} }
  let windowsOver = 0
  let lastDelayMs = 0
  function tick (): void {
    lastDelayMs = sampler.sample()
    windowsOver = lastDelayMs > maxDelayMs ? windowsOver + 1 : 0
  }
  const timer = everyMs > 0 ? setInterval(tick, everyMs).unref() : undefined
  return {
    tick,
    overloaded: (): boolean => maxDelayMs > 0 && windowsOver >= WINDOWS_OVER,
    /** The last window's mean delay (ms), for the refusal's log line. */
    delayMs: (): number => lastDelayMs,
    stop (): void {
      clearInterval(timer)
      sampler.stop()
    }
  }
}

export type EventLoopPressure = ReturnType<typeof createEventLoopPressure>
