import fc from 'fast-check'
import { TokenVerifier } from 'livekit-server-sdk'
import t from 'tap'
import { createLivekit } from '#livekit/livekit.js'
import { newRoomName } from '#sessions/room-name.js'
import { isUsableUserId } from '#sessions/user-id.js'

const config = {
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'testkey',
  LIVEKIT_API_SECRET: 'test-secret-that-is-at-least-32-characters',
  LIVEKIT_REQUEST_TIMEOUT_MS: 1000,
  LIVEKIT_TOKEN_TTL_SECONDS: 21600
}
const livekit = createLivekit(config)
const verifier = new TokenVerifier(config.LIVEKIT_API_KEY, config.LIVEKIT_API_SECRET)

t.test('a token LiveKit accepts, for exactly this user and room, microphone only, for LIVEKIT_TOKEN_TTL_SECONDS', async (t) => {
  const { token, expiresAt } = livekit.issueToken({ identity: 'user-1', name: 'user-1@example.com', room: 'fitness-voice-user-1-0a1b2c3d' })
  t.type(token, 'string')
  t.ok(token.length > 0)
  const claims = await verifier.verify(token)
  t.equal(claims.sub, 'user-1')
  t.equal(claims.name, 'user-1@example.com')
  t.equal(claims.iss, config.LIVEKIT_API_KEY)
  t.same(claims.video, {
    roomJoin: true,
    room: 'fitness-voice-user-1-0a1b2c3d',
    canPublish: true,
    canSubscribe: true,
    canPublishData: true,
    canPublishSources: ['microphone']
  })
  t.equal((claims.exp ?? 0) - (claims.nbf ?? 0), 21600, 'the default TTL: 6 hours')
  t.equal(expiresAt.getTime(), (claims.exp ?? 0) * 1000)
})

t.test('the TTL is the configured one', async (t) => {
  const short = createLivekit({ ...config, LIVEKIT_TOKEN_TTL_SECONDS: 90 })
  const claims = await verifier.verify(short.issueToken({ identity: 'u', name: 'u', room: 'r' }).token)
  t.equal((claims.exp ?? 0) - (claims.nbf ?? 0), 90)
})

t.test('permission flags can be narrowed', async (t) => {
  const { token } = livekit.issueToken({ identity: 'u', name: 'u', room: 'r', canPublish: false, canSubscribe: true, canPublishData: false })
  const { video } = await verifier.verify(token)
  t.equal(video?.canPublish, false)
  t.equal(video?.canPublishData, false)
})

t.test('a token signed with another secret is refused by LiveKit\'s verifier', async (t) => {
  const other = createLivekit({ ...config, LIVEKIT_API_SECRET: 'another-secret-that-is-at-least-32-chars' })
  const { token } = other.issueToken({ identity: 'u', name: 'u', room: 'r' })
  await t.rejects(verifier.verify(token))
})

t.test('property: every issued token is valid for its identity, name and room', async (t) => {
  await fc.assert(fc.asyncProperty(
    // Any Unicode: graphemes (emoji, combining marks, CJK) and raw code units alike.
    fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 120 }))
      .filter(isUsableUserId),
    // Never empty: the service names a user without an email by their id.
    fc.oneof(fc.emailAddress(), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 })),
    async (userId, email) => {
      const room = newRoomName(userId)
      const { token } = livekit.issueToken({ identity: userId, name: email, room })
      const claims = await verifier.verify(token)
      return claims.sub === userId && claims.name === email && claims.video?.room === room && claims.video.roomJoin === true
    }
  ), { numRuns: 150 })
  t.pass('150 runs')
})
