import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnTied } from './child-process.js'
import { freePort, startLivekitServer } from './livekit-server.js'
import { signHs256 } from './user-jwt.js'

/**
 * `npm run fuzz`: schemathesis over the OpenAPI document of the BUILT service (`npm run build`
 * first), with a real livekit-server behind it that sends it webhooks. Schemathesis comes from
 * PyPI, pinned, into a virtual environment under .cache/. Exits non-zero on any failed check.
 * Settings: FUZZ_MAX_EXAMPLES (default 50).
 */

const SCHEMATHESIS_VERSION = '4.32.5'
const root = join(import.meta.dirname, '..')
const venv = join(root, '.cache', `schemathesis-${SCHEMATHESIS_VERSION}`)
const st = join(venv, 'bin', 'st')

if (!existsSync(st)) {
  console.error(`Installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv}...`)
  for (const [command, args] of [['python3', ['-m', 'venv', venv]], [join(venv, 'bin', 'pip'), ['install', '-q', `schemathesis==${SCHEMATHESIS_VERSION}`]]] as const) {
    const result = spawnSync(command, args, { stdio: 'inherit' })
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed`)
  }
}

const port = await freePort()
const livekit = await startLivekitServer({ extraConfig: `webhook: { api_key: testkey, urls: ["http://127.0.0.1:${port}/api/v1/livekit/webhook"] }` })
const jwtSecret = 'a-jwt-secret-for-fuzzing-the-api-of-32-bytes'
const service = spawnTied(process.execPath, [join(root, 'dist/src/server.js')], {
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
const base = `http://127.0.0.1:${port}`
for (let i = 0; i < 300 && !await fetch(`${base}/health`).then((answer) => answer.ok, () => false); i++) await sleep(100)

const token = signHs256(jwtSecret, { sub: 'fuzz-user', exp: Math.floor(Date.now() / 1000) + 3600 })
const result = spawnSync(st, [
  'run', `${base}/api/docs/json`,
  '-H', `Authorization: Bearer ${token}`,
  '--checks', 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection',
  '--max-examples', process.env.FUZZ_MAX_EXAMPLES ?? '50',
  '--seed', '1'
], { stdio: 'inherit', timeout: 240_000 })
await service.kill()
await livekit.stop()
process.exit(result.status ?? 1)
