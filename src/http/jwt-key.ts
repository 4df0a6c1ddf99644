/** Whether a JWT verification key is a PEM public key (RS/ES/EdDSA tokens) rather than an HS256 secret. */
export function isPem (key: string): boolean {
  return key.trimStart().startsWith('-----BEGIN')
}
