import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Livekit } from '#livekit/livekit.js'
import { mapLimited } from '#ops/map-limited.js'
import { createPeriodicJob } from '#ops/periodic-job.js'
import { sessionOfRoom } from '#sessions/metadata.js'
import { indexedParticipants } from '#sessions/room-presence.js'
import type { IndexedSession, SessionStore } from './session-store.js'

/** Room names read from the index, and from LiveKit in one `listRooms([names])` call, at a time. */
export const RECONCILE_BATCH = 100
/** Participant lists read at once by the reconcile, so that it never swamps LiveKit. */
export const RECONCILE_READS_AT_ONCE = 4
/** Index writes in flight at once while rebuilding (ioredis pipelines them on its one connection). */
const REBUILD_WRITES_AT_ONCE = 64
/** How often each replica checks that the index still holds its data (its generation). */
export const INDEX_CHECK_EVERY_MS = 2000
/** How long one replica leads a rebuild before another may try (a leader that died mid-way). */
const REBUILD_LEASE_MS = 60_000
/** Waits between failed rebuilds: doubling from the first, up to the last. */
const REBUILD_BACKOFF_MS = [1000, 10_000] as const

/**
 * Whether the index can be used for a start: `usable`; `livekit-failed` (this replica's rebuild
 * failed on LiveKit, whose own answer to the start will say how it is); `unavailable` (the store
 * failed, or another replica's rebuild did not finish in time).
 */
export type IndexReadiness = 'usable' | 'livekit-failed' | 'unavailable'

/** What one look at the index found: usable, a rebuild to wait for (another replica's, or after a backoff), or a failure and where. */
type IndexLook = 'usable' | 'waiting' | 'livekit-failed' | 'store-failed'

/** The rebuild's full ListRooms failed: LiveKit, not the store. */
class RebuildListFailed extends Error {}

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
 * Keeps the session index true whatever fails.
 *
 * - The rebuild: the index is built from LiveKit's full `listRooms()` when the store has no
 *   generation: at a first start, and whenever Redis lost its data (restarted empty, flushed,
 *   evicting). Every replica checks the generation every INDEX_CHECK_EVERY_MS; one leads the
 *   rebuild, and a failed one is tried again with backoff. Until it is done, `usable()` is false
 *   and the sessions module reads LiveKit instead.
 * - The reconcile: every `intervalMs`, in one replica at a time, it reads the indexed rooms from
 *   LiveKit by name in chunks (never a full `listRooms()`), removes those LiveKit no longer has,
 *   confirms the others, and re-reads the people only of sessions no webhook spoke of since the
 *   last pass: a lost event is corrected there, and a room whose webhooks arrive costs nothing more.
 */
export function createReconciler ({ store, livekit, intervalMs, log, onSessionClosed, now = Date.now }: ReconcilerOptions) {
  let usable = false
  /** Whether the index was usable once since this replica started (readiness). */
  let everUsable = false
  let failures = 0
  let nextRebuildAtMs = 0
  let checking: Promise<IndexLook> | undefined
  /** The look at the index that `start` makes: until it is done, `usable()` says nothing yet. */
  let firstLook: Promise<unknown> = Promise.resolve()
  const waiters = new Set<() => void>()

  /** Records LiveKit's participants of a live room, as of `at`. */
  async function readParticipants (roomName: string): Promise<void> {
    const at = now()
    const participants = await livekit.rooms.listParticipants(roomName)
    await store.replaceParticipants(roomName, indexedParticipants(participants), at)
  }

  /** One pass; `quietSinceMs`: a session no webhook spoke of since then has its people read again. */
  async function reconcile (quietSinceMs = now() - intervalMs): Promise<{ checked: number, closed: number, reread: number }> {
    let checked = 0
    let closed = 0
    let reread = 0
    for (let offset = 0; !job.stopped();) {
      const batch = await store.roomNames(offset, RECONCILE_BATCH)
      if (batch.length === 0) break
      const at = now()
      const [rooms, heard] = await Promise.all([livekit.rooms.listRooms(batch), store.lastHeard(batch)])
      const live = new Map(rooms.map((room) => [room.name, room]))
      const quiet: string[] = []
      let closedHere = 0
      for (const [i, name] of batch.entries()) {
        const room = live.get(name)
        if (room === undefined) {
          const ended = await store.end(name)
          closedHere++
          if (ended !== undefined) onSessionClosed?.(ended)
          continue
        }
        const session = sessionOfRoom(room)
        if (session === undefined) continue
        // Also restores an entry that expired while its room lived on.
        await store.add(session, at)
        if ((heard[i] ?? 0) < quietSinceMs) quiet.push(name)
      }
      await mapLimited(quiet, RECONCILE_READS_AT_ONCE, readParticipants)
      checked += batch.length
      closed += closedHere
      reread += quiet.length
      // The rooms that ended left the index: the next chunk starts that much earlier.
      offset += batch.length - closedHere
    }
    return { checked, closed, reread }
  }

  /**
   * Indexes every session LiveKit holds, as not yet confirmed (their people are unknown): reads of
   * them go to LiveKit until the participant reads that follow, in the background, confirm them.
   * So the index is usable once the sessions are known, whatever their number.
   */
  async function rebuild (): Promise<void> {
    const unconfirmed = now() - intervalMs
    const listed = await livekit.rooms.listRooms().catch((err: unknown) => { throw new RebuildListFailed('listing LiveKit\'s rooms failed', { cause: err }) })
    const sessions = listed.map(sessionOfRoom).filter((session) => session !== undefined)
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

  function becomeUsable (): void {
    usable = true
    everUsable = true
    failures = 0
    for (const wake of waiters) wake()
    waiters.clear()
  }

  /** One look at the store's generation; leads the rebuild when it is gone and this replica may. */
  async function checkIndex (force: boolean): Promise<IndexLook> {
    if (await store.generation() !== undefined) {
      becomeUsable()
      return 'usable'
    }
    if (usable) log.warn('the session index lost its data (Redis restarted empty, flushed, or evicted keys): rebuilding it from LiveKit; reads ask LiveKit meanwhile')
    usable = false
    if ((!force && now() < nextRebuildAtMs) || !await store.lead('rebuild', REBUILD_LEASE_MS)) return 'waiting'
    try {
      await rebuild()
      await store.setGeneration(randomUUID())
    } catch (err) {
      failures++
      nextRebuildAtMs = now() + Math.min(REBUILD_BACKOFF_MS[0] * 2 ** (failures - 1), REBUILD_BACKOFF_MS[1])
      await store.resign('rebuild').catch(() => {})
      throw err
    }
    becomeUsable()
    return 'usable'
  }

  /** Checks the index now, once at a time; never rejects (a failure is logged, said, and tried again). */
  async function check (force = false): Promise<IndexLook> {
    checking ??= checkIndex(force)
      .catch((err: unknown): IndexLook => {
        log.warn({ err, failures }, 'session index: checking or rebuilding it failed; trying again')
        return err instanceof RebuildListFailed ? 'livekit-failed' : 'store-failed'
      })
      .finally(() => { checking = undefined })
    return await checking
  }

  /**
   * Whether a start may count on the index, once it is usable or after `waitMs`: a rebuild this
   * replica may lead is tried at once, whatever the backoff (a user is waiting).
   */
  async function whenUsable (waitMs: number): Promise<IndexReadiness> {
    if (usable) return 'usable'
    const look = await check(true)
    if (look === 'usable' || look === 'livekit-failed') return look
    if (look === 'store-failed') return 'unavailable'
    // Another replica leads the rebuild.
    let wake = () => {}
    const woken = new Promise<void>((resolve) => { wake = resolve })
    waiters.add(wake)
    const timer = setTimeout(wake, waitMs)
    await woken
    clearTimeout(timer)
    waiters.delete(wake)
    return usable ? 'usable' : 'unavailable'
  }

  const indexWatch = createPeriodicJob({ name: 'session index: check its generation', everyMs: INDEX_CHECK_EVERY_MS, log, run: async () => { await check() } })

  const job = createPeriodicJob({
    name: 'session index: reconcile with LiveKit',
    everyMs: intervalMs,
    log,
    run: async () => {
      if (!usable || !await store.lead('reconcile', intervalMs)) return
      const { checked, closed, reread } = await reconcile()
      log.debug({ checked, closed, reread }, 'session index reconciled with LiveKit')
    }
  })

  return {
    reconcile,
    /** Whether the index holds every live session: else the sessions module reads LiveKit. */
    usable: () => usable,
    /** Whether the index was usable once since this replica started: it is ready to serve. */
    everUsable: () => everUsable,
    whenUsable,
    /** Resolves once the index is usable; rejects after `waitMs` (30 s) without it. */
    async whenRebuilt (waitMs = 30_000): Promise<void> {
      if (await whenUsable(waitMs) !== 'usable') throw new Error(`The session index was not rebuilt within ${waitMs} ms`)
    },
    /** Checks the index now (the generation, and the rebuild it needs). */
    check,
    /** Resolves once the replica's first look at the index is done (one read when the index is whole): `usable()` is its word. */
    looked: async () => { await firstLook },
    /** Checks the index now and every INDEX_CHECK_EVERY_MS, and reconciles every interval, until `stop`. */
    start (): void {
      firstLook = check()
      indexWatch.start()
      job.start()
    },
    stop (): void {
      indexWatch.stop()
      job.stop()
    }
  }
}

export type Reconciler = ReturnType<typeof createReconciler>
