import { MAX_USER_ID_BYTES } from './room-name.js'
import { utf8Bytes } from '#livekit/utf8.js'

/**
 * Characters refused in a user id: control (Cc), format (Cf: bidi overrides, zero-width
 * characters, the BOM), line/paragraph separators, and lone surrogates (Cs), which are not
 * Unicode text and which LiveKit would store as U+FFFD, under another name. The id becomes a
 * room name and a LiveKit identity that people read; an invisible or reordering character there
 * would let one id pass for another.
 */
const REFUSED = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u

/**
 * Whether a JWT `sub` can be a session's user id: non-empty, none of the refused characters, and
 * at most MAX_USER_ID_BYTES in UTF-8 so that every room name it gets fits LiveKit.
 */
export function isUsableUserId (id: string): boolean {
  return id !== '' && !REFUSED.test(id) && utf8Bytes(id) <= MAX_USER_ID_BYTES
}
