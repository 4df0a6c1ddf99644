import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'

/**
 * How much of the machine other work used while the bench measured: the machine's busy CPU time
 * (/proc/stat) less the CPU time of the bench and the processes it started (/proc/<pid>/stat). On a
 * machine shared with others, it tells which figures were measured on busy cores.
 */

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** CPU seconds the whole machine has spent not idle (user, nice, system, irq, softirq, steal). */
function machineBusySeconds (): number {
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim().split(/\s+/).slice(1).map(Number)
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND
}

/** CPU seconds process `pid` has used (user + system); 0 when it is not there. */
export function processSeconds (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

function benchSeconds (): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/**
 * Starts counting; `stop()` returns the cores other work kept busy on average meanwhile. `children`
 * lists the processes the bench started that are alive now: read at the start and at the stop (a
 * process started in between counted from 0), so call `stop()` before stopping any of them.
 */
export function otherLoadMeter (children: () => number[]) {
  const startedAt = performance.now()
  const busyAtStart = machineBusySeconds()
  const benchAtStart = benchSeconds()
  const childrenAtStart = new Map(children().map((pid) => [pid, processSeconds(pid)]))
  return {
    stop (): number {
      const ours = benchSeconds() - benchAtStart +
        children().reduce((sum, pid) => sum + processSeconds(pid) - (childrenAtStart.get(pid) ?? 0), 0)
      const elapsed = (performance.now() - startedAt) / 1000
      return elapsed > 0 ? Math.max(0, (machineBusySeconds() - busyAtStart - ours) / elapsed) : 0
    }
  }
}

export const CORES = cpus().length

/** CPU time by the parts of a run that a call went through: each a few processes, or the bench itself. */
export type CpuParts<Part extends string> = Record<Part, number[] | 'bench'>

/** Starts counting each part's CPU seconds; `stop()` gives them. The processes must outlive the count. */
export function cpuMeter<Part extends string> (parts: CpuParts<Part>) {
  const secondsOf = (pids: number[] | 'bench') => pids === 'bench' ? benchSeconds() : pids.reduce((sum, pid) => sum + processSeconds(pid), 0)
  const entries = Object.entries(parts) as Array<[Part, number[] | 'bench']>
  const atStart = entries.map(([, pids]) => secondsOf(pids))
  return {
    stop: (): Record<Part, number> => Object.fromEntries(entries.map(([part, pids], i) => [part, secondsOf(pids) - (atStart[i] as number)])) as Record<Part, number>
  }
}
