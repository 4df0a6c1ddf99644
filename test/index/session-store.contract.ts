import fc from 'fast-check'
import type { Test } from 'tap'
import type { IndexedParticipant, NewSession, SessionStore } from '#index/session-store.js'

/** Times in the test: now, so that no entry is old enough to expire. */
const T = Date.now()
/** A reservation's life in the test: far longer than the test, so that only the times it gives expire one. */
const RESERVATION_TTL_MS = 60_000

function session (roomName: string, userId: string): NewSession {
  return { roomName, userId, agentType: 'workout', createdAtMs: 1_700_000_000_000 }
}

const person = (sid: string, identity = 'alice'): IndexedParticipant => ({ sid, identity, role: 'person' })
const agent = (sid: string): IndexedParticipant => ({ sid, identity: 'agent-1', role: 'agent' })

/** The checks every SessionStore passes; each implementation's test file runs them on a fresh store. */
export function sessionStoreContract (t: Test, newStore: (t: Test) => Promise<SessionStore>, runs = 100): void {
  t.test('a session is recorded, read, listed for its user only, counted', async (t) => {
    const store = await newStore(t)
    t.equal(await store.add(session('room-a1', 'a'), T + 1000), true)
    await store.add(session('room-a2', 'a'), T + 1000)
    await store.add(session('room-ab', 'a-b'), T + 1000)
    await store.add(session('room-語', '山田 😀'), T + 1000)
    t.same(await store.get('room-a1'), { ...session('room-a1', 'a'), checkedAtMs: T + 1000, heardAtMs: 0, participants: [] })
    t.same((await store.listByUser('a')).map((s) => s.roomName).sort(), ['room-a1', 'room-a2'], 'ids sharing a prefix stay apart')
    t.same((await store.listByUser('a-b')).map((s) => s.roomName), ['room-ab'])
    t.same((await store.listByUser('山田 😀')).map((s) => s.roomName), ['room-語'])
    t.same(await store.listByUser('nobody'), [])
    t.equal(await store.count(), 4)
    t.same((await store.startedBefore(Number.MAX_SAFE_INTEGER)).sort(), ['room-a1', 'room-a2', 'room-ab', 'room-語'].sort(), 'every room, for the reconcile')
    t.equal(await store.get('room-unknown'), undefined)
  })

  t.test('an ended session is gone and stays gone, whatever arrives late', async (t) => {
    const store = await newStore(t)
    await store.add(session('room-1', 'a'), T + 1000)
    await store.joined('room-1', person('PA_1'), T + 1100)
    const ended = await store.end('room-1')
    t.match(ended, { roomName: 'room-1', userId: 'a', participants: [person('PA_1')] })
    t.equal(await store.get('room-1'), undefined)
    t.same(await store.listByUser('a'), [])
    t.equal(await store.count(), 0)
    t.equal(await store.add(session('room-1', 'a'), T + 2000), false, 'a late room_started does not bring it back')
    await store.joined('room-1', person('PA_2'), T + 2000)
    t.equal(await store.get('room-1'), undefined, 'nor does a late join')
    t.equal(await store.end('room-1'), undefined, 'ending twice is harmless')
    t.equal(await store.end('room-never'), undefined)
    t.equal(await store.add(session('room-never', 'a'), T + 2000), false, 'a room that ended before it was seen is not recorded')
  })

  t.test('participants: joins and leaves by SID; a leave that arrives before its join wins', async (t) => {
    const store = await newStore(t)
    await store.add(session('room-1', 'a'), T + 1000)
    await store.joined('room-1', person('PA_1'), T + 1100)
    await store.joined('room-1', agent('PA_agent'), T + 1200)
    await store.joined('room-1', person('PA_1'), T + 1300)
    t.same((await store.get('room-1'))?.participants.map((p) => p.sid).sort(), ['PA_1', 'PA_agent'], 'a repeated join counts once')
    t.same(await store.left('room-1', 'PA_agent', T + 1400), agent('PA_agent'), 'a leave says who left')
    t.equal(await store.left('room-1', 'PA_late', T + 1500), undefined)
    await store.joined('room-1', person('PA_late'), T + 1450)
    t.same((await store.get('room-1'))?.participants, [person('PA_1')], 'the late join of a departed SID is ignored')
    // The same person on a second device: another SID; the first one's leave leaves the second.
    await store.joined('room-1', person('PA_2'), T + 1600)
    await store.left('room-1', 'PA_1', T + 1700)
    t.same((await store.get('room-1'))?.participants, [person('PA_2')])
    await store.joined('room-unknown', person('PA_9'), T + 1800)
    t.equal(await store.get('room-unknown'), undefined, 'a join for an unknown room records nothing')
    t.equal(await store.left('room-unknown', 'PA_9', T + 1800), undefined)
  })

  t.test('the reconcile\'s participant list replaces the index\'s', async (t) => {
    const store = await newStore(t)
    await store.add(session('room-1', 'a'), T + 1000)
    await store.joined('room-1', person('PA_ghost'), T + 1100)
    await store.replaceParticipants('room-1', [person('PA_real'), agent('PA_agent')], T + 5000)
    const read = await store.get('room-1')
    t.same(read?.participants.map((p) => p.sid).sort(), ['PA_agent', 'PA_real'])
    t.equal(read?.checkedAtMs, T + 5000)
    await store.replaceParticipants('room-1', [], T + 6000)
    t.same((await store.get('room-1'))?.participants, [])
    await store.joined('room-1', person('PA_new'), T + 7000)
    await store.replaceParticipants('room-1', [], T + 6500)
    t.same((await store.get('room-1'))?.participants, [person('PA_new')], 'a list read before a later webhook does not undo it')
    await store.replaceParticipants('room-unknown', [person('PA_1')], T + 6000)
    t.equal(await store.get('room-unknown'), undefined)
  })

  t.test('the confirmation time only moves forward', async (t) => {
    const store = await newStore(t)
    await store.add(session('room-1', 'a'), T + 5000)
    await store.confirm([session('room-1', 'a')], T + 4000)
    t.equal((await store.get('room-1'))?.checkedAtMs, T + 5000)
    await store.confirm([session('room-1', 'a')], T + 7000)
    t.equal((await store.get('room-1'))?.checkedAtMs, T + 7000)
    await store.joined('room-1', person('PA_1'), T + 6000)
    t.equal((await store.get('room-1'))?.checkedAtMs, T + 7000)
    await store.add(session('room-1', 'a'), T + 8000)
    t.equal((await store.get('room-1'))?.checkedAtMs, T + 8000, 'adding a known session confirms it')
    t.same((await store.get('room-1'))?.participants, [person('PA_1')], 'and keeps its participants')
  })

  t.test('confirming sessions records each as add does, in one step, and never brings back an ended one', async (t) => {
    const store = await newStore(t)
    await store.add(session('room-1', 'a'), T)
    await store.joined('room-1', person('PA_1'), T)
    await store.add(session('room-2', 'b'), T)
    await store.end('room-2')
    await store.reserve('room-4', 'c', { perUser: 1, live: 0 }, T, RESERVATION_TTL_MS)
    await store.confirm([session('room-1', 'a'), session('room-2', 'b'), session('room-3', 'c')], T + 1000)
    t.same(await store.get('room-1'), { ...session('room-1', 'a'), checkedAtMs: T + 1000, heardAtMs: 0, participants: [person('PA_1')] }, 'confirmed, its people kept')
    t.equal(await store.get('room-2'), undefined, 'an ended room stays ended')
    t.same(await store.get('room-3'), { ...session('room-3', 'c'), checkedAtMs: T + 1000, heardAtMs: 0, participants: [] }, 'an entry lost while its room lived is restored')
    t.same((await store.listByUser('c')).map((s) => s.roomName), ['room-3'])
    t.equal(await store.count(), 2)
    t.match(await store.reserve('room-5', 'c', { perUser: 3, live: 0 }, T, RESERVATION_TTL_MS), { reserved: true })
    t.same(await store.reserve('room-6', 'c', { perUser: 3, live: 0 }, T, RESERVATION_TTL_MS), { reserved: false, scope: 'user', live: 3 }, 'the reservation was left alone')
    await store.confirm([], T + 2000)
  })

  t.test('property: a user\'s list holds exactly that user\'s sessions, whatever the ids', async (t) => {
    // Ids that share prefixes and differ in case or by a space, and any Unicode.
    const userId = fc.oneof(fc.constantFrom('a', 'a-b', 'a ', 'A', 'ab', 'a:b'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }))
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(userId, fc.boolean()), { minLength: 1, maxLength: 12 }), userId, async (rooms, caller) => {
      const store = await newStore(t)
      const expected: string[] = []
      for (const [index, [owner, ended]] of rooms.entries()) {
        const roomName = `room-${index}`
        await store.add(session(roomName, owner), T)
        if (ended) await store.end(roomName)
        else if (owner === caller) expected.push(roomName)
      }
      const listed = await store.listByUser(caller)
      return listed.every((s) => s.userId === caller) && JSON.stringify(listed.map((s) => s.roomName).sort()) === JSON.stringify(expected.sort())
    }), { numRuns: runs })
  })

  t.test('a reservation holds a place under the user\'s cap until its session is recorded, which takes its place', async (t) => {
    const store = await newStore(t)
    const caps = { perUser: 2, live: 0 }
    t.same(await store.reserve('room-1', 'a', caps, T, RESERVATION_TTL_MS), { reserved: true })
    t.same(await store.reserve('room-2', 'a', caps, T, RESERVATION_TTL_MS), { reserved: true })
    t.same(await store.reserve('room-3', 'a', caps, T, RESERVATION_TTL_MS), { reserved: false, scope: 'user', live: 2 }, 'two starts under way fill the cap')
    t.same(await store.reserve('room-b', 'b', caps, T, RESERVATION_TTL_MS), { reserved: true }, 'another user has a cap of their own')
    t.equal(await store.get('room-1'), undefined, 'a reservation is no session: not read')
    t.same(await store.listByUser('a'), [], 'nor listed')
    t.equal(await store.count(), 0, 'nor counted live')
    t.same(await store.startedBefore(Number.MAX_SAFE_INTEGER), [], 'nor among the reconcile\'s rooms')

    t.equal(await store.add(session('room-1', 'a'), T), true)
    t.same(await store.reserve('room-3', 'a', caps, T, RESERVATION_TTL_MS), { reserved: false, scope: 'user', live: 2 }, 'the recorded session counts once, in its reservation\'s place')
    await store.release('room-2', 'a')
    await store.release('room-never', 'a')
    t.same(await store.reserve('room-3', 'a', caps, T, RESERVATION_TTL_MS), { reserved: true }, 'a released place is free again')
    await store.end('room-1')
    t.same(await store.reserve('room-4', 'a', caps, T, RESERVATION_TTL_MS), { reserved: true }, 'so is an ended session\'s')

    const one = { perUser: 1, live: 0 }
    t.same(await store.reserve('room-c1', 'c', one, T, RESERVATION_TTL_MS), { reserved: true })
    await store.end('room-c1')
    t.equal(await store.add(session('room-c1', 'c'), T), false, 'a room that ended before it was recorded is not')
    t.same(await store.reserve('room-c2', 'c', one, T, RESERVATION_TTL_MS), { reserved: true }, 'but its reservation is gone all the same')
  })

  t.test('the service\'s cap counts every live session and every reservation; 0 is no cap', async (t) => {
    const store = await newStore(t)
    const caps = { perUser: 10, live: 3 }
    await store.add(session('room-a', 'a'), T)
    t.same(await store.reserve('room-b', 'b', caps, T, RESERVATION_TTL_MS), { reserved: true })
    t.same(await store.reserve('room-c', 'c', caps, T, RESERVATION_TTL_MS), { reserved: true })
    t.same(await store.reserve('room-d', 'd', caps, T, RESERVATION_TTL_MS), { reserved: false, scope: 'service', live: 3 })
    t.same(await store.reserve('room-a2', 'a', { perUser: 1, live: 3 }, T, RESERVATION_TTL_MS), { reserved: false, scope: 'user', live: 1 }, 'the user\'s cap is told first')
    t.same(await store.reserve('room-d', 'd', { perUser: 10, live: 0 }, T, RESERVATION_TTL_MS), { reserved: true })
    t.same(await store.reserve('room-e', 'e', { perUser: 10, live: 5 }, T, RESERVATION_TTL_MS), { reserved: true }, 'the one who ran without a cap still counts')
    t.same(await store.reserve('room-f', 'f', { perUser: 10, live: 5 }, T, RESERVATION_TTL_MS), { reserved: false, scope: 'service', live: 5 })
  })

  t.test('a reservation expires by itself, so that a start whose replica died frees its place', async (t) => {
    const store = await newStore(t)
    const caps = { perUser: 1, live: 1 }
    t.same(await store.reserve('room-1', 'a', caps, T, RESERVATION_TTL_MS), { reserved: true })
    const justBefore = T + RESERVATION_TTL_MS - 1
    t.same(await store.reserve('room-2', 'a', caps, justBefore, RESERVATION_TTL_MS), { reserved: false, scope: 'user', live: 1 })
    t.same(await store.reserve('room-2', 'b', caps, justBefore, RESERVATION_TTL_MS), { reserved: false, scope: 'service', live: 1 })
    t.same(await store.reserve('room-2', 'a', caps, T + RESERVATION_TTL_MS, RESERVATION_TTL_MS), { reserved: true }, 'at its expiry the place is free, under both caps')
  })

  t.test('property: reservations made at once never pass either cap, and take every place the caps leave', async (t) => {
    const user = fc.constantFrom('a', 'b', 'c', 'd')
    await fc.assert(fc.asyncProperty(
      fc.array(user, { maxLength: 6 }), fc.array(user, { minLength: 1, maxLength: 24 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 10 }),
      async (recorded, starts, perUser, live) => {
        const store = await newStore(t)
        for (const [i, owner] of recorded.entries()) await store.add(session(`room-live-${i}`, owner), T)
        const replies = await Promise.all(starts.map(async (owner, i) => await store.reserve(`room-${i}`, owner, { perUser, live }, T, RESERVATION_TTL_MS)))
        const held = (owner: string, of: string[]) => of.filter((other) => other === owner).length
        const granted = starts.filter((_owner, i) => replies[i]?.reserved === true)
        const owners = [...new Set(starts)]
        // Each user may take what their cap leaves them; the service, what its cap leaves (0: no cap).
        const userPlaces = owners.reduce((sum, owner) => sum + Math.min(held(owner, starts), Math.max(0, perUser - held(owner, recorded))), 0)
        const expected = live === 0 ? userPlaces : Math.min(userPlaces, Math.max(0, live - recorded.length))
        return granted.length === expected &&
          owners.every((owner) => held(owner, granted) <= Math.max(0, perUser - held(owner, recorded))) &&
          replies.every((reply) => reply.reserved || reply.live >= (reply.scope === 'user' ? perUser : live))
      }), { numRuns: runs })
  })

  t.test('the sessions started before a time are found by their rooms\' creation', async (t) => {
    const store = await newStore(t)
    for (const [room, createdAtMs] of [['room-old', T - 10_000], ['room-edge', T], ['room-new', T + 10_000]] as const) {
      await store.add({ ...session(room, 'a'), createdAtMs }, T)
    }
    t.same(await store.startedBefore(T), ['room-old'])
    t.same((await store.startedBefore(T + 1)).sort(), ['room-edge', 'room-old'])
    await store.end('room-old')
    t.same(await store.startedBefore(T), [], 'an ended one is gone')
  })

  t.test('a webhook event\'s change is applied once by its id, and marks the room heard of', async (t) => {
    const store = await newStore(t)
    const started = { event: 'room_started', session: session('room-1', 'a') } as const
    t.same(await store.applyEvent(started, { id: 'EV_1', atMs: T + 100 }), { outcome: 'applied' })
    t.match(await store.get('room-1'), { checkedAtMs: T + 100, heardAtMs: T + 100 }, 'confirmed and heard of at the delivery')
    t.same(await store.applyEvent(started, { id: 'EV_1', atMs: T + 300 }), { outcome: 'duplicate' })
    t.match(await store.get('room-1'), { checkedAtMs: T + 100, heardAtMs: T + 100 }, 'a duplicate changes nothing, not even the marks')
    const joined = { event: 'participant_joined', roomName: 'room-1', participant: person('PA_1') } as const
    t.same(await store.applyEvent(joined, { id: 'EV_2', atMs: T + 200 }), { outcome: 'applied' })
    t.same(await store.applyEvent(joined, { id: '', atMs: T + 250 }), { outcome: 'applied' }, 'an event without an id is never a duplicate')
    t.match(await store.get('room-1'), { heardAtMs: T + 250, participants: [person('PA_1')] }, 'and its room is heard of')
    t.same(await store.applyEvent(joined, { id: 'EV_2b', atMs: T + 220 }), { outcome: 'applied' })
    t.match(await store.get('room-1'), { heardAtMs: T + 250 }, 'heard only moves forward')
    t.same(await store.applyEvent({ event: 'participant_left', roomName: 'room-1', sid: 'PA_1' }, { id: 'EV_3', atMs: T + 400 }), { outcome: 'applied', left: person('PA_1') })
    t.same(await store.applyEvent({ event: 'participant_left', roomName: 'room-1', sid: 'PA_1' }, { id: 'EV_4', atMs: T + 500 }), { outcome: 'ignored' }, 'a SID that left is not in the room')
    t.same(await store.applyEvent(joined, { id: 'EV_5', atMs: T + 600 }), { outcome: 'ignored' }, 'a late join of a departed SID')
    t.same(await store.lastHeard(['room-1', 'room-unknown']), [T + 600, undefined], 'an ignored change still says the room is heard of')
    t.same(await store.applyEvent({ event: 'participant_joined', roomName: 'room-unknown', participant: person('PA_9') }, { id: 'EV_6', atMs: T }), { outcome: 'ignored' })
    t.equal(await store.get('room-unknown'), undefined, 'nothing is made for an unknown room')
    t.same(await store.applyEvent({ event: 'participant_joined', roomName: 'room-unknown', participant: person('PA_9') }, { id: 'EV_6', atMs: T }), { outcome: 'duplicate' }, 'an ignored event is remembered too')
    const finished = { event: 'room_finished', roomName: 'room-1' } as const
    t.match(await store.applyEvent(finished, { id: 'EV_7', atMs: T + 700 }), { outcome: 'applied', ended: { roomName: 'room-1', userId: 'a', heardAtMs: T + 600 } })
    t.same(await store.applyEvent(finished, { id: 'EV_8', atMs: T + 800 }), { outcome: 'ignored' })
    t.same(await store.applyEvent({ ...started }, { id: 'EV_9', atMs: T + 900 }), { outcome: 'ignored' }, 'a late start of an ended room')
    t.equal(await store.get('room-1'), undefined)
    await store.add(session('room-2', 'a'), T)
    t.same(await store.lastHeard(['room-2']), [0], 'the service\'s own start is not a webhook')
    t.same(await store.lastHeard([]), [])
  })

  t.test('deliveries of one event at once apply it once', async (t) => {
    const store = await newStore(t)
    await store.add(session('room-1', 'a'), T)
    const left = { event: 'participant_left', roomName: 'room-1', sid: 'PA_1' } as const
    await store.joined('room-1', person('PA_1'), T)
    const outcomes = await Promise.all(Array.from({ length: 8 }, async () => (await store.applyEvent(left, { id: 'EV_1', atMs: T + 100 })).outcome))
    t.same(outcomes.sort(), ['applied', ...Array<string>(7).fill('duplicate')])
  })

  t.test('the generation is absent until set: the index must be built', async (t) => {
    const store = await newStore(t)
    t.equal(await store.generation(), undefined)
    await store.setGeneration('g-1')
    t.equal(await store.generation(), 'g-1')
  })
}
