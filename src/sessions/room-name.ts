import { randomFillSync } from 'node:crypto'
import { utf8Bytes } from '#livekit/utf8.js'

/** Every voice-session room starts with this; rooms that do not are never sessions. */
export const ROOM_NAME_PREFIX = 'fitness-voice-'

/** LiveKit's default limit on a room name, in UTF-8 bytes. */
export const MAX_ROOM_NAME_BYTES = 256

const SUFFIX = /-[0-9a-f]{8}$/
const SUFFIX_BYTES = '-01234567'.length

/**
 * The longest user id (JWT `sub`), in UTF-8 bytes, whose room names stay within LiveKit's limit:
 * 256 - `fitness-voice-` - `-{8 hex}` = 233. The id is also the LiveKit identity (limit 256).
 */
export const MAX_USER_ID_BYTES = MAX_ROOM_NAME_BYTES - ROOM_NAME_PREFIX.length - SUFFIX_BYTES

/** CSPRNG bytes for suffixes, each used once: one `getrandom` fills 1,024 suffixes (as Node pools `randomUUID`'s). */
const randomPool = Buffer.alloc(4096)
let poolUsed = randomPool.length

function randomSuffix (): string {
  if (poolUsed + 4 > randomPool.length) {
    randomFillSync(randomPool)
    poolUsed = 0
  }
  poolUsed += 4
  return randomPool.toString('hex', poolUsed - 4, poolUsed)
}

/** `fitness-voice-{userId}-{8 hex chars from a CSPRNG}`: unguessable and unique per session. */
export function newRoomName (userId: string): string {
  return `${ROOM_NAME_PREFIX}${userId}-${randomSuffix()}`
}

/** Whether a name has the shape of a voice-session room; a name that does not can name no session. */
export function isSessionRoomName (name: string): boolean {
  return name.startsWith(ROOM_NAME_PREFIX) &&
    name.length > ROOM_NAME_PREFIX.length + SUFFIX_BYTES &&
    utf8Bytes(name) <= MAX_ROOM_NAME_BYTES &&
    SUFFIX.test(name)
}
