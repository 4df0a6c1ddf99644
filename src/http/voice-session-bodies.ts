import type { Static } from '@sinclair/typebox'
import type { ActiveSessionsSchema, EndedSessionSchema, SessionStatusSchema, SessionTokenSchema, StartedSessionSchema } from './schemas/voice-session.js'

// The domain's values (src/sessions/sessions.ts) as the API's bodies. Structural types: the HTTP
// layer names the fields it reads, and imports nothing from the domain.

/** ISO 8601 strings already made, by time: a session's dates are the same on every read (bounded, cleared when full). */
const isoMade = new Map<number, string>()
const ISO_KEPT = 10_000

/** The time as ISO 8601; `Date#toISOString` was 5% of a status's CPU, made again on every read. */
function iso (at: number | Date): string {
  const ms = typeof at === 'number' ? at : at.getTime()
  let text = isoMade.get(ms)
  if (text === undefined) {
    if (isoMade.size >= ISO_KEPT) isoMade.clear()
    text = new Date(ms).toISOString()
    isoMade.set(ms, text)
  }
  return text
}

interface Token { roomName: string, token: string, livekitUrl: string, expiresAt: Date }
interface Lived { roomName: string, people: number, agentState: Static<typeof SessionStatusSchema>['agent_state'], createdAtMs: number, endsAtMs: number }

export function tokenBody (session: Token): Static<typeof SessionTokenSchema> {
  return { room_name: session.roomName, token: session.token, livekit_url: session.livekitUrl, expires_at: iso(session.expiresAt) }
}

export function startedBody (session: Token & { agentType: Static<typeof StartedSessionSchema>['agent_type'], endsAtMs: number }): Static<typeof StartedSessionSchema> {
  return { ...tokenBody(session), agent_type: session.agentType, ends_at: iso(session.endsAtMs) }
}

export function statusBody (session: Lived & { agentConnected: boolean }): Static<typeof SessionStatusSchema> {
  return {
    room_name: session.roomName,
    active: session.people > 0,
    participants: session.people,
    agent_connected: session.agentConnected,
    agent_state: session.agentState,
    created_at: iso(session.createdAtMs),
    ends_at: iso(session.endsAtMs)
  }
}

export function endedBody (roomName: string): Static<typeof EndedSessionSchema> {
  return { status: 'ended', room_name: roomName }
}

export function activeBody (sessions: Array<Lived & { agentType: Static<typeof StartedSessionSchema>['agent_type'] }>): Static<typeof ActiveSessionsSchema> {
  return {
    sessions: sessions.map((session) => ({
      room_name: session.roomName,
      agent_type: session.agentType,
      participants: session.people,
      agent_state: session.agentState,
      created_at: iso(session.createdAtMs),
      ends_at: iso(session.endsAtMs)
    }))
  }
}
