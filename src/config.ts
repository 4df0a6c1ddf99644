import { Type, type Static, type TObject } from '@sinclair/typebox'
import { readFileSync } from 'node:fs'
import type { Ajv } from 'ajv'
import { envSchema } from 'env-schema'
import { AGENT_TYPES } from '#agents/agent-types.js'
import { byteLengthKeywords, HMAC_MIN_BYTES } from '#http/schemas/byte-length.js'
import { DEFAULT_KEY_PREFIX } from '#redis/keys.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const LogLevelSchema = Type.Union(LOG_LEVELS.map((level) => Type.Literal(level)), {
  default: 'info',
  description: 'pino log level'
})

/** Keys shared by the service and the reference agent worker: how to reach LiveKit. */
export const LivekitConfigSchema = Type.Object({
  LIVEKIT_URL: Type.String({
    pattern: '^(wss?|https?)://[^\\s/?#]+',
    description: 'LiveKit server URL (wss://, ws://, https:// or http://), returned to clients and used for the server API'
  }),
  LIVEKIT_API_KEY: Type.String({ minLength: 1, description: 'LiveKit API key' }),
  LIVEKIT_API_SECRET: Type.String({ minLength: 1, description: 'LiveKit API secret; never logged' }),
  LIVEKIT_WORKER_NUM_IDLE: Type.Integer({
    minimum: 1,
    default: 2,
    description: 'Idle processes the voice-agent worker keeps warm (the agents library silently ignores 0)'
  })
})

const AGENT_TYPE_NAME = `(${AGENT_TYPES.join('|')})\\s*=\\s*[^,=\\s]+`
// `type=name` pairs separated by commas, each type one of the agent types.
const AGENT_NAMES_PATTERN = `^\\s*(${AGENT_TYPE_NAME}\\s*(,\\s*${AGENT_TYPE_NAME}\\s*)*)?$`

/** A rate: a number of requests per second, minute or hour. */
const RATE_PATTERN = '^[1-9][0-9]*/(second|minute|hour)$'

/** What a value that does not match its pattern should look like. */
const PATTERN_HINTS: Record<string, string> = {
  LIVEKIT_URL: 'must be a URL starting with ws://, wss://, http:// or https://',
  REDIS_URL: 'must be empty or a URL starting with redis:// or rediss://',
  REDIS_KEY_PREFIX: 'must be 1 to 64 characters without white space',
  START_RATE_LIMIT: 'must be N/second, N/minute or N/hour',
  API_RATE_LIMIT: 'must be N/second, N/minute or N/hour',
  TRUST_PROXY: 'must be true, false, a hop count, or a comma-separated list of addresses and CIDRs',
  LIVEKIT_AGENT_NAMES: `must be type=agent-name pairs separated by commas, each type one of ${AGENT_TYPES.join(', ')}`
}

/** HS256 keys shorter than this are refused at start-up (RFC 7518 3.2). */
export const MIN_HS256_SECRET_BYTES = 32

export const ConfigSchema = Type.Composite([
  LivekitConfigSchema,
  Type.Object({
    JWT_SECRET: Type.String({
      minLength: 1,
      [HMAC_MIN_BYTES]: MIN_HS256_SECRET_BYTES,
      description: 'Verifies the app\'s user JWTs: an HS256 secret of at least 32 bytes, or a PEM public key for RS256/ES256/EdDSA tokens'
    }),
    JWT_AUDIENCE: Type.String({
      default: '',
      description: 'When set, user JWTs must carry this audience (`aud`); empty = not checked'
    }),
    JWT_ISSUER: Type.String({
      default: '',
      description: 'When set, user JWTs must carry this issuer (`iss`); empty = not checked'
    }),
    JWT_CLOCK_SKEW_SECONDS: Type.Integer({
      minimum: 0,
      maximum: 300,
      default: 30,
      description: 'Clock difference allowed between the app\'s token issuer and this service when checking `exp` and `nbf`'
    }),
    LIVEKIT_TOKEN_TTL_SECONDS: Type.Integer({
      minimum: 60,
      maximum: 7 * 24 * 3600,
      default: 6 * 3600,
      description: 'Lifetime of the LiveKit token a user joins with. It bounds joining and reconnecting only: ' +
        'LiveKit refreshes a connected participant\'s token by itself'
    }),
    HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address the HTTP server listens on' }),
    PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'Port the HTTP server listens on (0 = any free port)' }),
    LOG_LEVEL: LogLevelSchema,
    TRUST_PROXY: Type.String({
      default: '',
      pattern: '^$|^true$|^false$|^\\d+$|^[0-9A-Fa-f.:/]+(\\s*,\\s*[0-9A-Fa-f.:/]+)*$',
      description: 'Proxies in front of the service whose X-Forwarded-For is believed, as Fastify\'s trustProxy takes it: ' +
        '`true` (all), a hop count, or a comma-separated list of addresses and CIDRs. Empty = none'
    }),
    CORS_ORIGINS: Type.String({
      default: '',
      description: 'Browser origins allowed to call the service (CORS): `*` or a comma-separated list, e.g. `https://app.example.com`. Empty = no CORS'
    }),
    LIVEKIT_AGENT_NAME: Type.String({
      default: '',
      description: 'The voice agent dispatched into every session (its worker\'s agent name); empty = no explicit dispatch'
    }),
    LIVEKIT_AGENT_NAMES: Type.String({
      default: '',
      pattern: AGENT_NAMES_PATTERN,
      description: 'Per-agent-type overrides of LIVEKIT_AGENT_NAME, e.g. `workout=coach-agent,diet=diet-agent`'
    }),
    AGENT_JOIN_TIMEOUT_MS: Type.Integer({
      minimum: 1000,
      maximum: 300_000,
      default: 10_000,
      description: 'How long a dispatched agent has to join before the service dispatches it again'
    }),
    AGENT_DISPATCH_ATTEMPTS: Type.Integer({
      minimum: 1,
      maximum: 30,
      default: 6,
      description: 'Dispatches per session, the first included, before its agent is reported missing'
    }),
    REDIS_URL: Type.String({
      default: '',
      pattern: '^$|^rediss?://',
      description: 'Redis that holds the session index, shared by every replica (redis:// or rediss://). Empty = in this process\'s memory (one replica)'
    }),
    REDIS_KEY_PREFIX: Type.String({
      default: DEFAULT_KEY_PREFIX,
      pattern: '^\\S{1,64}$',
      description: 'Start of every key the service writes in Redis (session index, dispatch ledger, rate limits), ' +
        'so that two environments, each with its own, can share one Redis without seeing each other\'s sessions'
    }),
    REDIS_COMMAND_TIMEOUT_MS: Type.Integer({
      minimum: 50,
      maximum: 60_000,
      default: 1000,
      description: 'Longest wait for one Redis command (ioredis `commandTimeout`), queued ones included; past it, a request that needs ' +
        'the session index answers 503 with Retry-After, and the rate limits let it through, so a stalled Redis never holds a request'
    }),
    RECONCILE_INTERVAL_MS: Type.Integer({
      minimum: 1000,
      maximum: 3_600_000,
      default: 30_000,
      description: 'How often the session index is checked against LiveKit; a session LiveKit closed is gone from answers within this plus one LiveKit call, webhooks or not'
    }),
    SHUTDOWN_DRAIN_MS: Type.Integer({
      minimum: 0,
      maximum: 60_000,
      default: 2000,
      description: 'On SIGTERM/SIGINT, how long the service keeps serving (with /ready at 503) so that a load balancer stops sending, before it stops taking connections'
    }),
    SHUTDOWN_GRACE_MS: Type.Integer({
      minimum: 1000,
      maximum: 600_000,
      default: 10_000,
      description: 'The longest a shutdown takes, drain included; past it the service logs what was cut off and exits 1'
    }),
    START_RATE_LIMIT: Type.String({
      default: '10/minute',
      pattern: RATE_PATTERN,
      description: 'Per-user limit on starting sessions (start and /livekit/token share it): N/second, N/minute or N/hour'
    }),
    API_RATE_LIMIT: Type.String({
      default: '600/minute',
      pattern: RATE_PATTERN,
      description: 'Per-user limit on every other authenticated route: N/second, N/minute or N/hour'
    }),
    MAX_SESSIONS_PER_USER: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 3,
      description: 'Live sessions one user may have at once; a start past it is refused with 429'
    }),
    MAX_LIVE_SESSIONS: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'Live sessions the whole service may have at once (size it to the agent fleet); 0 = no cap'
    }),
    MAX_SESSION_SECONDS: Type.Integer({
      minimum: 10,
      maximum: 7 * 24 * 3600,
      default: 3600,
      description: 'The longest a session lives: the service ends older ones itself (its room is deleted)'
    }),
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({
      minimum: 0,
      default: 1000,
      description: 'Past this event-loop delay the service answers 503 with Retry-After instead of collapsing; 0 = not checked'
    }),
    OVERLOAD_MAX_HEAP_RATIO: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.9,
      description: 'Past this share of V8\'s heap limit in use the service answers 503 with Retry-After; 0 = not checked'
    }),
    METRICS_TOKEN: Type.String({
      default: '',
      description: 'When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; empty = open (keep /metrics off public networks)'
    }),
    LIVEKIT_REQUEST_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      maximum: 60000,
      default: 5000,
      description: 'Longest wait for one LiveKit API call before the request fails with 504'
    })
  })
])

export type Config = Static<typeof ConfigSchema>

export interface LoadConfigOptions {
  /** Values that win over the environment (tests inject their config here). */
  data?: Record<string, unknown>
  /** Read process.env (default true). */
  env?: boolean
  /** Read a .env file from the working directory, if present (default true); the environment wins. */
  dotenv?: boolean
}

interface EnvSchemaError extends Error {
  errors?: Array<{ instancePath: string, keyword: string, message?: string, params: Record<string, unknown> }>
}

/** The config key an env-schema (ajv) error points at. */
function keyOf (error: NonNullable<EnvSchemaError['errors']>[number]): string {
  if (error.keyword === 'required') return String(error.params.missingProperty)
  return error.instancePath.replace(/^\//, '').split('/')[0] ?? '(config)'
}

function allowedValues (schema: TObject, key: string): string {
  const property = schema.properties[key] as { anyOf?: Array<{ const: unknown }> } | undefined
  return (property?.anyOf ?? []).map((option) => String(option.const)).join(', ')
}

/** The service's configuration, validated; see `loadEnv`. */
export function loadConfig (options: LoadConfigOptions = {}): Config {
  return loadEnv(ConfigSchema, options)
}

/** Secrets that may come from a file instead (`KEY_FILE`, a path), as container platforms mount them. */
export const SECRET_FILE_KEYS = ['LIVEKIT_API_SECRET', 'JWT_SECRET'] as const

/**
 * The values of `KEY_FILE` keys, read from their files (a trailing newline trimmed), and what is
 * wrong with them: a file that cannot be read, or a key set both ways.
 */
function secretsFromFiles (schema: TObject, options: LoadConfigOptions): { values: Record<string, string>, problems: Map<string, string> } {
  const given: Record<string, unknown> = { ...(options.env ?? true ? process.env : {}), ...options.data }
  const values: Record<string, string> = {}
  const problems = new Map<string, string>()
  for (const key of SECRET_FILE_KEYS) {
    const path = given[`${key}_FILE`]
    if (!(key in schema.properties) || typeof path !== 'string' || path === '') continue
    if (given[key] !== undefined && given[key] !== '') {
      problems.set(key, `and ${key}_FILE are both set; set one`)
      continue
    }
    try {
      values[key] = readFileSync(path, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      problems.set(`${key}_FILE`, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  return { values, problems }
}

/** What is wrong with each key, from env-schema's (ajv's) errors; the first problem of a key wins. */
function problemsOf (schema: TObject, errors: NonNullable<EnvSchemaError['errors']>): Map<string, string> {
  const problems = new Map<string, string>()
  for (const error of errors) {
    const key = keyOf(error)
    if (problems.has(key)) continue
    if (error.keyword === 'required') problems.set(key, 'is required')
    else if (error.keyword === 'const' || error.keyword === 'anyOf') problems.set(key, `must be one of ${allowedValues(schema, key)}`)
    else if (error.keyword === 'pattern') problems.set(key, PATTERN_HINTS[key] ?? 'is malformed')
    else problems.set(key, error.message ?? 'is invalid')
  }
  return problems
}

/**
 * Loads and validates configuration against a schema. Throws one Error naming
 * every bad key, so that start-up fails with a single clear message.
 */
export function loadEnv<T extends TObject> (schema: T, options: LoadConfigOptions = {}): Static<T> {
  const files = secretsFromFiles(schema, options)
  let config: Static<T> | undefined
  let problems = new Map<string, string>()
  try {
    config = envSchema<Static<T>>({
      schema: structuredClone(schema),
      data: { ...options.data, ...files.values },
      env: options.env ?? true,
      dotenv: (options.dotenv ?? true) && { quiet: true },
      ajv: {
        customOptions: (ajv: Ajv) => ajv.addVocabulary(byteLengthKeywords)
      }
    })
  } catch (err) {
    const errors = (err as EnvSchemaError).errors
    if (errors === undefined) throw err
    problems = problemsOf(schema, errors)
  }
  for (const [key, problem] of files.problems) problems.set(key, problem)
  if (config === undefined || problems.size > 0) {
    const list = [...problems].map(([key, problem]) => `${key} ${problem}`).join('; ')
    throw new Error(`Invalid configuration: ${list}`)
  }
  return config
}
