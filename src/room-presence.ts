import { ParticipantInfo_Kind as Kind } from '@livekit/protocol'
import { ParticipantInfo_State as State, type ParticipantInfo } from 'livekit-server-sdk'

export interface RoomPresence {
  /** People in the room: app users and phone callers, never agents, recorders or ingress. */
  people: number
  /** Whether a voice agent is in the room. */
  agentConnected: boolean
}

const PEOPLE = new Set<Kind>([Kind.STANDARD, Kind.SIP])

/** Who is in a room, from LiveKit's live participant list (room counters lag and skip agents). */
export function presenceOf (participants: readonly ParticipantInfo[]): RoomPresence {
  const present = participants.filter((participant) => participant.state !== State.DISCONNECTED)
  return {
    people: present.filter((participant) => PEOPLE.has(participant.kind)).length,
    agentConnected: present.some((participant) => participant.kind === Kind.AGENT)
  }
}
