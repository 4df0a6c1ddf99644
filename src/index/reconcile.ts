import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Livekit } from '#livekit/livekit.js'
import { chunks } from '#ops/chunks.js'
import { mapLimited } from '#ops/map-limited.js'
import { createPeriodicJob } from '#ops/periodic-job.js'
import { sessionOfRoom } from '#sessions/metadata.js'
import { indexedParticipants } from '#sessions/room-presence.js'
import type { IndexedSession, NewSession, SessionStore } from './session-store.js'

/** Sessions the reconcile reads from the index and confirms in one step, and rooms a read asks of LiveKit in one `listRooms([names])`. */
export const RECONCILE_BATCH = 100
/**
 * Quiet sessions (no webhook since the last pass) whose people one pass reads again, at most: with
 * more, they take turns, so each is read again within ceil(quiet / this) passes; a room a webhook
 * spoke of needs none. 10,000 quiet sessions re-read every pass cost LiveKit 337 calls/s.
 */
export const RECONCILE_REREADS_PER_PASS = 500
/** How much earlier than the reconcile's ListRooms a session must have started to be judged by it: clocks differ. */
const LIST_CLOCK_MARGIN_MS = 2000
/** Participant lists read at once by the reconcile, so that it never swamps LiveKit. */
export const RECONCILE_READS_AT_ONCE = 4
/** Batches of sessions written at once while rebuilding (ioredis pipelines them on its one connection). */
const REBUILD_WRITES_AT_ONCE = 8
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
  /** Quiet sessions re-read per pass at most (RECONCILE_REREADS_PER_PASS). */
  rereadsPerPass?: number
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
 * - The reconcile: every `intervalMs`, in one replica at a time, it lists LiveKit's rooms once,
 *   removes the sessions LiveKit no longer has, confirms the others, and re-reads the people only of
 *   sessions no webhook spoke of since the last pass (`rereadsPerPass` at most, taking
 *   turns): a lost event is corrected there, and a room whose webhooks arrive costs nothing more.
 */
/** `items` from position `start` on, then those before it. */
function rotate<T> (items: T[], start: number): T[] {
  const at = start % Math.max(1, items.length)
  return [...items.slice(at), ...items.slice(0, at)]
}

export function createReconciler ({ store, livekit, intervalMs, log, onSessionClosed, rereadsPerPass = RECONCILE_REREADS_PER_PASS, now = Date.now }: ReconcilerOptions) {
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

  /** Where the next pass's re-reads of quiet sessions start, in the index's order: they take turns. */
  let rereadTurn = 0

  /**
   * One pass: LiveKit's rooms in one full `listRooms()` (a single-node LiveKit answers each
   * `listRooms([names])` by scanning every room, so reading 10,000 sessions by name in chunks cost it
   * 100 scans of 10,000 rooms; with Redis, the full list is one hash read like the chunks were), then
   * the sessions indexed before the list was asked for, in chunks: those LiveKit no longer has end,
   * the others are confirmed, and of those no webhook spoke of since `quietSinceMs`, at most
   * RECONCILE_REREADS_PER_PASS have their people read again, taking turns from pass to pass.
   */
  async function reconcile (quietSinceMs = now() - intervalMs): Promise<{ checked: number, closed: number, reread: number }> {
    const listedAt = now()
    const live = new Map((await livekit.rooms.listRooms()).map((room) => [room.name, room]))
    // A room created once the list was asked for may be missing from it: the next pass sees it.
    const indexed = await store.startedBefore(listedAt - LIST_CLOCK_MARGIN_MS)
    let closed = 0
    const quiet: string[] = []
    for (const batch of chunks(indexed, RECONCILE_BATCH)) {
      if (job.stopped()) break
      const heard = await store.lastHeard(batch)
      const confirmed: NewSession[] = []
      for (const [i, name] of batch.entries()) {
        const heardAtMs = heard[i]
        // Ended meanwhile (by its user, a webhook): nothing to do.
        if (heardAtMs === undefined) continue
        const room = live.get(name)
        if (room === undefined) {
          const ended = await store.end(name)
          closed++
          if (ended !== undefined) onSessionClosed?.(ended)
          continue
        }
        const session = sessionOfRoom(room)
        if (session === undefined) continue
        confirmed.push(session)
        if (heardAtMs < quietSinceMs) quiet.push(name)
      }
      // One step for the batch; also restores an entry that expired while its room lived on.
      await store.confirm(confirmed, listedAt)
    }
    const turn = quiet.length <= rereadsPerPass ? quiet : rotate(quiet, rereadTurn).slice(0, rereadsPerPass)
    rereadTurn = (rereadTurn + turn.length) % Math.max(1, quiet.length)
    await mapLimited(turn, RECONCILE_READS_AT_ONCE, async (name) => { if (!job.stopped()) await readParticipants(name) })
    return { checked: indexed.length, closed, reread: turn.length }
  }

  /**
   * Indexes every session LiveKit holds, as not yet confirmed (their people are unknown): reads of
   * them go to LiveKit until the participant reads that follow, in the background, confirm them.
   * So the index is usable once the sessions are known, whatever their number.
   */
  async function rebuild (): Promise<void> {
    // Older than any confirmation a read trusts (1.5 intervals): until their people are read, reads ask LiveKit.
    const unconfirmed = now() - 2 * intervalMs
    const listed = await livekit.rooms.listRooms().catch((err: unknown) => { throw new RebuildListFailed('listing LiveKit\'s rooms failed', { cause: err }) })
    const sessions = listed.map(sessionOfRoom).filter((session) => session !== undefined)
    await mapLimited(chunks(sessions, RECONCILE_BATCH), REBUILD_WRITES_AT_ONCE, async (batch) => { await store.confirm(batch, unconfirmed) })
    log.info({ sessions: sessions.length }, 'session index rebuilt from LiveKit')
    // In the background, never failing: a session whose people were not read (its room closed meanwhile,
    // LiveKit away) stays unconfirmed, so read from LiveKit when asked for, until the reconcile.
    mapLimited(sessions, RECONCILE_READS_AT_ONCE, async ({ roomName }) => {
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
