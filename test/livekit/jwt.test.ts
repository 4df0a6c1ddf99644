import { createHash, createHmac } from 'node:crypto'
import fc from 'fast-check'
import { AccessToken, TokenVerifier, WebhookReceiver } from 'livekit-server-sdk'
import t from 'tap'
import { signJwt, verifyJwt, type Claims } from '#livekit/jwt.js'
import { createWebhookReceiver } from '#livekit/webhook-receiver.js'

const KEY = 'testkey'
const SECRET = 'test-secret-that-is-at-least-32-characters'
const TOLERANCE = 30
const options = { issuer: KEY, clockToleranceSeconds: TOLERANCE }
const verifier = new TokenVerifier(KEY, SECRET)
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
/** A token with this header and these claims, signed with `secret` however the header says. */
function forged (header: Claims, claims: Claims, secret = SECRET, hash = 'sha256'): string {
  const signed = `${part(header)}.${part(claims)}`
  return `${signed}.${createHmac(hash, secret).update(signed).digest('base64url')}`
}
const valid = (): Claims => ({ iss: KEY, exp: nowSeconds() + 60, nbf: nowSeconds(), sub: 'u' })

t.test('a token signed here is one the SDK verifies, with the same claims', async (t) => {
  const claims = { video: { roomJoin: true, room: 'r 語 😀' }, name: 'n', ...valid() }
  t.same(await verifier.verify(signJwt(claims, SECRET)), claims)
  await t.rejects(new TokenVerifier(KEY, `${SECRET}-other`).verify(signJwt(claims, SECRET)), 'and only with its secret')
})

t.test('a token the SDK signs is verified here, with the same claims', async (t) => {
  const token = new AccessToken(KEY, SECRET, { identity: 'u', name: 'n', ttl: 60 })
  token.addGrant({ roomJoin: true, room: 'r' })
  token.sha256 = 'c2hh'
  const signed = await token.toJwt()
  t.same(verifyJwt(signed, SECRET, options), await verifier.verify(signed))
})

t.test('refused, as the SDK refuses them: another secret, issuer, algorithm or header, a changed part, a stale or early token, a missing exp', async (t) => {
  const cases: Record<string, string> = {
    'another secret': forged({ alg: 'HS256' }, valid(), `${SECRET}-other`),
    'another issuer': forged({ alg: 'HS256' }, { ...valid(), iss: 'other' }),
    'no issuer': forged({ alg: 'HS256' }, { ...valid(), iss: undefined }),
    'alg none': `${part({ alg: 'none' })}.${part(valid())}.`,
    'a crit extension': forged({ alg: 'HS256', crit: ['exp'] }, valid()),
    'an unencoded payload (b64)': forged({ alg: 'HS256', b64: false, crit: ['b64'] }, valid()),
    'expired past the tolerance': forged({ alg: 'HS256' }, { ...valid(), exp: nowSeconds() - TOLERANCE - 1 }),
    'not before, past the tolerance': forged({ alg: 'HS256' }, { ...valid(), nbf: nowSeconds() + TOLERANCE + 5 }),
    'no exp': forged({ alg: 'HS256' }, { ...valid(), exp: undefined }),
    'exp a string': forged({ alg: 'HS256' }, { ...valid(), exp: String(nowSeconds() + 60) }),
    'claims not an object': forged({ alg: 'HS256' }, [valid()] as unknown as Claims),
    'two parts': forged({ alg: 'HS256' }, valid()).split('.').slice(0, 2).join('.'),
    'four parts': `${forged({ alg: 'HS256' }, valid())}.x`,
    'a header that is not JSON': (() => { const [, claims] = forged({ alg: 'HS256' }, valid()).split('.'); const signed = `bm90IGpzb24.${claims}`; return `${signed}.${createHmac('sha256', SECRET).update(signed).digest('base64url')}` })(),
    'a changed payload': (() => { const [header, , signature] = forged({ alg: 'HS256' }, valid()).split('.'); return `${header}.${part({ ...valid(), sub: 'admin' })}.${signature}` })(),
    'a truncated signature': forged({ alg: 'HS256' }, valid()).slice(0, -2),
    empty: ''
  }
  for (const [name, token] of Object.entries(cases)) {
    t.throws(() => verifyJwt(token, SECRET, options), name)
    await t.rejects(verifier.verify(token, TOLERANCE), `${name}: the SDK refuses it too`)
  }
  // Stricter than the SDK (jose), which takes these: LiveKit signs HS256 only, in canonical base64url.
  const stricter: Record<string, string> = {
    'alg HS512, signed so': forged({ alg: 'HS512' }, valid(), SECRET, 'sha512'),
    'a signature with junk after it': `${forged({ alg: 'HS256' }, valid())}!!`,
    // What the property below found in CI: fast-check appended one "=".
    'a signature padded with "="': `${forged({ alg: 'HS256' }, valid())}=`
  }
  for (const [name, token] of Object.entries(stricter)) {
    t.throws(() => verifyJwt(token, SECRET, options), name)
    t.ok(await verifier.verify(token, TOLERANCE), `${name}: the SDK takes it`)
  }
  t.ok(verifyJwt(forged({ alg: 'HS256', typ: 'JWT' }, { ...valid(), exp: nowSeconds() - TOLERANCE + 2 }), SECRET, options), 'within the tolerance, with a typ')
})

/** Three parts, each the base64url encoding its own bytes give back (no padding, no trailing bits, no other alphabet). */
function canonical (token: string): boolean {
  const parts = token.split('.')
  return parts.length === 3 && parts.every((part) => Buffer.from(part, 'base64url').toString('base64url') === part)
}

t.test('property: for any claims and any one-character change, this verifier and the SDK\'s agree, but where the SDK takes a token that is not canonical', async (t) => {
  const claims = fc.record({
    iss: fc.constantFrom(KEY, 'other'),
    exp: fc.integer({ min: -120, max: 120 }).map((offset) => nowSeconds() + offset),
    nbf: fc.option(fc.integer({ min: -120, max: 120 }).map((offset) => nowSeconds() + offset), { nil: undefined }),
    sub: fc.string()
  }, { requiredKeys: ['iss', 'exp'] })
  await fc.assert(fc.asyncProperty(claims, fc.nat(), fc.constantFrom('', 'A', '.', '-', '_', '='), async (payload, at, replacement) => {
    const token = signJwt(payload, SECRET)
    const index = at % (token.length + 1)
    const changed = replacement === '' ? token : `${token.slice(0, index)}${replacement}${token.slice(index + 1)}`
    let ours = true
    try { verifyJwt(changed, SECRET, options) } catch { ours = false }
    const theirs = await verifier.verify(changed, TOLERANCE).then(() => true, () => false)
    // Never more lenient than the SDK; stricter only on encodings (a "=" after the signature: jose drops it).
    return ours ? theirs : !theirs || !canonical(changed)
  }), { numRuns: 300 })
  t.pass('300 runs')
})

t.test('a webhook delivery is received as the SDK receives it, and refused where it refuses', async (t) => {
  const receive = createWebhookReceiver({ apiKey: KEY, apiSecret: SECRET, clockToleranceSeconds: TOLERANCE })
  const sdk = new WebhookReceiver(KEY, SECRET)
  const body = JSON.stringify({ event: 'room_started', id: 'EV_1', room: { name: 'r 語', sid: 'RM_1' }, createdAt: '1700000000' })
  const sha256 = createHash('sha256').update(body).digest('base64')
  const signed = signJwt({ ...valid(), sha256 }, SECRET)
  t.same(receive(body, signed).toJson(), (await sdk.receive(body, signed, false, `${TOLERANCE}s`)).toJson())
  t.throws(() => receive(`${body} `, signed), /sha256 checksum/, 'a changed body')
  t.throws(() => receive(body, undefined), /authorization header is empty/)
  t.throws(() => receive(body, signJwt({ ...valid() }, SECRET)), /sha256 checksum/, 'a token without the body\'s hash')
  t.throws(() => receive(body, signJwt({ ...valid(), sha256 }, `${SECRET}-other`)), /signature/)
  const notJson = 'not json'
  t.throws(() => receive(notJson, signJwt({ ...valid(), sha256: createHash('sha256').update(notJson).digest('base64') }, SECRET)), SyntaxError, 'verified, then not JSON')
  const notEvent = JSON.stringify({ event: 7 })
  t.throws(() => receive(notEvent, signJwt({ ...valid(), sha256: createHash('sha256').update(notEvent).digest('base64') }, SECRET)), /cannot decode/, 'verified, then not an event')
})
