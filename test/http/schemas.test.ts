import t from 'tap'
import { AGENT_STATES } from '#agents/dispatch.js'
import { AGENT_TYPES } from '#agents/agent-types.js'
import { AGENT_STATES as API_AGENT_STATES, AGENT_TYPES as API_AGENT_TYPES, MAX_ROOM_NAME_BYTES as API_MAX_ROOM_NAME_BYTES } from '#http/schemas/voice-session.js'
import { MAX_ROOM_NAME_BYTES } from '#sessions/room-name.js'

// The HTTP schemas import nothing from the domain: they say the same things in their own words.
t.test('the API\'s agent types, agent states and room-name limit are the domain\'s', async (t) => {
  t.same([...API_AGENT_TYPES].sort(), [...AGENT_TYPES].sort())
  t.same([...API_AGENT_STATES].sort(), [...AGENT_STATES].sort())
  t.equal(API_MAX_ROOM_NAME_BYTES, MAX_ROOM_NAME_BYTES)
})
