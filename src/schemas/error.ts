import { STATUS_CODES } from 'node:http'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'

/** The one body of every 4xx and 5xx answer, exactly what the error handler sends. */
export const ErrorSchema = Type.Object({
  statusCode: Type.Integer({ description: 'The HTTP status code', examples: [404] }),
  error: Type.String({ description: 'The HTTP status text', examples: ['Not Found'] }),
  message: Type.String({ description: 'What went wrong, safe to show', examples: ['Session not found'] })
}, { description: 'Error' })

export type ErrorBody = Static<typeof ErrorSchema>

/** Response schemas for the given error statuses, to spread into a route's `response`. */
export function errorResponses<const S extends number> (...statuses: S[]): Record<S, typeof ErrorSchema> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorSchema])) as Record<S, typeof ErrorSchema>
}

/** Sends the one error body, with the request's id (refusals by the router pass no hook that would add it). */
export function sendError (reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  const body: ErrorBody = { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message }
  return reply.code(statusCode).header('x-request-id', reply.request.id).type('application/json; charset=utf-8').send(body)
}
