/** Length in UTF-8 bytes: the unit LiveKit counts room names and identities in (Go's `len`). */
export function utf8Bytes (text: string): number {
  return Buffer.byteLength(text, 'utf8')
}
