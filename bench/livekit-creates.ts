import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { RoomServiceClient } from 'livekit-server-sdk'
import { freePort, livekitServerBin, startLivekitServer } from '../scripts/livekit-server.js'
import { mapLimited } from '#ops/map-limited.js'
import { processSeconds } from './cpu.js'
import { sessionRoom } from './rooms.js'
import { writeSection } from './section.js'
import { webhookSink } from './webhook-sink.js'

/**
 * `npx tsx bench/livekit-creates.ts`: livekit-server's own CPU time per CreateRoom as its rooms
 * grow, from the bare SDK (16 calls in flight), each room made as the service's start makes it,
 * LiveKit sending its webhooks to a sink that answers as the service does. Per step of
 * BENCH_CREATES_STEP rooms: creates per second, LiveKit's CPU per create (/proc), and from its
 * Prometheus endpoint its goroutines, heap and collections; then, from LiveKit's Go CPU profile of
 * the whole run (`go tool pprof`), what share its garbage collector took. No service runs: this is
 * LiveKit's cost, that a start pays and that the service cannot change. Writes the "Start beside
 * 10,000 rooms" section of BENCHMARKS.md (BENCH_OUT, '' to only print).
 */

const TOTAL = Number(process.env.BENCH_CREATES_TOTAL ?? 20_000)
const STEP = Number(process.env.BENCH_CREATES_STEP ?? 2_000)
const OUT = process.env.BENCH_OUT ?? 'BENCHMARKS.md'
const HEADING = '## Start beside 10,000 rooms'
const CALLS_AT_ONCE = 16

const sinkPort = await freePort()
// Answered as the service answers (a JSON receipt), so that LiveKit dials as it does for the service.
const sink = webhookSink(sinkPort, '{"outcome":"applied"}')
await sink.open()
const prometheusPort = await freePort()
const profileDir = mkdtempSync(join(tmpdir(), 'livekit-creates-'))
const cpuProfile = join(profileDir, 'livekit.prof')
const livekit = await startLivekitServer({
  apiKey: 'benchkey',
  cpuProfile,
  extraConfig: [
    `webhook: { api_key: benchkey, urls: ["http://127.0.0.1:${sinkPort}/api/v1/livekit/webhook"] }`,
    `prometheus: { port: ${prometheusPort} }`
  ].join('\n')
})
const sdk = new RoomServiceClient(livekit.url.replace('ws', 'http'), livekit.apiKey, livekit.apiSecret)
const pid = livekit.process.pid as number

/** Go runtime figures from LiveKit's Prometheus endpoint (on loopback, as LiveKit binds). */
async function goRuntime (): Promise<{ goroutines: number, heapBytes: number, gcs: number }> {
  const text = await (await fetch(`http://127.0.0.1:${prometheusPort}/metrics`)).text()
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
  return { goroutines: value('go_goroutines'), heapBytes: value('go_memstats_heap_inuse_bytes'), gcs: value('go_gc_duration_seconds_count') }
}

/** Frames of LiveKit's profile whose inclusive time is the collector's: its background marking, and what allocations assist it with. */
const GC_FRAMES = ['runtime.gcBgMarkWorker', 'runtime.gcAssistAlloc']

/** The share of the profile's samples spent under `frames` (inclusive), from `go tool pprof -top -cum`. */
function profileShare (frames: readonly string[]): number {
  const top = spawnSync('go', ['tool', 'pprof', '-top', '-cum', '-nodefraction=0', '-nodecount=100000', livekitServerBin, cpuProfile], { encoding: 'utf8', timeout: 120_000 })
  if (top.status !== 0) throw new Error(`go tool pprof failed: ${top.stderr}`)
  const total = Number(/Total samples = ([\d.]+)s/.exec(top.stdout)?.[1])
  const cumSeconds = (frame: string) => {
    const line = top.stdout.split('\n').find((row) => row.trim().split(/\s+/).at(-1) === frame)
    return line === undefined ? 0 : Number.parseFloat(line.trim().split(/\s+/)[3] ?? '0')
  }
  return frames.reduce((sum, frame) => sum + cumSeconds(frame), 0) / total
}

interface Step { from: number, to: number, perSecond: number, cpuMs: number, goroutines: number, heapBytes: number, gcs: number }
const steps: Step[] = []
let made = 0
try {
  while (made < TOTAL) {
    const from = made
    const to = Math.min(TOTAL, made + STEP)
    const before = { cpu: processSeconds(pid), runtime: await goRuntime(), at: performance.now() }
    await mapLimited(Array.from({ length: to - from }, (_, i) => from + i), CALLS_AT_ONCE, async (i) => { await sdk.createRoom(sessionRoom(`creates-${i}`)) })
    const seconds = (performance.now() - before.at) / 1000
    const after = await goRuntime()
    steps.push({
      from,
      to,
      perSecond: (to - from) / seconds,
      cpuMs: (processSeconds(pid) - before.cpu) / (to - from) * 1000,
      goroutines: after.goroutines,
      heapBytes: after.heapBytes,
      gcs: after.gcs - before.runtime.gcs
    })
    made = to
    console.log(JSON.stringify(steps.at(-1)))
  }
  // A graceful stop writes the profile; bounded, then killed in any case.
  livekit.process.kill('SIGINT')
  await Promise.race([new Promise((resolve) => livekit.process.once('exit', resolve)), new Promise((resolve) => setTimeout(resolve, 15_000).unref())])
} finally {
  await livekit.stop()
  await sink.close()
}
const gcShare = profileShare(GC_FRAMES)
rmSync(profileDir, { recursive: true, force: true })

const rows = steps.map((step) => `| ${step.from.toLocaleString('en-US')}-${step.to.toLocaleString('en-US')} | ${Math.round(step.perSecond).toLocaleString('en-US')} | ${step.cpuMs.toFixed(2)} | ${step.goroutines.toLocaleString('en-US')} | ${Math.round(step.heapBytes / 2 ** 20)} | ${step.gcs} |`)
const cpuMs = steps.map((step) => step.cpuMs)
const text = `${HEADING}

Written by \`npx tsx bench/livekit-creates.ts\` (BENCH_CREATES_TOTAL=${TOTAL} BENCH_CREATES_STEP=${STEP}) on ${new Date().toISOString()}.

What a start costs LiveKit, without the service: the bare SDK makes rooms as the service's start
makes them, ${CALLS_AT_ONCE} at a time, in steps of ${STEP.toLocaleString('en-US')}, LiveKit sending each room's webhooks to a sink that
answers as the service does. CPU is livekit-server's own (/proc) over the step, per room made;
goroutines, heap in use and collections completed are from its Prometheus endpoint.

| rooms | creates/s | LiveKit CPU per create (ms) | goroutines after | heap in use after (MB) | GCs completed |
| --- | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

LiveKit's CPU per create ranged from ${Math.min(...cpuMs).toFixed(2)} to ${Math.max(...cpuMs).toFixed(2)} ms between steps of the same size. Its Go
profile of the whole run puts ${(gcShare * 100).toFixed(0)}% of its CPU in its garbage collector (${GC_FRAMES.map((frame) => `\`${frame}\``).join(' and ')},
inclusive). Every room LiveKit holds keeps goroutines of its own (about
${Math.round((steps.at(-1)?.goroutines ?? 0) / Math.max(1, made))} per room here: its workers, and a server for each of its RPC topics on its in-process
bus), whose stacks each collection scans; a collection's marking runs beside the creates and
can span a step, so that a step's cost depends on where it falls in the collector's cycle. This is why \`npm run bench\`
gives the floor's start and the service's turns of 1 s rather than one window each: two windows one
after the other at 10,000 rooms measure two moments of LiveKit.
`
console.log(text)
if (OUT !== '') writeSection(resolve(OUT), HEADING, text)
process.exit(0)
