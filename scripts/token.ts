import { parseArgs } from 'node:util'
import { devUserToken, loadDevConfig } from './dev-config.js'

/**
 * `npm run -s token -- --sub bob [--email bob@example.com] [--ttl 3600]`: a user JWT that the dev
 * service accepts, signed with its JWT_SECRET (the environment, `.env`, or the dev default), with
 * `exp`, and with `aud` / `iss` when JWT_AUDIENCE / JWT_ISSUER are set. The JWT is all it writes
 * to stdout (so `BOB=$(npm run -s token -- --sub bob)` works); problems go to stderr, exit 1.
 */

const USAGE = 'usage: npm run -s token -- --sub <user id> [--email <address>] [--ttl <seconds>]'
const MAX_TTL_SECONDS = 365 * 24 * 3600

function fail (message: string): never {
  console.error(`npm run token: ${message}\n${USAGE}`)
  process.exit(1)
}

let values: { sub?: string, email?: string, ttl?: string }
try {
  ({ values } = parseArgs({
    options: { sub: { type: 'string' }, email: { type: 'string' }, ttl: { type: 'string' } },
    strict: true,
    allowPositionals: false
  }))
} catch (err) {
  fail((err as Error).message)
}

if (values.sub === undefined) fail('--sub is required')
const ttl = values.ttl === undefined ? undefined : Number(values.ttl)
if (ttl !== undefined && !(/^\d+$/.test(values.ttl ?? '') && ttl >= 1 && ttl <= MAX_TTL_SECONDS)) {
  fail(`--ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`)
}

try {
  console.log(devUserToken(loadDevConfig(), { sub: values.sub, email: values.email, ttlSeconds: ttl }))
} catch (err) {
  fail((err as Error).message)
}
