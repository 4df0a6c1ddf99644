import t from 'tap'
import { loadConfig } from '../src/config.js'

const required = {
  LIVEKIT_URL: 'wss://livekit.example.com',
  LIVEKIT_API_KEY: 'key',
  LIVEKIT_API_SECRET: 'secret',
  JWT_SECRET: 'an-hs256-secret-of-at-least-32-bytes'
}

function load (data: Record<string, unknown>) {
  return loadConfig({ env: false, dotenv: false, data })
}

t.test('defaults', async (t) => {
  const config = load(required)
  t.equal(config.LIVEKIT_WORKER_NUM_IDLE, 2)
  t.equal(config.HOST, '0.0.0.0')
  t.equal(config.PORT, 3000)
  t.equal(config.LOG_LEVEL, 'info')
  t.equal(config.LIVEKIT_REQUEST_TIMEOUT_MS, 5000)
})

t.test('values from the environment are coerced and kept', async (t) => {
  const config = load({ ...required, LIVEKIT_WORKER_NUM_IDLE: '4', PORT: '8080', LOG_LEVEL: 'debug', LIVEKIT_REQUEST_TIMEOUT_MS: '2500' })
  t.equal(config.LIVEKIT_WORKER_NUM_IDLE, 4)
  t.equal(config.PORT, 8080)
  t.equal(config.LOG_LEVEL, 'debug')
  t.equal(config.LIVEKIT_REQUEST_TIMEOUT_MS, 2500)
})

for (const key of Object.keys(required)) {
  t.test(`missing ${key} fails, naming it`, async (t) => {
    const data: Record<string, unknown> = { ...required }
    delete data[key]
    t.throws(() => load(data), new RegExp(`^Invalid configuration: ${key} is required$`))
  })
}

t.test('one message names every bad key, and never a secret value', async (t) => {
  const error = t.throws(() => load({
    LIVEKIT_API_SECRET: 'super-secret-value',
    LIVEKIT_URL: 'ftp://livekit',
    LIVEKIT_WORKER_NUM_IDLE: '0',
    PORT: 'eighty',
    LOG_LEVEL: 'loud'
  })) as Error
  for (const key of ['LIVEKIT_API_KEY', 'JWT_SECRET', 'LIVEKIT_URL', 'LIVEKIT_WORKER_NUM_IDLE', 'PORT', 'LOG_LEVEL']) {
    t.match(error.message, key)
  }
  t.match(error.message, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent')
  t.notMatch(error.message, 'super-secret-value')
})

t.test('LIVEKIT_WORKER_NUM_IDLE must be an integer >= 1', async (t) => {
  for (const value of ['0', '-1', '1.5', 'two']) {
    t.throws(() => load({ ...required, LIVEKIT_WORKER_NUM_IDLE: value }), /LIVEKIT_WORKER_NUM_IDLE/, value)
  }
  t.equal(load({ ...required, LIVEKIT_WORKER_NUM_IDLE: '1' }).LIVEKIT_WORKER_NUM_IDLE, 1)
})

t.test('LIVEKIT_URL takes the four LiveKit schemes only', async (t) => {
  for (const url of ['ws://127.0.0.1:7880', 'wss://x.livekit.cloud', 'http://127.0.0.1:7880', 'https://lk.example.com/']) {
    t.equal(load({ ...required, LIVEKIT_URL: url }).LIVEKIT_URL, url)
  }
  for (const url of ['127.0.0.1:7880', 'ftp://x', 'ws://', '']) {
    t.throws(() => load({ ...required, LIVEKIT_URL: url }), /LIVEKIT_URL/, url)
  }
})

t.test('the environment is read, and wins over a .env file', async (t) => {
  const dir = t.testdir({ '.env': 'LIVEKIT_API_KEY=from-dotenv\nPORT=4000\n' })
  t.chdir(dir)
  t.intercept(process, 'env', { value: { ...required, LIVEKIT_API_KEY: 'from-env' } })
  const config = loadConfig()
  t.equal(config.LIVEKIT_API_KEY, 'from-env')
  t.equal(config.PORT, 4000)
})

t.test('REDIS_KEY_PREFIX: voice-sessions: by default; an empty one, white space or past 64 characters refused', async (t) => {
  t.equal(load(required).REDIS_KEY_PREFIX, 'voice-sessions:')
  t.equal(load({ ...required, REDIS_KEY_PREFIX: 'staging:' }).REDIS_KEY_PREFIX, 'staging:')
  t.equal(load({ ...required, REDIS_KEY_PREFIX: 'p'.repeat(64) }).REDIS_KEY_PREFIX, 'p'.repeat(64))
  for (const value of ['', 'a b', 'staging:\t', ' staging:', 'p'.repeat(65)]) {
    t.throws(() => load({ ...required, REDIS_KEY_PREFIX: value }), /^Invalid configuration: REDIS_KEY_PREFIX must be 1 to 64 characters without white space$/, JSON.stringify(value))
  }
})

t.test('REDIS_COMMAND_TIMEOUT_MS: 1000 by default; outside 50-60000 or not a number refused', async (t) => {
  t.equal(load(required).REDIS_COMMAND_TIMEOUT_MS, 1000)
  t.equal(load({ ...required, REDIS_COMMAND_TIMEOUT_MS: '250' }).REDIS_COMMAND_TIMEOUT_MS, 250)
  for (const value of ['49', '60001', 'soon', '-1']) {
    t.throws(() => load({ ...required, REDIS_COMMAND_TIMEOUT_MS: value }), /^Invalid configuration: REDIS_COMMAND_TIMEOUT_MS /, value)
  }
})

t.test('.env.example lists every key of the service and of the agent worker', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const { ConfigSchema } = await import('../src/config.js')
  const { AgentConfigSchema } = await import('../agent/config.js')
  const example = await readFile(new URL('../.env.example', import.meta.url), 'utf8')
  const listed = new Set([...example.matchAll(/^([A-Z_]+)=/gm)].map((match) => match[1]))
  for (const key of new Set([...Object.keys(ConfigSchema.properties), ...Object.keys(AgentConfigSchema.properties)])) {
    t.ok(listed.has(key), key)
  }
})

t.test('LIVEKIT_AGENT_NAMES: type=name pairs of known types only', async (t) => {
  t.equal(load({ ...required, LIVEKIT_AGENT_NAMES: 'workout=coach-agent, diet=diet-agent' }).LIVEKIT_AGENT_NAMES, 'workout=coach-agent, diet=diet-agent')
  t.equal(load(required).LIVEKIT_AGENT_NAMES, '')
  for (const value of ['yoga=x', 'workout=', 'workout', 'workout=a b', 'workout=a,,diet=b']) {
    t.throws(() => load({ ...required, LIVEKIT_AGENT_NAMES: value }), /LIVEKIT_AGENT_NAMES must be type=agent-name pairs/, value)
  }
})

t.test('JWT_SECRET: an HS256 secret under 32 bytes is refused in the one message; a PEM key is not a secret', async (t) => {
  for (const secret of ['x', 'a'.repeat(31), '秘密'.repeat(5)]) {
    const error = t.throws(() => load({ ...required, JWT_SECRET: secret, PORT: 'eighty' })) as Error
    t.match(error.message, /^Invalid configuration: (JWT_SECRET must be a PEM public key or an HS256 secret of at least 32 bytes; PORT|PORT .*; JWT_SECRET must be a PEM)/, secret)
    t.notMatch(error.message, secret, 'the secret is not quoted')
  }
  t.equal(load({ ...required, JWT_SECRET: 'a'.repeat(32) }).JWT_SECRET.length, 32)
  // Bytes, not characters: 11 three-byte characters are 33 bytes.
  t.equal(load({ ...required, JWT_SECRET: '秘'.repeat(11) }).JWT_SECRET, '秘'.repeat(11))
  const pem = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----'
  t.equal(load({ ...required, JWT_SECRET: pem }).JWT_SECRET, pem)
})

t.test('JWT claims and LiveKit token keys: defaults and bounds', async (t) => {
  const config = load(required)
  t.equal(config.JWT_AUDIENCE, '')
  t.equal(config.JWT_ISSUER, '')
  t.equal(config.JWT_CLOCK_SKEW_SECONDS, 30)
  t.equal(config.LIVEKIT_TOKEN_TTL_SECONDS, 21600)
  t.equal(load({ ...required, LIVEKIT_TOKEN_TTL_SECONDS: '600' }).LIVEKIT_TOKEN_TTL_SECONDS, 600)
  for (const [key, value] of [['LIVEKIT_TOKEN_TTL_SECONDS', '59'], ['LIVEKIT_TOKEN_TTL_SECONDS', '604801'], ['JWT_CLOCK_SKEW_SECONDS', '-1'], ['JWT_CLOCK_SKEW_SECONDS', '301']] as const) {
    t.throws(() => load({ ...required, [key]: value }), new RegExp(key), `${key}=${value}`)
  }
})

t.test('secrets from files (KEY_FILE): a trailing newline trimmed; both ways at once, or an unreadable file, is a config error', async (t) => {
  const dir = t.testdir({ 'livekit-secret': 'secret-from-a-mounted-file\n', 'jwt-secret': 'an-hs256-secret-of-at-least-32-bytes-from-a-file\n' })
  const { LIVEKIT_API_SECRET: _lk, JWT_SECRET: _jwt, ...rest } = required
  const config = load({ ...rest, LIVEKIT_API_SECRET_FILE: `${dir}/livekit-secret`, JWT_SECRET_FILE: `${dir}/jwt-secret` })
  t.equal(config.LIVEKIT_API_SECRET, 'secret-from-a-mounted-file')
  t.equal(config.JWT_SECRET, 'an-hs256-secret-of-at-least-32-bytes-from-a-file')
  const both = t.throws(() => load({ ...required, JWT_SECRET_FILE: `${dir}/jwt-secret`, PORT: 'eighty' })) as Error
  t.match(both.message, /JWT_SECRET and JWT_SECRET_FILE are both set; set one/)
  t.match(both.message, /PORT/, 'in the one message with every other bad key')
  const missing = t.throws(() => load({ ...rest, JWT_SECRET: required.JWT_SECRET, LIVEKIT_API_SECRET_FILE: `${dir}/nowhere` })) as Error
  t.match(missing.message, /LIVEKIT_API_SECRET_FILE cannot be read \(ENOENT\)/)
  t.notMatch(missing.message, 'secret-from', 'no secret in the message')
  const short = t.throws(() => load({ ...rest, LIVEKIT_API_SECRET: 'x', JWT_SECRET_FILE: `${dir}/livekit-secret` })) as Error
  t.match(short.message, /JWT_SECRET must be a PEM public key or an HS256 secret of at least 32 bytes/, 'a secret from a file is validated like any')
})
