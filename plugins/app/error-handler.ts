import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import { censorTokens } from '#http/censor.js'
import { httpAnswerOf } from '#http/domain-errors.js'
import { sendError } from '#http/schemas/error.js'

interface ServiceError extends FastifyError {
  /** Set by http-errors: the message is safe to show even on a 5xx (our own upstream errors). */
  expose?: boolean
  headers?: Record<string, string>
}

function statusOf (error: ServiceError): number {
  if (error.validation !== undefined) return 400
  const status = error.statusCode ?? 500
  return status >= 400 && status <= 599 ? status : 500
}

/** A validation message that names the offending field and, for enums, what is allowed. */
function validationMessage (error: ServiceError): string {
  const first = error.validation?.[0]
  const allowed = first?.params.allowedValues
  if (Array.isArray(allowed)) return `${error.message}: ${allowed.join(', ')}`
  const extra = first?.params.additionalProperty
  if (typeof extra === 'string') return `${error.message}: '${extra.slice(0, 64)}'`
  if (first?.keyword === 'pattern') return `${error.validationContext ?? 'request'}${first.instancePath} contains a character that is not allowed`
  return error.message
}

/** What the client is told: 4xx messages as they are, 5xx masked unless they are ours to show. */
function messageOf (error: ServiceError, statusCode: number): string {
  if (error.validation !== undefined) return validationMessage(error)
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'Only JSON bodies are accepted (Content-Type: application/json)'
  return statusCode < 500 || error.expose === true ? error.message : 'Internal Server Error'
}

/**
 * One error handler and one not-found handler, both sending the one error body. The domain's
 * errors (a session not found, a cap reached, LiveKit or the index away) are answered as
 * src/http/domain-errors.ts maps them, with their own message. Other 4xx messages pass through;
 * other 5xx are logged with the request id and masked.
 */
export default fp(async function errorHandlerPlugin (fastify) {
  fastify.setErrorHandler(function errorHandler (error: ServiceError, request, reply) {
    const answer = httpAnswerOf(error)
    const statusCode = answer?.statusCode ?? statusOf(error)
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed')
    }
    const headers = answer === undefined ? error.headers : answer.headers
    if (headers !== undefined) reply.headers(headers)
    return sendError(reply, statusCode, answer?.message ?? messageOf(error, statusCode))
  })

  // Only JSON bodies are read: anything else is 415, not a string the schemas then refuse.
  fastify.removeContentTypeParser('text/plain')

  fastify.setNotFoundHandler(function notFoundHandler (request, reply) {
    const path = censorTokens(request.url.split('?')[0] ?? '').slice(0, 200)
    return sendError(reply, 404, `Route ${request.method} ${path} not found`)
  })
}, { name: 'error-handler' })
