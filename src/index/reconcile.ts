import type { FastifyBaseLogger } from 'fastify'
import type { Livekit } from '#livekit/livekit.js'
import { mapLimited } from '#ops/map-limited.js'
import { createPeriodicJob } from '#ops/periodic-job.js'
import { indexedParticipants } from '#sessions/room-presence.js'
import { createdAtMsOf } from '#livekit/room-time.js'
import { parseSessionMetadata } from '#sessions/metadata.js'
import type { IndexedSession, SessionStore } from './session-store.js'

/** Room names read from LiveKit in one `listRooms([names])` call. */
export const RECONCILE_BATCH = 100
/** Participant lists read at once by the reconcile, so that it never swamps LiveKit. */
export const RECONCILE_READS_AT_ONCE = 4
/** Index writes in flight at once while rebuilding (ioredis pipelines them on its one connection). */
const REBUILD_WRITES_AT_ONCE = 64

export interface ReconcilerOptions {
  store: SessionStore
  livekit: Pick<Livekit, 'rooms'>
  intervalMs: number
  log: FastifyBaseLogger
  /** A session whose room LiveKit no longer has. */
  onSessionClosed?: (session: IndexedSession) => void
  now?: () => number
}

/**
 * Keeps the session index true without webhooks: every `intervalMs`, in one replica at a time,
 * it reads the indexed rooms from LiveKit by name, in batches (never a full `listRooms()`, whose
 * cost grows with every room in LiveKit), removes those LiveKit no longer has, and re-reads the
 * people in each live one. Once, at start-up, it rebuilds the index from a full `listRooms()`, so
 * that sessions started before a restart (or by a replica with another memory) are known.
 */
export function createReconciler ({ store, livekit, intervalMs, log, onSessionClosed, now = Date.now }: ReconcilerOptions) {
  let rebuilt: Promise<void> | undefined

  /** Records LiveKit's participants of a live room, as of `at`. */
  async function readParticipants (roomName: string): Promise<void> {
    const at = now()
    const participants = await livekit.rooms.listParticipants(roomName)
    await store.replaceParticipants(roomName, indexedParticipants(participants), at)
  }

  async function reconcile (): Promise<{ checked: number, closed: number }> {
    const names = await store.roomNames()
    const live: string[] = []
    let closed = 0
    for (let i = 0; i < names.length; i += RECONCILE_BATCH) {
      if (job.stopped()) break
      const batch = names.slice(i, i + RECONCILE_BATCH)
      const at = now()
      const rooms = new Map((await livekit.rooms.listRooms(batch)).map((room) => [room.name, room]))
      for (const name of batch) {
        const room = rooms.get(name)
        if (room === undefined) {
          const ended = await store.end(name)
          closed++
          if (ended !== undefined) onSessionClosed?.(ended)
          continue
        }
        const metadata = parseSessionMetadata(room.metadata)
        if (metadata === undefined) continue
        // Also restores an entry that expired while its room lived on.
        await store.add({ roomName: name, userId: metadata.user_id, agentType: metadata.agent_type, createdAtMs: createdAtMsOf(room) }, at)
        live.push(name)
      }
    }
    await mapLimited(live, RECONCILE_READS_AT_ONCE, readParticipants)
    return { checked: names.length, closed }
  }

  /**
   * Indexes every session LiveKit holds, as not yet confirmed (their people are unknown): reads of
   * them go to LiveKit until the participant reads that follow, in the background, confirm them.
   * So a replica is ready once the sessions are known, whatever their number.
   */
  async function rebuild (): Promise<void> {
    const unconfirmed = now() - intervalMs
    const sessions = (await livekit.rooms.listRooms()).flatMap((room) => {
      const metadata = parseSessionMetadata(room.metadata)
      return metadata === undefined ? [] : [{ roomName: room.name, userId: metadata.user_id, agentType: metadata.agent_type, createdAtMs: createdAtMsOf(room) }]
    })
    const added = (await mapLimited(sessions, REBUILD_WRITES_AT_ONCE, async (session) =>
      await store.add(session, unconfirmed) ? session.roomName : undefined)).filter((name) => name !== undefined)
    log.info({ sessions: added.length }, 'session index rebuilt from LiveKit')
    // In the background, never failing: a session whose people were not read (its room closed meanwhile,
    // LiveKit away) stays unconfirmed, so read from LiveKit when asked for, until the reconcile.
    mapLimited(added, RECONCILE_READS_AT_ONCE, async (roomName) => {
      if (job.stopped()) return
      await readParticipants(roomName).catch((err: unknown) => { log.debug({ err, roomName }, 'session index: the people of a rebuilt session were not read') })
    })
  }

  /**
   * Resolves once the index holds every session LiveKit had at start-up: rebuilt by this replica,
   * or (with Redis) by the replica that led the rebuild. A failed rebuild is tried again on the next call.
   */
  async function whenRebuilt (): Promise<void> {
    rebuilt ??= (async () => {
      if (await store.lead('rebuild', intervalMs)) await rebuild()
    })().catch((err: unknown) => {
      rebuilt = undefined
      throw err
    })
    await rebuilt
  }

  const job = createPeriodicJob({
    name: 'session index: reconcile with LiveKit',
    everyMs: intervalMs,
    log,
    run: async () => {
      await whenRebuilt()
      if (await store.lead('reconcile', intervalMs)) {
        const { checked, closed } = await reconcile()
        log.debug({ checked, closed }, 'session index reconciled with LiveKit')
      }
    }
  })

  return {
    reconcile,
    whenRebuilt,
    /** Rebuilds now (in the background) and reconciles every interval until `stop`. */
    start (): void {
      whenRebuilt().catch((err: unknown) => { log.warn({ err }, 'session index: rebuild from LiveKit failed; trying again') })
      job.start()
    },
    stop: job.stop
  }
}

export type Reconciler = ReturnType<typeof createReconciler>
