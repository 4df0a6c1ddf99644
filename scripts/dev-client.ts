import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { RemoteParticipant, RemoteTrack } from '@livekit/rtc-node'
import { beepCycle, repeatCycle } from '../agent/tone.js'
import { DEV_USER, devUserToken, loadDevConfig, serviceUrl } from './dev-config.js'
import { openWav, type WavWriter } from './wav.js'

/**
 * `npm run dev:client -- --room <room_name> [--record agent.wav] [--seconds N]`: a person in a
 * voice session, as the app's client would be. It gets a fresh LiveKit token from the service
 * (POST /api/v1/voice-sessions/{room}/token), joins, publishes a microphone that beeps, records
 * what the agent sends (16-bit PCM, mono, 48 kHz WAV), and says who comes and goes. It leaves
 * after N seconds or on Ctrl-C: disconnect, dispose, exit 0.
 *
 * By default it talks to the dev service (`npm run dev`: its HOST and PORT) as the dev user (a
 * JWT signed like `npm run token`'s); --url and --jwt point it at another service and user.
 */

// @livekit/rtc-node logs at debug, JSON on stdout, unless NODE_ENV is production (read as it loads).
process.env.NODE_ENV ??= 'production'
const {
  AudioFrame,
  AudioSource,
  AudioStream,
  DisconnectReason,
  dispose,
  LocalAudioTrack,
  ParticipantKind,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource
} = await import('@livekit/rtc-node')

const USAGE = 'usage: npm run dev:client -- --room <room_name> [--record <file.wav>] [--seconds <n>] [--url <service URL>] [--jwt <user JWT>]'
const SAMPLE_RATE = 48000
/** Cleanup that takes longer than this is cut short (exit 1): a stuck native call must not hang the terminal. */
const LEAVE_TIMEOUT_MS = 10_000

function say (line: string): void {
  console.log(line)
}

function fail (message: string): never {
  console.error(`dev client: ${message}`)
  process.exit(1)
}

let args: { room?: string, record?: string, seconds?: string, url?: string, jwt?: string }
try {
  ({ values: args } = parseArgs({
    options: {
      room: { type: 'string' },
      record: { type: 'string' },
      seconds: { type: 'string' },
      url: { type: 'string' },
      jwt: { type: 'string' }
    },
    strict: true,
    allowPositionals: false
  }))
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`)
}
const roomName = args.room === undefined || args.room === '' ? fail(`--room is required\n${USAGE}`) : args.room
const seconds = args.seconds === undefined ? undefined : Number(args.seconds)
if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) fail(`--seconds must be a number above 0\n${USAGE}`)

let service = args.url
let jwt = args.jwt
if (service === undefined || jwt === undefined) {
  try {
    const config = loadDevConfig()
    service ??= serviceUrl(config)
    jwt ??= devUserToken(config, { sub: DEV_USER })
  } catch (err) {
    fail((err as Error).message)
  }
}
service = service.replace(/\/+$/, '')

// Relative to where `npm run` was typed, not the package folder npm runs scripts in.
const recordPath = args.record === undefined ? undefined : resolve(process.env.INIT_CWD ?? process.cwd(), args.record)
let wav: WavWriter | undefined
if (recordPath !== undefined) {
  try {
    wav = await openWav(recordPath, SAMPLE_RATE, 1)
  } catch (err) {
    fail(`cannot write ${recordPath}: ${(err as Error).message}`)
  }
}

/** A fresh LiveKit token for the room from the service, as a client reconnecting would get one. */
async function joinToken (): Promise<{ token: string, livekitUrl: string }> {
  const url = `${service}/api/v1/voice-sessions/${encodeURIComponent(roomName)}/token`
  let response: Response
  try {
    response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${jwt}` }, signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    throw new Error(`cannot reach the service at ${service} (is npm run dev running?): ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`)
  }
  const body = await response.json().catch(() => ({})) as { token?: string, livekit_url?: string, message?: string }
  if (response.status !== 200 || body.token === undefined || body.livekit_url === undefined) {
    throw new Error(`the service gave no token for ${roomName}: ${response.status} ${body.message ?? response.statusText}`)
  }
  return { token: body.token, livekitUrl: body.livekit_url }
}

function who (participant: RemoteParticipant): string {
  if (participant.kind !== ParticipantKind.AGENT) return participant.identity
  const name = participant.attributes['lk.agent.name']
  return `agent ${participant.identity}${name === undefined ? '' : ` (${name})`}`
}

const room = new Room()
let stopMicrophone: (() => Promise<void>) | undefined
let leaving: Promise<void> | undefined
let timer: NodeJS.Timeout | undefined
let joinedAt = Date.now()
let recording: { done: Promise<void>, stop: () => Promise<void> } | undefined

/** Writes the agent's audio, resampled to mono 48 kHz, to the WAV file until the track ends or `stop`. */
function record (track: RemoteTrack, writer: WavWriter): NonNullable<typeof recording> {
  const reader = new AudioStream(track, { sampleRate: SAMPLE_RATE, numChannels: 1 }).getReader()
  const done = (async () => {
    try {
      while (true) {
        const { done, value } = await reader.read()
        if (done) return
        await writer.write(value.data.subarray(0, value.samplesPerChannel * value.channels))
      }
    } catch (err) {
      console.error(`dev client: recording stopped: ${(err as Error).message}`)
    } finally {
      reader.releaseLock()
    }
  })()
  return { done, stop: async () => { await reader.cancel().catch(() => {}); await done } }
}

room.on(RoomEvent.ParticipantConnected, (participant) => { say(`${who(participant)} arrived`) })
room.on(RoomEvent.ParticipantDisconnected, (participant) => { say(`${who(participant)} left`) })
room.on(RoomEvent.TrackSubscribed, (track, _publication, participant) => {
  if (wav === undefined || recording !== undefined) return
  if (track.kind !== TrackKind.KIND_AUDIO || participant.kind !== ParticipantKind.AGENT) return
  say(`recording ${who(participant)} to ${recordPath}`)
  const current = record(track, wav)
  recording = current
  // The agent left: the next agent to arrive is recorded on, into the same file.
  current.done.then(() => { if (recording === current) recording = undefined }, () => {})
})
room.on(RoomEvent.Disconnected, (reason) => {
  if (leaving === undefined) leave(`LiveKit disconnected it: ${DisconnectReason[reason] ?? reason}`).catch(() => {})
})

/** Publishes a microphone that beeps (660 Hz, 200 ms a second); returns a function that stops it. */
async function publishMicrophone (): Promise<() => Promise<void>> {
  const cycle = beepCycle({ sampleRate: SAMPLE_RATE, frameMs: 20, frequency: 660, beepMs: 200, periodMs: 1000, amplitude: 0.2 })
  const source = new AudioSource(SAMPLE_RATE, 1)
  await room.localParticipant!.publishTrack(
    LocalAudioTrack.createAudioTrack('microphone', source),
    new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE })
  )
  let stopped = false
  const loop = (async () => {
    for (const samples of repeatCycle(cycle)) {
      if (stopped) return
      // Waits while the source's queue is full: real time.
      await source.captureFrame(new AudioFrame(samples, SAMPLE_RATE, 1, cycle.samplesPerFrame))
    }
  })().catch((err: unknown) => { if (!stopped) console.error(`dev client: the microphone stopped: ${(err as Error).message}`) })
  return async () => {
    stopped = true
    await loop
    await source.close()
  }
}

/** Leaves cleanly: microphone off, disconnect, recording closed, native client disposed; exit 0. */
async function leave (why: string): Promise<void> {
  leaving ??= (async () => {
    setTimeout(() => {
      console.error(`dev client: leaving took over ${LEAVE_TIMEOUT_MS} ms; exiting`)
      process.exit(1)
    }, LEAVE_TIMEOUT_MS).unref()
    clearTimeout(timer)
    await stopMicrophone?.()
    await room.disconnect()
    await recording?.stop()
    const written = await wav?.close()
    await dispose()
    const recorded = written === undefined ? '' : `; recorded ${written.seconds.toFixed(1)} s of the agent's audio to ${recordPath}`
    say(`left ${roomName} after ${((Date.now() - joinedAt) / 1000).toFixed(1)} s (${why})${recorded}`)
    process.exit(0)
  })()
  await leaving
}

process.on('SIGINT', () => { leave('Ctrl-C').catch(() => {}) })
process.on('SIGTERM', () => { leave('SIGTERM').catch(() => {}) })

try {
  const { token, livekitUrl } = await joinToken()
  await room.connect(livekitUrl, token, { autoSubscribe: true, dynacast: false })
  joinedAt = Date.now()
  say(`joined ${roomName} as ${room.localParticipant!.identity} (LiveKit ${livekitUrl})`)
  for (const participant of room.remoteParticipants.values()) say(`${who(participant)} is in the room`)
  stopMicrophone = await publishMicrophone()
  say(`publishing a 660 Hz beep as the microphone${seconds === undefined ? '; Ctrl-C leaves' : `; leaving in ${seconds} s (or on Ctrl-C)`}`)
} catch (err) {
  await wav?.close()
  await room.disconnect().catch(() => {})
  await dispose()
  fail((err as Error).message)
}
if (seconds !== undefined) timer = setTimeout(() => { leave(`${seconds} s are up`).catch(() => {}) }, seconds * 1000)
