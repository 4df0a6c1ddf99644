import {
  AudioSource,
  AudioStream,
  dispose,
  LocalAudioTrack,
  ParticipantKind,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type AudioFrame,
  type DisconnectReason,
  type RemoteParticipant,
  type RemoteTrack
} from '@livekit/rtc-node'
import tap, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'

let disposing = false

/** A real LiveKit client that joins a room with a token the service issued; it leaves when the test ends. */
export async function joinRoom (t: Test, url: string, token: string): Promise<{ room: Room, disconnected: Promise<DisconnectReason | undefined> }> {
  const room = new Room()
  const disconnected = new Promise<DisconnectReason | undefined>((resolve) => {
    room.once(RoomEvent.Disconnected, resolve)
  })
  await room.connect(url, token, { autoSubscribe: true, dynacast: false })
  t.teardown(async () => { await room.disconnect() })
  if (!disposing) {
    disposing = true
    // The native client keeps the process alive until it is disposed: once, when the whole file is done.
    tap.teardown(async () => { await dispose() })
  }
  return { room, disconnected }
}

/** Polls `check` until it returns a value other than undefined: at most `tries` times, `intervalMs` apart. */
export async function waitFor<T> (check: () => Promise<T | undefined> | T | undefined, { tries = 100, intervalMs = 100 } = {}): Promise<T> {
  for (let attempt = 0; attempt < tries; attempt++) {
    const value = await check()
    if (value !== undefined) return value
    await sleep(intervalMs)
  }
  throw new Error(`condition not met after ${tries} tries`)
}

/**
 * Reads a value until `done` accepts it, at most `tries` times, `intervalMs` apart; returns the
 * last value read either way, for an assertion to judge (and to show when it fails).
 */
export async function pollUntil<T> (read: () => Promise<T>, done: (value: T) => boolean, { tries = 100, intervalMs = 100 } = {}): Promise<T> {
  let value = await read()
  for (let attempt = 1; attempt < tries && !done(value); attempt++) {
    await sleep(intervalMs)
    value = await read()
  }
  return value
}

/** Resolves with the promise's value, or undefined after `ms`. */
export async function within<T> (promise: Promise<T>, ms: number): Promise<T | undefined> {
  const timer = new AbortController()
  try {
    return await Promise.race([promise, sleep(ms, undefined, { signal: timer.signal })])
  } finally {
    // The timer must not hold the test process open once the promise has won.
    timer.abort()
  }
}

/** The agent's audio track, once the client is subscribed to it; rejects after `timeoutMs`. */
export async function agentAudio (room: Room, timeoutMs = 15_000): Promise<{ track: RemoteTrack, participant: RemoteParticipant }> {
  const subscribed = new Promise<{ track: RemoteTrack, participant: RemoteParticipant }>((resolve) => {
    for (const participant of room.remoteParticipants.values()) {
      for (const publication of participant.trackPublications.values()) {
        if (participant.kind === ParticipantKind.AGENT && publication.track?.kind === TrackKind.KIND_AUDIO) resolve({ track: publication.track, participant })
      }
    }
    room.on(RoomEvent.TrackSubscribed, (track, _publication, participant) => {
      if (track.kind === TrackKind.KIND_AUDIO && participant.kind === ParticipantKind.AGENT) resolve({ track, participant })
    })
  })
  const found = await within(subscribed, timeoutMs)
  if (found === undefined) throw new Error(`not subscribed to an agent's audio within ${timeoutMs} ms`)
  return found
}

/**
 * Publishes a (silent) microphone track, as the app does. LiveKit tells other participants
 * about one that publishes nothing only every 3 s, so an agent may miss a short silent visit.
 */
export async function publishMicrophone (t: Test, room: Room): Promise<void> {
  const microphone = new AudioSource(48000, 1)
  t.teardown(async () => { await microphone.close() })
  await room.localParticipant!.publishTrack(
    LocalAudioTrack.createAudioTrack('microphone', microphone),
    new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE })
  )
}

/** Reads 48 kHz mono frames of a track until `enough` says stop, for at most `timeoutMs`. */
export async function readFrames (track: RemoteTrack, enough: (frames: AudioFrame[]) => boolean, timeoutMs: number): Promise<AudioFrame[]> {
  const reader = new AudioStream(track, { sampleRate: 48000, numChannels: 1 }).getReader()
  const frames: AudioFrame[] = []
  const deadline = Date.now() + timeoutMs
  try {
    while (!enough(frames)) {
      const left = deadline - Date.now()
      if (left <= 0) break
      const result = await within(reader.read(), left)
      if (result === undefined || result.done) break
      frames.push(result.value)
    }
  } finally {
    await reader.cancel().catch(() => {})
    reader.releaseLock()
  }
  return frames
}
