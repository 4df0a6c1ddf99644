import type { FastifyInstance } from 'fastify'
import { waitFor } from './clients.js'

/** Voice sessions driven through the app, for the tests that bring real agents into them. */

/** Agents join within a few seconds, several more on a busy machine: poll for up to 30 s. */
export const AGENT_WAIT = { tries: 150, intervalMs: 200 }

export type Headers = Record<string, string>
export type SessionStatus = Record<string, unknown>

export async function startSession (app: FastifyInstance, headers: Headers, agentType = 'workout') {
  return (await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers, payload: { agent_type: agentType } })).json()
}

export async function sessionStatus (app: FastifyInstance, headers: Headers, roomName: string) {
  return (await app.inject({ method: 'GET', url: `/api/v1/voice-sessions/${roomName}/status`, headers })).json()
}

/** The session's status once `ready` says so; polls for up to AGENT_WAIT unless told otherwise. */
export async function statusWhen (app: FastifyInstance, headers: Headers, roomName: string, ready: (status: SessionStatus) => boolean, wait = AGENT_WAIT): Promise<SessionStatus> {
  return await waitFor(async () => {
    const status = await sessionStatus(app, headers, roomName)
    return ready(status) ? status : undefined
  }, wait)
}
