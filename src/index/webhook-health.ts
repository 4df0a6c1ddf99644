import type { FastifyBaseLogger } from 'fastify'
import type { SessionStore } from './session-store.js'

/** Whether LiveKit's webhooks reach the service: `unknown` until a room this replica created can tell. */
export type WebhookState = 'unknown' | 'arriving' | 'silent'

/** How long a room may wait for its signed `room_started` before it counts as not heard of. */
export const CONFIRM_WITHIN_MS = 5000
/** Rooms created longer ago than this no longer speak for the webhooks (WEBHOOK_SILENCE_WINDOW). */
export const SILENCE_WINDOW_MS = 5 * 60_000
/** Rooms remembered for the check, the most recent kept. */
const ROOMS_WATCHED = 32

export interface WebhookHealthOptions {
  store: Pick<SessionStore, 'lastHeard'>
  log: FastifyBaseLogger
  confirmWithinMs?: number
  windowMs?: number
  now?: () => number
}

/**
 * Whether webhooks arrive, proven rather than assumed: LiveKit sends a signed `room_started` for
 * every room the service creates, so a room this replica created that the index has not heard of
 * by webhook within CONFIRM_WITHIN_MS says webhooks do not arrive (a wrong `webhook.urls`, a
 * `webhook.api_key` other than LIVEKIT_API_KEY or not among LiveKit's keys, a network between).
 * `silent` when no room this replica created in the last SILENCE_WINDOW_MS was heard of, and at
 * least one could have been; `arriving` as soon as one was. Said once in the log when it turns
 * silent. The index holds what was heard, so a replica that receives no webhook itself (they go
 * to another) still sees its rooms heard of.
 */
export function createWebhookHealth ({ store, log, confirmWithinMs = CONFIRM_WITHIN_MS, windowMs = SILENCE_WINDOW_MS, now = Date.now }: WebhookHealthOptions) {
  let state: WebhookState = 'unknown'
  /** Rooms this replica created and has not yet seen heard of, oldest first. */
  let watched: Array<{ roomName: string, createdAtMs: number }> = []

  /** When the most recent room heard of was created. */
  let lastConfirmedAtMs = 0

  function turn (next: WebhookState, rooms = 0): void {
    if (next === state) return
    if (next === 'silent') {
      log.warn({ rooms, confirmWithinMs }, 'LiveKit webhooks are not arriving: no signed room_started came for the rooms this replica ' +
        'created lately, so reads ask LiveKit. Check that LiveKit\'s webhook.urls reaches /api/v1/livekit/webhook on this service, ' +
        'and that webhook.api_key is LIVEKIT_API_KEY and one of LiveKit\'s keys')
    } else if (state === 'silent') {
      log.info('LiveKit webhooks are arriving again')
    }
    state = next
  }

  return {
    state: (): WebhookState => state,
    /** A room this replica just created: its `room_started` is expected. */
    expect (roomName: string): void {
      watched.push({ roomName, createdAtMs: now() })
      if (watched.length > ROOMS_WATCHED) watched = watched.slice(-ROOMS_WATCHED)
    },
    /** Looks at the rooms old enough to tell; resolves with the state. */
    async check (): Promise<WebhookState> {
      const at = now()
      watched = watched.filter((room) => at - room.createdAtMs < windowMs)
      const due = watched.filter((room) => at - room.createdAtMs >= confirmWithinMs)
      if (due.length === 0) return state
      const heard = await store.lastHeard(due.map((room) => room.roomName))
      const confirmed = due.filter((_room, i) => (heard[i] ?? 0) > 0)
      const unheard = due.filter((_room, i) => heard[i] === 0)
      // Decided: heard of, or gone from the index (an ended room proves nothing). The unheard stay until the window passes.
      watched = watched.filter((room) => !due.includes(room) || unheard.includes(room))
      if (confirmed.length > 0) {
        lastConfirmedAtMs = Math.max(lastConfirmedAtMs, ...confirmed.map((room) => room.createdAtMs))
        turn('arriving')
      }
      // One lost room_started among heard ones is no silence: two rooms after the last heard one are.
      const since = unheard.filter((room) => room.createdAtMs > lastConfirmedAtMs)
      if (since.length >= (state === 'arriving' ? 2 : 1)) turn('silent', since.length)
      return state
    }
  }
}

export type WebhookHealth = ReturnType<typeof createWebhookHealth>
