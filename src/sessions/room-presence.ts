import { ParticipantInfo_Kind as Kind } from '@livekit/protocol'
import { ParticipantInfo_State as State, type ParticipantInfo } from 'livekit-server-sdk'
import type { IndexedParticipant, ParticipantRole } from '#index/session-store.js'

export interface RoomPresence {
  /** People in the room: app users and phone callers, never agents, recorders or ingress. */
  people: number
  /** Whether a voice agent is in the room. */
  agentConnected: boolean
}

const PEOPLE = new Set<Kind>([Kind.STANDARD, Kind.SIP])

/** What a participant is to a session: a person (app user, phone caller), its voice agent, or other (recorder, ingress). */
export function roleOf (participant: Pick<ParticipantInfo, 'kind'>): ParticipantRole {
  if (PEOPLE.has(participant.kind)) return 'person'
  return participant.kind === Kind.AGENT ? 'agent' : 'other'
}

/**
 * The participants LiveKit lists, as the session index keeps them: those ACTIVE (their media
 * connected). LiveKit lists a participant from the moment it joins (JOINING, JOINED) but says
 * `participant_joined` only once it is ACTIVE, seconds later on a busy machine; counting it from
 * then on by both paths, LiveKit's list and its webhooks, makes a read answer the same whichever
 * path answers it, rather than an agent that comes and goes between the two.
 */
export function indexedParticipants (participants: readonly ParticipantInfo[]): IndexedParticipant[] {
  return participants
    .filter((participant) => participant.state === State.ACTIVE)
    .map((participant) => ({ sid: participant.sid, identity: participant.identity, role: roleOf(participant) }))
}

/** Who is in a room, from the participants the index holds. */
export function presenceOfIndexed (participants: readonly Pick<IndexedParticipant, 'role'>[]): RoomPresence {
  return {
    people: participants.filter((participant) => participant.role === 'person').length,
    agentConnected: participants.some((participant) => participant.role === 'agent')
  }
}

/** Who is in a room, from LiveKit's live participant list (room counters lag and skip agents). */
export function presenceOf (participants: readonly ParticipantInfo[]): RoomPresence {
  return presenceOfIndexed(indexedParticipants(participants))
}
