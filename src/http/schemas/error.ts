import { STATUS_CODES } from 'node:http'
import { Type, type Static, type TObject } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'

const ErrorProperties = {
  statusCode: Type.Integer({ description: 'The HTTP status code' }),
  error: Type.String({ description: 'The HTTP status text' }),
  message: Type.String({ description: 'What went wrong, safe to show' })
}

/** The one body of every 4xx and 5xx answer, exactly what the error handler sends. */
export const ErrorSchema = Type.Object(ErrorProperties, { description: 'Error' })

export type ErrorBody = Static<typeof ErrorSchema>

/** What each error status means in this API, with a message the service really sends, for the OpenAPI document. */
const ERRORS: Record<number, [description: string, message: string]> = {
  400: ['Bad input: a body, parameter or header the schema refuses, or malformed JSON; refused before LiveKit is called', 'body/agent_type must be equal to one of the allowed values: workout, diet, supplement, tracker, scheduler, general'],
  401: ['Missing, invalid or expired user JWT (one without `exp`, with the wrong `aud`/`iss`, or without a usable `sub`); comes with `WWW-Authenticate: Bearer`', 'Missing bearer token'],
  403: ['The session is another user\'s', 'Not your session'],
  404: ['No such session: LiveKit has no such room', 'Session not found'],
  413: ['The body is over 16 KiB', 'Request body is too large'],
  415: ['The body is not JSON', 'Only JSON bodies are accepted (Content-Type: application/json)'],
  429: ['Too many requests, or too many live sessions', 'Rate limit exceeded, retry in 60 seconds'],
  500: ['An unexpected failure; the details are only in the log, under the X-Request-Id', 'Internal Server Error'],
  502: ['LiveKit refused or failed the operation, or refused the service\'s credentials', 'LiveKit refused the service\'s API credentials'],
  503: ['LiveKit is unreachable, over capacity, or has no node for a new room ("LiveKit is unreachable", "LiveKit is over capacity", "LiveKit has no node available for the room"), or the session index (Redis) is ("The session index is unavailable"); retry after `Retry-After` seconds', 'LiveKit is unreachable'],
  504: ['LiveKit did not answer within LIVEKIT_REQUEST_TIMEOUT_MS; retry after `Retry-After` seconds', 'LiveKit did not answer within 5000 ms']
}

/** The error body documented for one status: its own description and a true example; a route may say what it means there. */
export function errorResponse (statusCode: number, own: { description?: string, message?: string } = {}): TObject<typeof ErrorProperties> {
  const [description, message] = ERRORS[statusCode] ?? [STATUS_CODES[statusCode] ?? 'Error', STATUS_CODES[statusCode] ?? 'Error']
  return Type.Object(ErrorProperties, {
    description: own.description ?? description,
    example: { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: own.message ?? message }
  })
}

/** Response schemas for the given error statuses, to spread into a route's `response`. */
export function errorResponses<const S extends number> (...statuses: S[]): Record<S, TObject<typeof ErrorProperties>> {
  return Object.fromEntries(statuses.map((status) => [status, errorResponse(status)])) as Record<S, TObject<typeof ErrorProperties>>
}

/** Sends the one error body, with the request's id (refusals by the router pass no hook that would add it). */
export function sendError (reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  const body: ErrorBody = { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message }
  return reply.code(statusCode).header('x-request-id', reply.request.id).type('application/json; charset=utf-8').send(body)
}
