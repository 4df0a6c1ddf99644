import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk'
import t from 'tap'
import { DEV_JWT_SECRET } from '../../scripts/dev-config.js'
import { startAgentWorker } from '../agent-worker.js'
import { pollUntil } from '../clients.js'
import { bearer, buildWithLivekit, userToken } from '../helper.js'
import { scriptEnv, startScript } from './run-script.js'

/**
 * `npm run dev:client` as a developer runs it, against a real livekit-server that sends its
 * webhooks to the service, the service listening, and the real agent worker.
 */

const AGENT_NAME = 'dev-client-agent'
const { app, livekit } = await buildWithLivekit(t, { LIVEKIT_AGENT_NAME: AGENT_NAME, JWT_SECRET: DEV_JWT_SECRET })
await startAgentWorker(t, livekit, { agentName: AGENT_NAME, numIdle: 1 })
const port = (app.server.address() as AddressInfo).port
const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
const dispatches = new AgentDispatchClient(livekit.url, livekit.apiKey, livekit.apiSecret)

interface Status { participants: number, agent_connected: boolean }

/** Starts a session for `user` and waits until its agent is in the room; returns the room and the user's JWT. */
async function sessionWithAgent (user: string): Promise<{ room: string, jwt: string }> {
  const jwt = userToken(app, user)
  const started = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(jwt) })
  const room = started.json().room_name as string
  const status = await statusUntil(room, jwt, (status) => status.agent_connected, 150)
  if (!status.agent_connected) throw new Error(`the agent did not join ${room}: ${JSON.stringify(status)}`)
  return { room, jwt }
}

async function statusUntil (room: string, jwt: string, done: (status: Status) => boolean, tries = 50): Promise<Status> {
  return await pollUntil(async () => (await app.inject({ url: `/api/v1/voice-sessions/${room}/status`, headers: bearer(jwt) })).json() as Status, done, { tries, intervalMs: 100 })
}

interface Wav { format: number, channels: number, sampleRate: number, byteRate: number, blockAlign: number, bitsPerSample: number, riffSize: number, dataSize: number, fileSize: number, samples: Int16Array }

/** Reads a canonical 44-byte-header WAV file, as a player would. */
function parseWav (file: Buffer): Wav {
  if (file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE' || file.toString('ascii', 12, 16) !== 'fmt ' || file.toString('ascii', 36, 40) !== 'data') {
    throw new Error(`not a canonical WAV: ${file.subarray(0, 44).toString('hex')}`)
  }
  const dataSize = file.readUInt32LE(40)
  const samples = new Int16Array(Math.floor(Math.min(dataSize, file.length - 44) / 2))
  for (let i = 0; i < samples.length; i++) samples[i] = file.readInt16LE(44 + i * 2)
  return {
    riffSize: file.readUInt32LE(4),
    format: file.readUInt16LE(20),
    channels: file.readUInt16LE(22),
    sampleRate: file.readUInt32LE(24),
    byteRate: file.readUInt32LE(28),
    blockAlign: file.readUInt16LE(32),
    bitsPerSample: file.readUInt16LE(34),
    dataSize,
    fileSize: file.length,
    samples
  }
}

/** The loudest 100 ms of `samples` (48 kHz): its peak and its pitch from zero crossings. */
function loudest (samples: Int16Array): { peak: number, hertz: number } {
  const window = 4800
  let best = 0
  let bestEnergy = -1
  for (let start = 0; start + window <= samples.length; start += 480) {
    let energy = 0
    for (let i = start; i < start + window; i += 8) energy += Math.abs(samples[i]!)
    if (energy > bestEnergy) { bestEnergy = energy; best = start }
  }
  let peak = 0
  let crossings = 0
  for (let i = best; i < best + window; i++) {
    peak = Math.max(peak, Math.abs(samples[i]!))
    if (i > best && (samples[i - 1]! < 0) !== (samples[i]! < 0)) crossings++
  }
  return { peak, hertz: crossings / 2 / (window / 48000) }
}

t.test('joins with a token from the service (participants turns 1), records the agent\'s tone, leaves after --seconds', async (t) => {
  const { room, jwt } = await sessionWithAgent('user-a')
  const dir = await mkdtemp(join(tmpdir(), 'dev-client-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const wavPath = join(dir, 'agent.wav')

  const client = startScript(t, process.execPath, ['--import', 'tsx', 'scripts/dev-client.ts', '--url', `http://127.0.0.1:${port}`, '--jwt', jwt, '--room', room, '--record', wavPath, '--seconds', '5'], { env: scriptEnv(), name: 'dev client' })
  await client.child.waitForOutput(/^joined /m, 30_000)
  const during = await statusUntil(room, jwt, (status) => status.participants === 1)
  t.match(during, { participants: 1, agent_connected: true }, 'the service counts the person (from LiveKit\'s webhook)')

  t.equal(await client.child.exited, 0, 'exits 0')
  const lines = client.stdout().trimEnd().split('\n')
  t.match(lines[0], new RegExp(`^joined ${room} as user-a \\(LiveKit ${livekit.url}\\)$`), 'its join')
  t.ok(lines.some((line) => new RegExp(`^agent agent-\\S+ \\(${AGENT_NAME}\\) is in the room$`).test(line)), 'the agent already there')
  t.ok(lines.some((line) => line === `recording agent ${lines.find((l) => l.startsWith('agent '))!.split(' ')[1]} (${AGENT_NAME}) to ${wavPath}`), 'what it records')
  t.match(lines.at(-1), new RegExp(`^left ${room} after \\d+\\.\\d s \\(5 s are up\\); recorded \\d+\\.\\d s of the agent's audio to ${wavPath}$`), 'its leaving')
  t.notOk(lines.some((line) => line.startsWith('{')), 'no library log lines among its own')
  t.equal(client.stderr(), '', 'nothing on stderr')

  const after = await statusUntil(room, jwt, (status) => status.participants === 0)
  t.equal(after.participants, 0, 'gone from the session once it left')

  const wav = parseWav(await readFile(wavPath))
  t.match(wav, { format: 1, channels: 1, sampleRate: 48000, byteRate: 96000, blockAlign: 2, bitsPerSample: 16 }, '16-bit PCM, mono, 48 kHz')
  t.equal(wav.dataSize, wav.fileSize - 44, 'the data chunk\'s size is the rest of the file')
  t.equal(wav.riffSize, wav.fileSize - 8, 'the RIFF size is the file less 8 bytes')
  const seconds = wav.dataSize / 96000
  // How soon the agent's track arrives depends on the machine's load; the recording is of the agent's time, never more than the client's 5 s.
  t.ok(seconds > 0.5 && seconds <= 5.5, `the agent's audio recorded, at most the client's 5 s in the room (${seconds} s)`)
  t.match(lines.at(-1), `recorded ${seconds.toFixed(1)} s`, 'and says how much')
  const tone = loudest(wav.samples)
  t.ok(tone.peak > 0.15 * 32767, `the agent's beep is in it (peak ${tone.peak}; the agent beeps at 0.3 of full scale)`)
  t.ok(Math.abs(tone.hertz - 440) < 20, `at 440 Hz (${tone.hertz} Hz by zero crossings)`)
})

t.test('as the dev user by default; prints an agent arriving and leaving; Ctrl-C leaves cleanly', async (t) => {
  const { room, jwt } = await sessionWithAgent('dev-user')
  // The dev service's address and the dev user's JWT come from PORT, HOST and JWT_SECRET, as `npm run dev` sets them.
  const client = startScript(t, process.execPath, ['--import', 'tsx', 'scripts/dev-client.ts', '--room', room], {
    env: scriptEnv({ HOST: '127.0.0.1', PORT: String(port), JWT_SECRET: DEV_JWT_SECRET }),
    name: 'dev client'
  })
  await client.child.waitForOutput(/is in the room$/m, 30_000)
  t.match(client.stdout(), new RegExp(`^joined ${room} as dev-user `), 'as the dev user')
  t.equal((await statusUntil(room, jwt, (status) => status.participants === 1)).participants, 1)

  // A second agent comes and is sent away while the client is in the room.
  const before = new Set((await rooms.listParticipants(room)).map((participant) => participant.identity))
  await dispatches.createDispatch(room, AGENT_NAME)
  const arrived = /^agent (\S+) \(dev-client-agent\) arrived$/m
  await client.child.waitForOutput(arrived, 30_000)
  const second = arrived.exec(client.stdout())![1]!
  t.notOk(before.has(second), 'the new agent\'s arrival is printed')
  await rooms.removeParticipant(room, second)
  await client.child.waitForOutput(new RegExp(`^agent ${second} \\(${AGENT_NAME}\\) left$`, 'm'), 15_000)
  t.pass('and its departure')

  client.child.signal('SIGINT')
  t.equal(await client.child.exited, 0, 'exits 0 on SIGINT')
  t.match(client.stdout().trimEnd().split('\n').at(-1), new RegExp(`^left ${room} after \\d+\\.\\d s \\(Ctrl-C\\)$`))
  t.equal(client.stderr(), '')
  t.equal((await statusUntil(room, jwt, (status) => status.participants === 0)).participants, 0, 'it really left')
})

t.test('a room that is not the user\'s, or a service that is not there: exit 1 with the reason', async (t) => {
  const started = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(app, 'user-b')) })
  const room = started.json().room_name as string
  const [notTheirs, noService] = await Promise.all([
    (async () => {
      const client = startScript(t, process.execPath, ['--import', 'tsx', 'scripts/dev-client.ts', '--url', `http://127.0.0.1:${port}`, '--jwt', userToken(app, 'mallory'), '--room', room], { env: scriptEnv() })
      await client.child.exited
      return client
    })(),
    (async () => {
      const client = startScript(t, process.execPath, ['--import', 'tsx', 'scripts/dev-client.ts', '--url', 'http://127.0.0.1:1', '--jwt', 'x', '--room', room], { env: scriptEnv() })
      await client.child.exited
      return client
    })()
  ])
  t.equal(notTheirs.child.process.exitCode, 1)
  t.match(notTheirs.stderr(), /gave no token for .*: 403 Not your session/)
  t.equal(noService.child.process.exitCode, 1)
  t.match(noService.stderr(), /cannot reach the service at http:\/\/127\.0\.0\.1:1 \(is npm run dev running\?\)/)
  t.equal(notTheirs.stdout() + noService.stdout(), '')
})
