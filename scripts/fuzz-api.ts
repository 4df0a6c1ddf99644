import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { spawnTied, type TiedProcess } from './child-process.js'
import { freePort, startLivekitServer, type RunningLivekit } from './livekit-server.js'
import { signHs256 } from './user-jwt.js'

/**
 * `npm run fuzz`: schemathesis over the OpenAPI document of the BUILT service (`npm run build`
 * first), with a real livekit-server behind it that sends it webhooks.
 *
 * `npm run fuzz -- --url http://127.0.0.1:3000`: the same against a service already running
 * there (the container, in scripts/container-ci.sh). Its user JWTs are signed with JWT_SECRET
 * from the environment, with `aud`/`iss` when JWT_AUDIENCE/JWT_ISSUER are set, as the running
 * service expects; that service should have its rate limits raised (one user makes thousands of
 * calls: START_RATE_LIMIT, API_RATE_LIMIT, MAX_SESSIONS_PER_USER).
 *
 * Schemathesis comes from PyPI, pinned, into a virtual environment under .cache/. Exits non-zero
 * on any failed check. Settings: FUZZ_MAX_EXAMPLES (default 50), the cases per operation.
 */

const SCHEMATHESIS_VERSION = '4.32.5'
const CHECKS = 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection'
const root = join(import.meta.dirname, '..')
const venv = join(root, '.cache', `schemathesis-${SCHEMATHESIS_VERSION}`)
const st = join(venv, 'bin', 'st')

function fail (message: string): never {
  console.error(`npm run fuzz: ${message}\nusage: npm run fuzz [-- --url <base URL of a running service>]`)
  process.exit(2)
}

let url: string | undefined
try {
  ({ values: { url } } = parseArgs({ options: { url: { type: 'string' } }, strict: true, allowPositionals: false }))
} catch (err) {
  fail((err as Error).message)
}
if (url !== undefined && !/^https?:\/\/[^\s/?#]+\/?$/.test(url)) fail(`--url must be a base URL such as http://127.0.0.1:3000, not ${url}`)

if (!existsSync(st)) {
  console.error(`Installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv}...`)
  for (const [command, args] of [['python3', ['-m', 'venv', venv]], [join(venv, 'bin', 'pip'), ['install', '-q', `schemathesis==${SCHEMATHESIS_VERSION}`]]] as const) {
    const result = spawnSync(command, args, { stdio: 'inherit' })
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed`)
  }
}

let base: string
let jwtSecret: string
const claims: Record<string, string> = {}
let livekit: RunningLivekit | undefined
let service: TiedProcess | undefined

if (url !== undefined) {
  base = url.replace(/\/$/, '')
  jwtSecret = process.env.JWT_SECRET ?? ''
  if (Buffer.byteLength(jwtSecret) < 32) fail('--url needs JWT_SECRET (at least 32 bytes), the HS256 secret the running service checks user JWTs with')
  if (process.env.JWT_AUDIENCE) claims.aud = process.env.JWT_AUDIENCE
  if (process.env.JWT_ISSUER) claims.iss = process.env.JWT_ISSUER
} else {
  const port = await freePort()
  livekit = await startLivekitServer({ extraConfig: `webhook: { api_key: testkey, urls: ["http://127.0.0.1:${port}/api/v1/livekit/webhook"] }` })
  jwtSecret = 'a-jwt-secret-for-fuzzing-the-api-of-32-bytes'
  service = spawnTied(process.execPath, [join(root, 'dist/src/server.js')], {
    name: 'node dist/src/server.js',
    cwd: root,
    env: {
      PATH: process.env.PATH,
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: livekit.apiKey,
      LIVEKIT_API_SECRET: livekit.apiSecret,
      JWT_SECRET: jwtSecret,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      // The fuzzer is one user making thousands of calls: the limits have tests of their own.
      START_RATE_LIMIT: '100000/minute',
      API_RATE_LIMIT: '100000/minute',
      MAX_SESSIONS_PER_USER: '1000'
    }
  })
  base = `http://127.0.0.1:${port}`
}

let healthy = false
for (let i = 0; i < 300 && !healthy; i++) {
  healthy = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1000) }).then((answer) => answer.ok, () => false)
  if (!healthy) await sleep(100)
}
if (!healthy) {
  console.error(`npm run fuzz: ${base}/health did not answer 200 within 30 s${service === undefined ? '' : `\n${service.describe()}`}`)
  await service?.kill()
  await livekit?.stop()
  process.exit(1)
}

const token = signHs256(jwtSecret, { sub: 'fuzz-user', exp: Math.floor(Date.now() / 1000) + 3600, ...claims })
const result = spawnSync(st, [
  'run', `${base}/api/docs/json`,
  '-H', `Authorization: Bearer ${token}`,
  '--checks', CHECKS,
  '--max-examples', process.env.FUZZ_MAX_EXAMPLES ?? '50',
  '--seed', '1'
], { stdio: 'inherit', timeout: 240_000 })
if (result.error !== undefined) console.error(`npm run fuzz: schemathesis: ${result.error.message}`)
await service?.kill()
await livekit?.stop()
process.exit(result.status ?? 1)
