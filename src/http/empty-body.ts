import type { FastifyRequest } from 'fastify'

/** A `preValidation` hook: a POST with no body at all is read as `{}` (a body of `null` is still refused). */
export async function emptyBodyAsObject (request: FastifyRequest): Promise<void> {
  if (request.body === undefined) request.body = {}
}
