import fc from 'fast-check'
import t from 'tap'
import { isSessionRoomName, MAX_ROOM_NAME_BYTES, MAX_USER_ID_BYTES, newRoomName, ROOM_NAME_PREFIX } from '#sessions/room-name.js'
import { isUsableUserId } from '#sessions/user-id.js'
import { utf8Bytes } from '#livekit/utf8.js'

/** Any Unicode a JWT `sub` can hold: whole graphemes (emoji, CJK, combining marks) and raw code units. */
const anyUserId = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 120 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 260 })
)

/** A label safe in TAP output whatever the characters: the code points in hex. */
function codePoints (text: string): string {
  return [...text].map((char) => char.codePointAt(0)?.toString(16)).join(' ') || '(empty)'
}

t.test('a room name is fitness-voice-{user id}-{8 hex chars}', async (t) => {
  const name = newRoomName('user-42')
  t.match(name, /^fitness-voice-user-42-[0-9a-f]{8}$/)
  t.ok(isSessionRoomName(name))
})

t.test('suffixes are fresh across refills of the random pool (1,024 suffixes each)', async (t) => {
  // 3,000 random 32-bit suffixes repeat one less than once in a thousand runs; a pool reused without refilling repeats about 2,000.
  const suffixes = new Set(Array.from({ length: 3000 }, () => newRoomName('u').slice(-8)))
  t.ok(suffixes.size >= 2990, `${suffixes.size} distinct of 3,000`)
})

t.test('the user-id limit is what LiveKit\'s 256-byte room names leave: 233 bytes', async (t) => {
  t.equal(MAX_USER_ID_BYTES, 233)
  const longest = newRoomName('a'.repeat(MAX_USER_ID_BYTES))
  t.equal(utf8Bytes(longest), MAX_ROOM_NAME_BYTES)
  t.ok(isSessionRoomName(longest))
  t.notOk(isSessionRoomName(newRoomName('a'.repeat(MAX_USER_ID_BYTES + 1))), 'one byte more is not a session room')
  // 77 CJK characters are 231 bytes and fit; 78 are 234 and do not.
  t.ok(isUsableUserId('語'.repeat(77)))
  t.notOk(isUsableUserId('語'.repeat(78)))
  t.ok(isSessionRoomName(newRoomName('語'.repeat(77))))
  t.notOk(isSessionRoomName(newRoomName('語'.repeat(78))))
  // 200 ASCII characters fit, though they are more characters than 128.
  t.ok(isUsableUserId('u'.repeat(200)))
})

t.test('property: for any usable user id, room names are unique, well-formed and within LiveKit\'s 256 bytes', async (t) => {
  let usable = 0
  fc.assert(fc.property(
    fc.array(anyUserId, { minLength: 1, maxLength: 10 }),
    (userIds) => {
      const ids = userIds.filter(isUsableUserId)
      usable += ids.length
      const names = ids.flatMap((id) => [newRoomName(id), newRoomName(id), newRoomName(id)])
      return new Set(names).size === names.length &&
        names.every((name) => utf8Bytes(name) <= MAX_ROOM_NAME_BYTES && isSessionRoomName(name))
    }
  ), { numRuns: 200 })
  t.ok(usable > 200, `${usable} usable ids drawn`)
})

t.test('property: an id is usable exactly when it fits in bytes and holds no control, format or separator character or lone surrogate', async (t) => {
  fc.assert(fc.property(anyUserId, (id) => {
    const refused = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u.test(id) || utf8Bytes(id) > MAX_USER_ID_BYTES
    return isUsableUserId(id) === !refused
  }), { numRuns: 300 })
  // A zero-width joiner is a format character too, so emoji ZWJ sequences (a family) are refused: a rule with no exceptions.
  for (const id of ['alice\u202Eevil', 'zero\u200Bwidth', '\uFEFFbom', 'a\u2028b', 'lone\uD800', 'tab\there', '', '👩‍👩‍👧‍👦']) {
    t.notOk(isUsableUserId(id), codePoints(id))
  }
  for (const id of ['山田太郎', '😀🎉', 'مرحبا', 'user with spaces', 'a/b|c?d#e%f', 'é́']) {
    t.ok(isUsableUserId(id), codePoints(id))
  }
})

t.test('names that are not session rooms are told apart', async (t) => {
  for (const name of ['nonexistent-room', ROOM_NAME_PREFIX, `${ROOM_NAME_PREFIX}u-1234567`, `${ROOM_NAME_PREFIX}u-ABCDEF12`, `x${newRoomName('u')}`, `${ROOM_NAME_PREFIX}${'a'.repeat(300)}-00000000`]) {
    t.notOk(isSessionRoomName(name), name.slice(0, 40))
  }
})
