import { ParticipantInfo_Kind as Kind } from '@livekit/protocol'
import { ParticipantInfo, ParticipantInfo_State as State } from 'livekit-server-sdk'
import t from 'tap'
import { presenceOf } from '#sessions/room-presence.js'

function participant (kind: Kind, state = State.ACTIVE) {
  return new ParticipantInfo({ identity: `p-${Math.random()}`, kind, state })
}

t.test('people are counted, agents and recorders are not', async (t) => {
  t.same(presenceOf([]), { people: 0, agentConnected: false })
  t.same(presenceOf([participant(Kind.AGENT)]), { people: 0, agentConnected: true })
  t.same(presenceOf([participant(Kind.STANDARD), participant(Kind.AGENT)]), { people: 1, agentConnected: true })
  t.same(presenceOf([participant(Kind.STANDARD), participant(Kind.SIP), participant(Kind.EGRESS), participant(Kind.INGRESS)]), { people: 2, agentConnected: false })
})

t.test('a participant is in the room while ACTIVE, as LiveKit\'s participant_joined and participant_left say', async (t) => {
  t.same(presenceOf([participant(Kind.STANDARD, State.DISCONNECTED), participant(Kind.AGENT, State.DISCONNECTED)]), { people: 0, agentConnected: false }, 'gone')
  t.same(presenceOf([participant(Kind.STANDARD, State.JOINING), participant(Kind.AGENT, State.JOINED)]), { people: 0, agentConnected: false }, 'not yet connected')
  t.same(presenceOf([participant(Kind.STANDARD, State.ACTIVE), participant(Kind.AGENT, State.ACTIVE)]), { people: 1, agentConnected: true })
})
