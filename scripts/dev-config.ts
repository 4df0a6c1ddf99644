import { Type, type Static } from '@sinclair/typebox'
import { loadEnv, MIN_HS256_SECRET_BYTES } from '../src/config.js'
import { isPem } from '#http/jwt-key.js'
import { HMAC_MIN_BYTES } from '#http/schemas/byte-length.js'
import { isUsableUserId } from '#sessions/user-id.js'
import { signHs256 } from './user-jwt.js'

/**
 * What `npm run dev`, `npm run token` and `npm run dev:client` agree on: the ports and secrets of
 * the local set-up, from the environment, else `.env`, else these defaults. One loader, so that a
 * token minted by `npm run token` is one the dev service accepts, and the dev client finds it.
 */

/** The dev service's HS256 secret when neither the environment nor `.env` sets JWT_SECRET (33 bytes). */
export const DEV_JWT_SECRET = 'dev-jwt-secret-for-local-use-only'
/** The user of the token `npm run dev` prints and `npm run dev:client` joins as. */
export const DEV_USER = 'dev-user'
export const DEV_LIVEKIT_API_KEY = 'devkey'
export const DEV_LIVEKIT_API_SECRET = 'dev-secret-for-local-livekit-only-0123456789'
/** Lifetime of a dev user token unless asked otherwise: a working day. */
export const DEV_TOKEN_TTL_SECONDS = 24 * 3600

function port (fallback: number, description: string) {
  return Type.Integer({ minimum: 1, maximum: 65535, default: fallback, description })
}

export const DevConfigSchema = Type.Object({
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address the dev service listens on' }),
  PORT: port(3000, 'Port of the dev service'),
  LIVEKIT_PORT: port(7880, 'Port of the dev livekit-server (HTTP and WebSocket)'),
  LIVEKIT_RTC_TCP_PORT: port(7881, 'TCP port of the dev livekit-server for media (ICE over TCP)'),
  LIVEKIT_RTC_UDP_PORT: port(7882, 'UDP port of the dev livekit-server for media'),
  AGENT_HEALTH_HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address of the dev agent worker\'s health endpoint' }),
  AGENT_HEALTH_PORT: port(8081, 'Port of the dev agent worker\'s health endpoint'),
  LIVEKIT_AGENT_NAME: Type.String({ minLength: 1, default: 'voice-agent', description: 'The dev agent worker\'s name, dispatched by the dev service' }),
  JWT_SECRET: Type.String({
    minLength: 1,
    [HMAC_MIN_BYTES]: MIN_HS256_SECRET_BYTES,
    default: DEV_JWT_SECRET,
    description: 'The HS256 secret of user JWTs, as the service checks them'
  }),
  JWT_AUDIENCE: Type.String({ default: '', description: 'The `aud` dev tokens carry, when the service checks one' }),
  JWT_ISSUER: Type.String({ default: '', description: 'The `iss` dev tokens carry, when the service checks one' })
})

export type DevConfig = Static<typeof DevConfigSchema>

/** What a user JWT is signed with, and nothing else of the dev set-up (for scripts that call any service: `npm run loadtest`). */
export const UserTokenConfigSchema = Type.Pick(DevConfigSchema, ['JWT_SECRET', 'JWT_AUDIENCE', 'JWT_ISSUER'])

export type UserTokenConfig = Static<typeof UserTokenConfigSchema>

/** The dev configuration, validated; throws one Error naming every bad key. Reads `.env` in the working directory. */
export function loadDevConfig (): DevConfig {
  return loadEnv(DevConfigSchema)
}

/** JWT_SECRET (or JWT_SECRET_FILE), JWT_AUDIENCE and JWT_ISSUER as `loadDevConfig` reads them; the other dev keys are not read. */
export function loadUserTokenConfig (): UserTokenConfig {
  return loadEnv(UserTokenConfigSchema)
}

/** An address to reach a server listening on `host` from this machine: loopback for a wildcard. */
export function reachableHost (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::' || host === '[::]') return '[::1]'
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}

/** The dev service's base URL, e.g. http://127.0.0.1:3000. */
export function serviceUrl (config: Pick<DevConfig, 'HOST' | 'PORT'>): string {
  return `http://${reachableHost(config.HOST)}:${config.PORT}`
}

export interface UserTokenOptions {
  sub: string
  email?: string
  ttlSeconds?: number
}

/**
 * A user JWT the dev service accepts: HS256 with its JWT_SECRET, with `exp`, and with `aud` /
 * `iss` when it checks them. Throws when it cannot be: JWT_SECRET is a public key (tokens come
 * from the app's auth service then), or `sub` is not a user id the service takes.
 */
export function devUserToken (config: UserTokenConfig, options: UserTokenOptions): string {
  if (isPem(config.JWT_SECRET)) {
    throw new Error('JWT_SECRET is a PEM public key: tokens for it are signed with the private key, by the app\'s auth service; these scripts sign HS256 only')
  }
  if (!isUsableUserId(options.sub)) {
    throw new Error('the sub is not a user id the service accepts: 1 to 233 bytes of UTF-8, with no control, format or separator characters')
  }
  const now = Math.floor(Date.now() / 1000)
  return signHs256(config.JWT_SECRET, {
    sub: options.sub,
    email: options.email ?? `${options.sub}@example.com`,
    iat: now,
    exp: now + (options.ttlSeconds ?? DEV_TOKEN_TTL_SECONDS),
    ...(config.JWT_AUDIENCE === '' ? {} : { aud: config.JWT_AUDIENCE }),
    ...(config.JWT_ISSUER === '' ? {} : { iss: config.JWT_ISSUER })
  })
}
