import { RoomServiceClient } from 'livekit-server-sdk'
import { startLivekitServer } from '../scripts/livekit-server.js'
import { createLivekitApi, ROOM_TOKENS_KEPT } from '#livekit/api.js'

/**
 * `npx tsx bench/livekit-calls.ts`: this process's CPU time per LiveKit server-API call, through
 * livekit-server-sdk and through src/livekit/api.ts, against a real livekit-server on loopback.
 * CPU time (process.cpuUsage), not wall time: LiveKit's own work runs in its process and is not
 * counted, and other load on the machine changes it little. Each figure is the median of ROUNDS.
 */

const CALLS = Number(process.env.BENCH_CALLS ?? 3000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const CONCURRENCY = 16
const WARM_UP = 300

const livekit = await startLivekitServer()
const requestTimeoutMs = 5000
const sdk = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret, { requestTimeout: requestTimeoutMs / 1000, failover: false })
const api = createLivekitApi({ url: livekit.url, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret, requestTimeoutMs })
const roomName = 'bench-room'
await sdk.createRoom({ name: roomName })
// More rooms than the client keeps tokens for: every call signs a new one.
const manyRooms = Array.from({ length: ROOM_TOKENS_KEPT * 2 }, (_, i) => `bench-missing-${i}`)

interface Scenario {
  call: string
  client: string
  run: (i: number) => Promise<unknown>
}

const scenarios: Scenario[] = [
  { call: 'listRooms([name])', client: 'livekit-server-sdk', run: async () => await sdk.listRooms([roomName]) },
  { call: 'listRooms([name])', client: 'livekit-api', run: async () => await api.rooms.listRooms([roomName]) },
  { call: 'listParticipants(name)', client: 'livekit-server-sdk', run: async () => await sdk.listParticipants(roomName) },
  { call: 'listParticipants(name)', client: 'livekit-api', run: async () => await api.rooms.listParticipants(roomName) },
  { call: 'listParticipants(name)', client: 'livekit-api, new room each call', run: async (i) => await api.rooms.listParticipants(manyRooms[i % manyRooms.length] as string) }
]

/** `calls` calls, CONCURRENCY at a time; CPU µs per call and calls per second. */
async function measure (scenario: Scenario, calls: number): Promise<{ cpuUs: number, perSecond: number }> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < calls) await scenario.run(next++)
  }
  const cpu = process.cpuUsage()
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const elapsedMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  return { cpuUs: (used.user + used.system) / calls, perSecond: calls / elapsedMs * 1000 }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

const results = new Map<Scenario, Array<{ cpuUs: number, perSecond: number }>>()
for (const scenario of scenarios) {
  await measure(scenario, WARM_UP)
  results.set(scenario, [])
}
// Rounds interleave the clients, so that a change in the machine's load falls on all of them.
for (let round = 0; round < ROUNDS; round++) {
  for (const scenario of scenarios) results.get(scenario)?.push(await measure(scenario, CALLS))
}

console.log(`livekit-server on loopback; ${CALLS} calls x ${ROUNDS} rounds at concurrency ${CONCURRENCY}; median of rounds\n`)
console.log('call'.padEnd(24), 'client'.padEnd(34), 'CPU µs/call'.padStart(12), 'min-max'.padStart(12), 'calls/s'.padStart(9))
for (const scenario of scenarios) {
  const rounds = results.get(scenario) ?? []
  const cpu = rounds.map((r) => r.cpuUs)
  console.log(
    scenario.call.padEnd(24),
    scenario.client.padEnd(34),
    median(cpu).toFixed(0).padStart(12),
    `${Math.min(...cpu).toFixed(0)}-${Math.max(...cpu).toFixed(0)}`.padStart(12),
    median(rounds.map((r) => r.perSecond)).toFixed(0).padStart(9)
  )
}

await api.close()
await livekit.stop()
