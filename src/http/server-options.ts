import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyRequest, FastifyServerOptions } from 'fastify'
import { censorTokens } from './censor.js'
import { byteLengthKeywords } from '#http/schemas/byte-length.js'
import { sendError } from '#http/schemas/error.js'
import type { Config } from '../config.js'

/** Largest request body accepted; every body this service reads is a few hundred bytes. */
export const BODY_LIMIT = 16 * 1024

/** Log paths that may carry a secret: they are censored before a line is written. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'token',
  '*.token',
  'participant_token',
  '*.participant_token',
  'LIVEKIT_API_SECRET',
  '*.LIVEKIT_API_SECRET',
  'JWT_SECRET',
  '*.JWT_SECRET'
]

/** The request as logged: its URL with anything token-shaped censored. */
function requestForLog (request: FastifyRequest): Record<string, unknown> {
  if (typeof request.url !== 'string') return request as unknown as Record<string, unknown>
  return {
    method: request.method,
    url: censorTokens(request.url),
    host: request.host,
    remoteAddress: request.ip
  }
}

/** A caller's `X-Request-Id` that is adopted as it is; anything else is replaced by a new UUID. */
const CALLER_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The request's id: the caller's `X-Request-Id` when it is a plain token of at most 128
 * characters, else a random UUID, unique across restarts and replicas (Fastify's `req-1` is not).
 */
export function requestIdOf (request: IncomingMessage): string {
  const callers = request.headers['x-request-id']
  return typeof callers === 'string' && CALLER_REQUEST_ID.test(callers) ? callers : randomUUID()
}

/**
 * TRUST_PROXY as Fastify's `trustProxy`: `true`, a list of addresses and CIDRs, or a hop count:
 * the nearest N addresses of the chain are proxies. Fastify 5.12 reads a bare number as "trust
 * nobody" (a client that reaches the service directly could claim any address), so the count is
 * given as the function proxy-addr would make; use it only where every request comes through
 * those proxies.
 */
export function trustProxyOf (value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value.split(',').map((entry) => entry.trim())
}

/** Options of the Fastify instance, shared by the server and the tests so both run the same app. */
export function serverOptions (config: Pick<Config, 'LOG_LEVEL' | 'TRUST_PROXY'>): FastifyServerOptions {
  return {
    // Behind a load balancer, the client's address (logged as remoteAddress) comes from X-Forwarded-For.
    trustProxy: trustProxyOf(config.TRUST_PROXY),
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { req: requestForLog }
    },
    bodyLimit: BODY_LIMIT,
    // Longer than any valid room name, so that the route's schema, not the router, refuses a long one.
    routerOptions: { maxParamLength: 1024 },
    // Requests the router refuses before any route (bad URL encoding, a huge path parameter) get the one error body.
    frameworkErrors: (error, request, reply) => {
      request.log.info({ code: error.code }, 'request refused by the router')
      return sendError(reply, 400, error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path parameter is too long' : 'The URL is malformed')
    },
    requestIdHeader: false,
    genReqId: requestIdOf,
    // A request that is not answered in this time is cut off; LiveKit calls time out well before.
    requestTimeout: 30_000,
    ajv: {
      customOptions: {
        // Unknown fields are rejected by the schemas (additionalProperties: false), never silently dropped.
        removeAdditional: false,
        coerceTypes: false,
        allErrors: false,
        keywords: byteLengthKeywords
      }
    }
  }
}
