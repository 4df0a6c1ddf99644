import { randomBytes } from 'node:crypto'

/** Every voice-session room starts with this; rooms that do not are never sessions. */
export const ROOM_NAME_PREFIX = 'fitness-voice-'

/** LiveKit's default limit on a room name. */
export const MAX_ROOM_NAME_LENGTH = 256

/** The longest user id (JWT `sub`) the service accepts, so that its room names stay within LiveKit's limit. */
export const MAX_USER_ID_LENGTH = 128

const SUFFIX = /-[0-9a-f]{8}$/

/** `fitness-voice-{userId}-{8 hex chars from a CSPRNG}`: unguessable and unique per session. */
export function newRoomName (userId: string): string {
  return `${ROOM_NAME_PREFIX}${userId}-${randomBytes(4).toString('hex')}`
}

/** Whether a name has the shape of a voice-session room; a name that does not can name no session. */
export function isSessionRoomName (name: string): boolean {
  return name.startsWith(ROOM_NAME_PREFIX) &&
    name.length > ROOM_NAME_PREFIX.length + 9 &&
    name.length <= MAX_ROOM_NAME_LENGTH &&
    SUFFIX.test(name)
}
