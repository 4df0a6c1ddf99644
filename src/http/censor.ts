// Something shaped like a JWT (a user's or a LiveKit token), wherever a client put it.
const JWT_SHAPED = /eyJ[\w-]*\.[\w-]*\.?[\w-]*/g

/** The text with anything token-shaped replaced, for logs and error messages that quote a URL. */
export function censorTokens (text: string): string {
  return text.replace(JWT_SHAPED, '[redacted]')
}
