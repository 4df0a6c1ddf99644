import type { FuncKeywordDefinition } from 'ajv'
import { isPem } from '../jwt-key.js'

/**
 * `x-max-utf8-bytes`: a string's longest length in UTF-8 bytes, the unit LiveKit counts in
 * (JSON Schema's `maxLength` counts code points). An `x-` name, so that the OpenAPI document
 * that carries it stays valid.
 */
export const MAX_UTF8_BYTES = 'x-max-utf8-bytes'

/** `x-hmac-min-bytes`: a key that is not a PEM public key is an HMAC secret of at least this many UTF-8 bytes. */
export const HMAC_MIN_BYTES = 'x-hmac-min-bytes'

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8')

/** The ajv keywords behind these names, for the request validator and the config loader. */
export const byteLengthKeywords: FuncKeywordDefinition[] = [
  {
    keyword: MAX_UTF8_BYTES,
    type: 'string',
    schemaType: 'number',
    error: { message: ({ schema }) => `must be at most ${String(schema)} bytes in UTF-8` },
    validate: (limit: number, text: string) => utf8Bytes(text) <= limit
  },
  {
    keyword: HMAC_MIN_BYTES,
    type: 'string',
    schemaType: 'number',
    error: { message: ({ schema }) => `must be a PEM public key or an HS256 secret of at least ${String(schema)} bytes` },
    validate: (minBytes: number, key: string) => isPem(key) || utf8Bytes(key) >= minBytes
  }
]
