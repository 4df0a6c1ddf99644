import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { DEV_JWT_SECRET, DEV_TOKEN_TTL_SECONDS } from '../../scripts/dev-config.js'
import { bearer, build, livekitConfig, startLivekit } from '../helper.js'
import { runScript, scriptEnv, tsxArgs } from './run-script.js'

/** `npm run token`: one JWT on stdout, which the service (configured the same way) accepts. */

const SECRET = 'token-test-secret-of-at-least-32-bytes'
const OTHER_SECRET = 'another-token-test-secret-of-32-bytes-or-more'
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

const livekit = await startLivekit(t)

function claimsOf (jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
}

/** The status of starting a session with `jwt` as the bearer, and the room it got. */
async function startWith (app: FastifyInstance, jwt: string): Promise<{ statusCode: number, room?: string }> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/voice-sessions/start', headers: bearer(jwt) })
  return { statusCode: response.statusCode, room: response.json().room_name }
}

/** A folder with no .env, or with the given one, to run the script in. */
async function folder (t: Test, dotenv?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  if (dotenv !== undefined) await writeFile(join(dir, '.env'), dotenv)
  return dir
}

t.test('npm run -s token -- --sub bob: one JWT on stdout and nothing else; the service takes it as bob', async (t) => {
  const app = await build(t, { ...livekitConfig(livekit), JWT_SECRET: SECRET })
  const { code, stdout, stderr } = await runScript(t, 'npm', ['run', '-s', 'token', '--', '--sub', 'bob'], { env: scriptEnv({ JWT_SECRET: SECRET }) })
  t.equal(code, 0, stderr)
  t.equal(stderr, '')
  t.match(stdout, /\n$/, 'one line')
  const jwt = stdout.trimEnd()
  t.match(jwt, JWT, 'exactly one JWT, nothing else')
  const claims = claimsOf(jwt)
  t.match(claims, { sub: 'bob', email: 'bob@example.com', exp: Number, iat: Number })
  t.equal(Number(claims.exp) - Number(claims.iat), DEV_TOKEN_TTL_SECONDS, 'valid 24 h by default')
  t.notOk('aud' in claims || 'iss' in claims, 'no aud or iss when the service checks none')
  const started = await startWith(app, jwt)
  t.equal(started.statusCode, 200, 'the service accepts it')
  t.match(started.room, /^fitness-voice-bob-[0-9a-f]{8}$/, 'as bob')
})

t.test('--email, --ttl, and the aud and iss the service checks', async (t) => {
  const env = { JWT_SECRET: SECRET, JWT_AUDIENCE: 'voice-app', JWT_ISSUER: 'https://auth.example.com' }
  const app = await build(t, { ...livekitConfig(livekit), ...env })
  const { code, stdout, stderr } = await runScript(t, process.execPath, tsxArgs('scripts/token.ts', ['--sub', 'alice', '--email', 'alice@example.org', '--ttl', '120']), { env: scriptEnv(env), cwd: await folder(t) })
  t.equal(code, 0, stderr)
  const claims = claimsOf(stdout.trimEnd())
  t.match(claims, { sub: 'alice', email: 'alice@example.org', aud: 'voice-app', iss: 'https://auth.example.com' })
  t.equal(Number(claims.exp) - Number(claims.iat), 120)
  t.equal((await startWith(app, stdout.trimEnd())).statusCode, 200, 'the service accepts it')
})

t.test('JWT_SECRET: from the environment, else .env, else the dev service\'s default', async (t) => {
  const [fromEnv, fromDotenv, fromDefault] = await Promise.all([
    runScript(t, process.execPath, tsxArgs('scripts/token.ts', ['--sub', 'carol']), { env: scriptEnv({ JWT_SECRET: SECRET }), cwd: await folder(t, `JWT_SECRET=${OTHER_SECRET}\n`) }),
    runScript(t, process.execPath, tsxArgs('scripts/token.ts', ['--sub', 'carol']), { env: scriptEnv(), cwd: await folder(t, `JWT_SECRET=${OTHER_SECRET}\n`) }),
    runScript(t, process.execPath, tsxArgs('scripts/token.ts', ['--sub', 'carol']), { env: scriptEnv(), cwd: await folder(t) })
  ])
  const apps = {
    [SECRET]: await build(t, { ...livekitConfig(livekit), JWT_SECRET: SECRET }),
    [OTHER_SECRET]: await build(t, { ...livekitConfig(livekit), JWT_SECRET: OTHER_SECRET }),
    [DEV_JWT_SECRET]: await build(t, { ...livekitConfig(livekit), JWT_SECRET: DEV_JWT_SECRET })
  }
  for (const [run, secret, where] of [[fromEnv, SECRET, 'the environment wins over .env'], [fromDotenv, OTHER_SECRET, '.env'], [fromDefault, DEV_JWT_SECRET, 'the dev default']] as const) {
    t.equal(run.code, 0, run.stderr)
    for (const [appSecret, app] of Object.entries(apps)) {
      t.equal((await startWith(app, run.stdout.trimEnd())).statusCode, appSecret === secret ? 200 : 401, `${where}: ${appSecret === secret ? 'accepted' : 'refused'} by a service with ${appSecret === secret ? 'that' : 'another'} secret`)
    }
  }
})

t.test('refused: no --sub, a bad --ttl or option, a sub the service refuses, a short secret, a public key; nothing on stdout', async (t) => {
  const publicKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const cwd = await folder(t)
  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['no --sub', [], {}, /--sub is required/],
    ['a ttl of 0', ['--sub', 'bob', '--ttl', '0'], {}, /--ttl must be/],
    ['a ttl that is not a number', ['--sub', 'bob', '--ttl', '1h'], {}, /--ttl must be/],
    ['an unknown option', ['--sub', 'bob', '--user', 'x'], {}, /--user/],
    ['a sub with a zero-width space', ['--sub', 'bob\u200b'], {}, /sub is not a user id/],
    ['a secret under 32 bytes', ['--sub', 'bob'], { JWT_SECRET: 'too-short' }, /JWT_SECRET must be a PEM public key or an HS256 secret of at least 32 bytes/],
    ['a PEM public key', ['--sub', 'bob'], { JWT_SECRET: publicKey }, /JWT_SECRET is a PEM public key/]
  ]
  const runs = await Promise.all(cases.map(([, args, env]) => runScript(t, process.execPath, tsxArgs('scripts/token.ts', args), { env: scriptEnv(env), cwd })))
  for (const [i, [name, , , reason]] of cases.entries()) {
    const run = runs[i]!
    t.equal(run.code, 1, `${name}: exit 1`)
    t.equal(run.stdout, '', `${name}: nothing on stdout`)
    t.match(run.stderr, reason, `${name}: says why`)
  }
})
