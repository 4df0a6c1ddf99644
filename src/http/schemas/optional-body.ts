/**
 * A route schema key saying the body may be left out (the route reads no body as `{}`).
 * @fastify/swagger copies `x-` keys into the operation and always writes `requestBody.required:
 * true`; the swagger plugin's transform turns the one into the other, so that client generators
 * and Swagger UI say the body is optional, as it is.
 */
export const OPTIONAL_BODY = 'x-body-optional'

interface Operation {
  [OPTIONAL_BODY]?: boolean
  requestBody?: { required?: boolean }
}

/** The OpenAPI document with the bodies of marked operations made optional, and the marks removed. */
export function markOptionalBodies<T extends { paths?: object }> (document: T): T {
  for (const path of Object.values(document.paths ?? {}) as Array<Record<string, Operation>>) {
    for (const operation of Object.values(path)) {
      if (operation[OPTIONAL_BODY] === true && operation.requestBody !== undefined) operation.requestBody.required = false
      delete operation[OPTIONAL_BODY]
    }
  }
  return document
}
