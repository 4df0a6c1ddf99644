/** A rate limit: `max` requests per window of `timeWindow` ms. */
export interface Rate {
  max: number
  timeWindow: number
}

const UNIT_MS = { second: 1000, minute: 60_000, hour: 3_600_000 } as const

/** `10/minute` as `{ max: 10, timeWindow: 60000 }` (the config schema has checked the form). */
export function parseRate (value: string): Rate {
  const [max, unit] = value.split('/') as [string, keyof typeof UNIT_MS]
  return { max: Number(max), timeWindow: UNIT_MS[unit] }
}
