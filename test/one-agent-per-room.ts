import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk'
import { ParticipantInfo_Kind as Kind } from '@livekit/protocol'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { JOB_LISTING_MS } from '#agents/dispatch.js'
import { startAgentWorker } from './agent-worker.js'
import { joinRoom, waitFor } from './clients.js'
import type { RunningLivekit } from '../scripts/livekit-server.js'
import { bearer, userToken } from './helper.js'

/** The service's config for the scenario: a short join timeout, as in the other agent tests (a look at each room every second). */
export const ONE_AGENT_CONFIG = { LIVEKIT_AGENT_NAME: 'once-agent', AGENT_JOIN_TIMEOUT_MS: 1000, AGENT_DISPATCH_ATTEMPTS: 30 }

/**
 * One agent per room, end to end: the service (one replica, or several sharing Redis), a real
 * livekit-server, the real agent worker registering late, real clients waiting in the rooms, and
 * status and active polled all along, through every replica in turn.
 */
export async function oneAgentPerRoom (t: Test, livekit: RunningLivekit, apps: FastifyInstance[]): Promise<void> {
  const rooms = new RoomServiceClient(livekit.url, livekit.apiKey, livekit.apiSecret)
  const dispatches = new AgentDispatchClient(livekit.url, livekit.apiKey, livekit.apiSecret)
  const alice = bearer(userToken(apps[0] as FastifyInstance, 'alice'))
  let turn = 0
  /** The next replica, round robin: no sticky routing. */
  const app = (): FastifyInstance => apps[turn++ % apps.length] as FastifyInstance

  async function start (): Promise<{ room_name: string, livekit_url: string, token: string }> {
    const response = await app().inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: alice, payload: { agent_type: 'workout' } })
    if (response.statusCode !== 200) throw new Error(`start answered ${response.statusCode}: ${response.body}`)
    return response.json()
  }

  /** Clients polling `status` (two at once per room) and `active`, each every 50 ms, until stopped. */
  function poll (roomNames: () => string[]) {
    const stopped = new AbortController()
    const unexpected: string[] = []
    const seen = new Set<string>()
    async function poller (url: () => string | undefined): Promise<void> {
      while (!stopped.signal.aborted) {
        const path = url()
        if (path !== undefined) {
          const response = await app().inject({ method: 'GET', url: path, headers: alice })
          if (response.statusCode !== 200) unexpected.push(`${path}: ${response.statusCode} ${response.body}`)
          else for (const state of JSON.stringify(response.json()).match(/"agent_state":"\w+"/g) ?? []) seen.add(state)
        }
        await sleep(50)
      }
    }
    const pollers = [poller(() => '/api/v1/voice-sessions/active')]
    for (let slot = 0; slot < 8; slot++) {
    // Slot k polls room k / 2: two pollers per room, for the rooms started so far.
      pollers.push(poller(() => {
        const name = roomNames()[Math.floor(slot / 2)]
        return name === undefined ? undefined : `/api/v1/voice-sessions/${name}/status`
      }))
    }
    const stop = async () => {
      stopped.abort()
      await Promise.all(pollers)
      return { unexpected, seen }
    }
    t.teardown(stop)
    return stop
  }

  async function jobsIn (roomName: string) {
    return (await dispatches.listDispatch(roomName)).flatMap((dispatch) => dispatch.state?.jobs ?? [])
  }

  /** Whether LiveKit is done placing every dispatch of the room: each has its job, or is too old to get one. */
  async function placed (roomName: string): Promise<boolean> {
    const nowMs = Date.now()
    return (await dispatches.listDispatch(roomName)).every((dispatch) =>
      (dispatch.state?.jobs.length ?? 0) > 0 || nowMs - Number((dispatch.state?.createdAt ?? 0n) / 1_000_000n) >= JOB_LISTING_MS)
  }

  const sessions: Array<{ room_name: string, livekit_url: string, token: string }> = []
  const stopPolling = poll(() => sessions.map((session) => session.room_name))
  // Started before any worker of this name is registered: LiveKit drops their rooms' own dispatches.
  for (let i = 0; i < 2; i++) sessions.push(await start())
  for (const session of sessions) await joinRoom(t, session.livekit_url, session.token)
  const worker = await startAgentWorker(t, livekit, { agentName: ONE_AGENT_CONFIG.LIVEKIT_AGENT_NAME })
  // Started right after it registered: LiveKit lists their jobs seconds after their agents join.
  for (let i = 0; i < 2; i++) {
    const session = await start()
    sessions.push(session)
    await joinRoom(t, session.livekit_url, session.token)
  }

  try {
    for (const { room_name: roomName } of sessions) {
      await worker.waitForLog((line) => line.msg === 'agent joined room' && line.room === roomName, 45_000)
    }
    // Every dispatch placed and every watch ended: no job can still come.
    await waitFor(async () => (await Promise.all(sessions.map(async (session) => await placed(session.room_name)))).every(Boolean) && apps.every((replica) => replica.agents.watching() === 0) ? true : undefined, { tries: 200, intervalMs: 100 })
  } catch (err) {
    t.comment(worker.logs.slice(-15).map((line) => JSON.stringify(line)).join('\n'))
    throw err
  }
  const { unexpected, seen } = await stopPolling()
  t.same(unexpected, [], 'every poll answered 200')
  t.ok(seen.has('"agent_state":"dispatching"') && seen.has('"agent_state":"connected"'), `the polls saw the agents come (${[...seen].join(', ')})`)

  for (const { room_name: roomName } of sessions) {
    const [listed, participants] = await Promise.all([dispatches.listDispatch(roomName), rooms.listParticipants(roomName)])
    const jobs = await jobsIn(roomName)
    const joined = worker.logs.filter((line) => line.msg === 'agent joined room' && line.room === roomName).length
    t.comment(`${roomName}: ${listed.length} dispatches, ${jobs.length} jobs`)
    t.equal(jobs.length, 1, `${roomName}: one agent job`)
    t.equal(joined, 1, `${roomName}: one agent joined, by the worker's log`)
    t.equal(participants.filter((participant) => participant.kind === Kind.AGENT).length, 1, `${roomName}: one agent in the room`)
  }
}
