import fc from 'fast-check'
import t from 'tap'
import { isSessionRoomName, MAX_ROOM_NAME_LENGTH, MAX_USER_ID_LENGTH, newRoomName, ROOM_NAME_PREFIX } from '../../src/room-name.js'

t.test('a room name is fitness-voice-{user id}-{8 hex chars}', async (t) => {
  const name = newRoomName('user-42')
  t.match(name, /^fitness-voice-user-42-[0-9a-f]{8}$/)
  t.ok(isSessionRoomName(name))
})

t.test('property: room names are unique, well-formed and within LiveKit\'s limit', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.string({ minLength: 1, maxLength: MAX_USER_ID_LENGTH }), { minLength: 1, maxLength: 20 }),
    (userIds) => {
      const names = userIds.flatMap((id) => [newRoomName(id), newRoomName(id), newRoomName(id)])
      return new Set(names).size === names.length &&
        names.every((name) => name.length <= MAX_ROOM_NAME_LENGTH && isSessionRoomName(name))
    }
  ), { numRuns: 200 })
  t.pass('200 runs')
})

t.test('names that are not session rooms are told apart', async (t) => {
  for (const name of ['nonexistent-room', ROOM_NAME_PREFIX, `${ROOM_NAME_PREFIX}u-1234567`, `${ROOM_NAME_PREFIX}u-ABCDEF12`, `x${newRoomName('u')}`, `${ROOM_NAME_PREFIX}${'a'.repeat(300)}-00000000`]) {
    t.notOk(isSessionRoomName(name), name.slice(0, 40))
  }
})
