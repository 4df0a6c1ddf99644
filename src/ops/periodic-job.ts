import type { FastifyBaseLogger } from 'fastify'

export interface PeriodicJobOptions {
  /** What the job is, in log lines. */
  name: string
  everyMs: number
  /** Runs the job once; a failure is logged and the job runs again next time. */
  run: () => Promise<void>
  log: FastifyBaseLogger
}

/** A job run every `everyMs` until stopped, never twice at once; its timer never keeps the process alive. */
export function createPeriodicJob ({ name, everyMs, run, log }: PeriodicJobOptions) {
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  async function tick (): Promise<void> {
    try {
      await run()
    } catch (err) {
      log.warn({ err }, `${name} failed; trying again in ${everyMs} ms`)
    }
    if (!stopped) schedule()
  }

  function schedule (): void {
    // `tick` never rejects: it logs its own failures.
    timer = setTimeout(tick, everyMs)
    timer.unref()
  }

  return {
    start: schedule,
    /** Whether `stop` was called: a long run checks it between steps. */
    stopped: () => stopped,
    stop (): void {
      stopped = true
      clearTimeout(timer)
    }
  }
}
