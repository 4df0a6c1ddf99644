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

t.test('participants already disconnected are not in the room', async (t) => {
  t.same(presenceOf([participant(Kind.STANDARD, State.DISCONNECTED), participant(Kind.AGENT, State.DISCONNECTED)]), { people: 0, agentConnected: false })
  t.same(presenceOf([participant(Kind.STANDARD, State.JOINING)]), { people: 1, agentConnected: false })
})
