/**
 * The reference voice agent: no AI provider, only enough to prove the plumbing. It joins the
 * room it is dispatched to, reads the dispatch metadata, publishes a microphone track that
 * beeps, and leaves once its user has gone (or never came).
 *
 * The worker (./worker.ts) forks job processes that import this file by path; its default
 * export must be the agent. It must stay free of routes and plugins.
 */
import { AutoSubscribe, defineAgent, log, type JobContext } from '@livekit/agents'
import {
  AudioFrame,
  AudioSource,
  LocalAudioTrack,
  ParticipantKind,
  RoomEvent,
  TrackPublishOptions,
  TrackSource,
  type RemoteParticipant,
  type Room
} from '@livekit/rtc-node'
import { DEFAULT_AGENT_TYPE, isAgentType, type AgentType } from '#agents/agent-types.js'
import { loadAgentConfig, type AgentConfig } from './config.js'
import { beepCycle, repeatCycle } from './tone.js'

/** Participant attribute the agent sets to the agent type it serves (clients may read it). */
export const AGENT_TYPE_ATTRIBUTE = 'agent_type'
/** Name of the agent's audio track. */
export const TRACK_NAME = 'agent-voice'

/** What the service puts in the dispatch's metadata. */
export interface JobMetadata {
  user_id?: string
  agent_type: AgentType
  room_name?: string
}

/**
 * Reads the dispatch metadata (`{"user_id","agent_type","room_name"}` as JSON). Never throws:
 * whatever is missing or wrong is named in `problems` and the agent type falls back to the default.
 */
export function parseJobMetadata (raw: string | undefined): { metadata: JobMetadata, problems: string[] } {
  const metadata: JobMetadata = { agent_type: DEFAULT_AGENT_TYPE }
  if (raw === undefined || raw === '') return { metadata, problems: ['no metadata'] }
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { metadata, problems: ['metadata is not JSON'] }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { metadata, problems: ['metadata is not a JSON object'] }
  }
  const { user_id: userId, agent_type: agentType, room_name: roomName } = value as Record<string, unknown>
  const problems: string[] = []
  if (typeof userId === 'string' && userId !== '') metadata.user_id = userId
  else problems.push('user_id is missing')
  if (isAgentType(agentType)) metadata.agent_type = agentType
  else problems.push(agentType === undefined ? 'agent_type is missing' : 'agent_type is unknown')
  if (typeof roomName === 'string' && roomName !== '') metadata.room_name = roomName
  else problems.push('room_name is missing')
  return { metadata, problems }
}

const PEOPLE = new Set<ParticipantKind>([ParticipantKind.STANDARD, ParticipantKind.SIP])

function isPerson (participant: RemoteParticipant): boolean {
  return PEOPLE.has(participant.kind)
}

/**
 * Calls `onGone` once: when a person has been in the room and none remains, or when nobody
 * came within `waitMs`. No grace period after a person leaves: a client that drops off the
 * network stays a participant on the server while it may still resume, so a
 * ParticipantDisconnected is a real departure. Returns a function that stops watching.
 *
 * LiveKit tells the agent about a participant that publishes nothing only in batches, every
 * 3 s (livekit-server's subscriberUpdateInterval). A person who joins without a microphone
 * track and leaves within that window is never announced here; the agent then stays until the
 * room's departure timeout closes the room, which also ends the job.
 */
function watchPeople (room: Room, waitMs: number, onGone: (reason: string) => void): () => void {
  let seen = false
  let gone = false
  const leave = (reason: string) => {
    if (gone) return
    gone = true
    onGone(reason)
  }
  const people = () => [...room.remoteParticipants.values()].filter(isPerson).length
  const noShow = setTimeout(() => { if (!seen) leave('no user joined') }, waitMs)
  const onConnected = (participant: RemoteParticipant) => {
    if (!isPerson(participant)) return
    if (!seen) log().info({ room: room.name, identity: participant.identity }, 'user joined')
    seen = true
    clearTimeout(noShow)
  }
  const onDisconnected = (participant: RemoteParticipant) => {
    if (isPerson(participant) && seen && people() === 0) leave('user left')
  }
  room.on(RoomEvent.ParticipantConnected, onConnected)
  room.on(RoomEvent.ParticipantDisconnected, onDisconnected)
  // People already in the room when the agent arrived.
  for (const participant of room.remoteParticipants.values()) onConnected(participant)
  return () => {
    clearTimeout(noShow)
    room.off(RoomEvent.ParticipantConnected, onConnected)
    room.off(RoomEvent.ParticipantDisconnected, onDisconnected)
  }
}

/**
 * Publishes a mono 48 kHz track and feeds it a 300 ms, 440 Hz beep every 3 s, silence between.
 * It streams for as long as the job lives, not just once: the agent usually arrives before its
 * user (within a second or two of the room's creation), so a one-off greeting would play to an
 * empty room; a steady stream means a client that joins or subscribes at any time receives
 * audio frames at once and hears a beep within 3 s. Its cost is one 20 ms frame per 20 ms.
 * Returns a function that stops the stream and frees the source.
 */
async function playTone (ctx: JobContext): Promise<() => Promise<void>> {
  const cycle = beepCycle({ sampleRate: 48000, frameMs: 20, frequency: 440, beepMs: 300, periodMs: 3000 })
  const source = new AudioSource(cycle.sampleRate, 1)
  const track = LocalAudioTrack.createAudioTrack(TRACK_NAME, source)
  await ctx.room.localParticipant!.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }))

  let stopped = false
  const loop = (async () => {
    for (const samples of repeatCycle(cycle)) {
      if (stopped) return
      // captureFrame waits while the source's queue is full, so this loop runs at real time.
      await source.captureFrame(new AudioFrame(samples, cycle.sampleRate, 1, cycle.samplesPerFrame))
    }
  })().catch((err: unknown) => {
    if (!stopped) log().warn({ err }, 'tone playback stopped')
  })

  return async () => {
    stopped = true
    await loop
    await source.close()
  }
}

let config: AgentConfig | undefined

export default defineAgent({
  entry: async (ctx: JobContext) => {
    // The worker checked the same environment at start, so this does not fail in practice.
    config ??= loadAgentConfig()
    const logger = log()
    const { metadata, problems } = parseJobMetadata(ctx.job.metadata)
    if (problems.length > 0) {
      logger.warn({ problems, rawMetadata: ctx.job.metadata.slice(0, 200) }, 'dispatch metadata is incomplete; serving anyway')
    }

    // Nothing to listen to: this agent has no speech recognition, so it subscribes to no track.
    await ctx.connect(undefined, AutoSubscribe.SUBSCRIBE_NONE)
    logger.info({ room: ctx.room.name, ...metadata }, 'agent joined room')
    await ctx.room.localParticipant!.setAttributes({ [AGENT_TYPE_ATTRIBUTE]: metadata.agent_type })
    const stopTone = await playTone(ctx)

    const stopWatching = watchPeople(ctx.room, config.AGENT_USER_WAIT_SECONDS * 1000, (reason) => {
      logger.info({ room: ctx.room.name, reason }, 'agent leaving room')
      ctx.shutdown(reason)
    })
    ctx.addShutdownCallback(async () => {
      stopWatching()
      await stopTone()
    })
    // Returning does not end the job: it ends on ctx.shutdown(), when the room disconnects
    // (e.g. it is deleted) or when the worker shuts down. Returning early keeps that shutdown
    // quick, since the library waits up to 15 s for a still-running entry function.
  }
})
