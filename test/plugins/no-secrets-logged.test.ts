import { Writable } from 'node:stream'
import { AccessToken } from 'livekit-server-sdk'
import t from 'tap'
import { joinRoom } from '../clients.js'
import { bearer, build, JWT_SECRET, livekitConfig, startLivekit, userToken } from '../helper.js'
import { signedDelivery, webhookEvent } from '../webhooks.js'

const livekit = await startLivekit(t)

t.test('no API secret, user JWT or LiveKit token reaches a log line or an error body', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = await build(t, { ...livekitConfig(livekit), LOG_LEVEL: 'trace' }, stream)
  const userJwt = userToken(app, 'alice')
  const alice = bearer(userJwt)
  const secrets = [livekit.apiSecret, JWT_SECRET, userJwt]
  const bodies: string[] = []

  const started = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: alice, payload: { agent_type: 'diet' } })
  const { token, room_name: roomName } = started.json()
  secrets.push(token)
  await joinRoom(t, livekit.url, token)
  const requests = [
    { method: 'GET', url: `/api/v1/voice-sessions/${roomName}/status`, headers: alice },
    { method: 'GET', url: '/api/v1/voice-sessions/active', headers: alice },
    { method: 'GET', url: '/api/v1/voice-sessions/active', headers: { authorization: `Bearer ${userJwt}x` } },
    { method: 'GET', url: '/api/v1/voice-sessions/active', headers: { authorization: `Bearer ${token}` } },
    { method: 'POST', url: '/api/v1/voice-sessions/start', headers: { ...alice, 'content-type': 'application/json' }, payload: `{"agent_type":"${token}"` },
    { method: 'POST', url: '/api/v1/voice-sessions/start', headers: alice, payload: { agent_type: token } },
    { method: 'GET', url: `/api/v1/voice-sessions/${token}/status`, headers: alice },
    { method: 'GET', url: `/api/v1/${token}`, headers: alice },
    { method: 'DELETE', url: `/api/v1/voice-sessions/${roomName}`, headers: alice }
  ] as const
  for (const request of requests) bodies.push((await app.inject(request)).body)

  // LiveKit's webhook signatures are JWTs too: a good one, and a refused one (tampered body).
  const delivery = await signedDelivery(webhookEvent('room_started', { sid: 'RM_1', name: roomName }), { apiKey: livekit.apiKey, apiSecret: livekit.apiSecret })
  secrets.push(delivery.headers.authorization as string)
  bodies.push((await app.inject({ method: 'POST', url: '/api/v1/livekit/webhook', headers: delivery.headers, payload: delivery.body })).body)
  bodies.push((await app.inject({ method: 'POST', url: '/api/v1/livekit/webhook', headers: delivery.headers, payload: `${delivery.body} ` })).body)

  const broken = await build(t, { ...livekitConfig(livekit), LIVEKIT_API_SECRET: 'wrong-secret-wrong-secret-wrong-secret', LOG_LEVEL: 'trace' }, stream)
  secrets.push('wrong-secret-wrong-secret-wrong-secret')
  bodies.push((await broken.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(userToken(broken, 'alice')) })).body)

  const log = lines.join('')
  t.ok(lines.length > 20, `${lines.length} log lines were written`)
  t.match(log, roomName, 'the log does say what happened')
  for (const secret of secrets) {
    // A token is caught by the start of its payload, so that a truncated copy counts too.
    const telltale = secret.split('.')[1]?.slice(0, 32) ?? secret
    t.notOk(log.includes(telltale), `the log does not contain ${telltale.slice(0, 12)}...`)
    t.notOk(bodies.some((body) => body.includes(telltale)), `no error body contains ${telltale.slice(0, 12)}...`)
  }
})

t.test('the redaction paths censor what a careless log call would write', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = await build(t, { LOG_LEVEL: 'info' }, stream)
  const token = await new AccessToken('k', 'a-secret-that-is-long-enough-for-livekit', { identity: 'u' }).toJwt()
  app.log.info({ token, participant_token: token, req: { headers: { authorization: `Bearer ${token}` } }, session: { token } }, 'careless')
  app.log.info({ config: app.config }, 'careless config')
  const log = lines.join('')
  t.notOk(log.includes(token))
  t.notOk(log.includes(app.config.LIVEKIT_API_SECRET))
  t.notOk(log.includes(app.config.JWT_SECRET))
  t.match(log, '[redacted]')
})
