import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'

/** A port a local process is about to listen on. */
export interface PortNeed {
  port: number
  protocol: 'tcp' | 'udp'
  /** The address it will bind: a UDP probe always takes the wildcard, since LiveKit binds each interface. */
  host: string
  /** What listens there, for the message: 'the service'. */
  what: string
  /** The variable that sets the port: 'PORT'. */
  key: string
}

export interface PortProblem extends PortNeed {
  /** EADDRINUSE (taken), or why else it cannot be bound (EACCES, EADDRNOTAVAIL). */
  code: string
}

/** Binds the port for a moment; resolves with the error code if that fails, else undefined. */
async function probe (need: PortNeed): Promise<string | undefined> {
  return await new Promise((resolve) => {
    const failed = (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message)
    if (need.protocol === 'udp') {
      const socket = createSocket('udp4').once('error', failed)
      socket.bind(need.port, '0.0.0.0', () => socket.close(() => resolve(undefined)))
    } else {
      const server = createServer().once('error', failed)
      server.listen(need.port, need.host, () => server.close(() => resolve(undefined)))
    }
  })
}

/** The needs that cannot be met now, each with its reason, in the order given. */
export async function portProblems (needs: readonly PortNeed[]): Promise<PortProblem[]> {
  const problems: PortProblem[] = []
  for (const need of needs) {
    const code = await probe(need)
    if (code !== undefined) problems.push({ ...need, code })
  }
  return problems
}

/** `a`, `a and b`, `a, b and c`. */
function list (items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`
}

function named (problem: PortProblem): string {
  return `${problem.port}/${problem.protocol} (${problem.what}, ${problem.key})`
}

/** One line naming every port that is taken (and any that cannot be bound for another reason), and what to do. */
export function describePortProblems (problems: readonly PortProblem[]): string {
  const taken = problems.filter((problem) => problem.code === 'EADDRINUSE')
  const other = problems.filter((problem) => problem.code !== 'EADDRINUSE')
  const parts: string[] = []
  if (taken.length === 1) parts.push(`port ${named(taken[0]!)} is already in use`)
  if (taken.length > 1) parts.push(`ports ${list(taken.map(named))} are already in use`)
  for (const problem of other) parts.push(`cannot listen on ${problem.host} port ${named(problem)}: ${problem.code}`)
  const keys = list(problems.map((problem) => problem.key))
  const advice = taken.length === 0
    ? `set ${keys} (or the address) to something this machine can listen on`
    : `stop what holds ${taken.length === 1 ? 'it' : 'them'} (another npm run dev?) or set ${keys} to ${problems.length === 1 ? 'a free port' : 'free ports'}`
  return `${parts.join('; ')}; ${advice}`
}
