/**
 * A bench's knobs, read from the environment: a bad value ends the run at once, with one line
 * naming the variable, what it must be and what it was (`script` starts the line).
 */
export function benchKnobs (script: string) {
  function fail (message: string): never {
    console.error(`${script}: ${message}`)
    process.exit(1)
  }

  /** A comma-separated list of integers of at least `min`, without repeats, in ascending order. */
  function integers (name: string, fallback: string, min: number): number[] {
    const raw = process.env[name] ?? fallback
    const values = raw.split(',').map((item) => item.trim()).filter((item) => item !== '').map(Number)
    if (values.length === 0 || values.some((value) => !Number.isInteger(value) || value < min)) fail(`${name} must be integers >= ${min}, separated by commas (got "${raw}")`)
    return [...new Set(values)].sort((a, b) => a - b)
  }

  function positive (name: string, fallback: number, { integer = false } = {}): number {
    const value = Number(process.env[name] ?? fallback)
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) fail(`${name} must be a positive ${integer ? 'integer' : 'number'} (got "${process.env[name]}")`)
    return value
  }

  return { fail, integers, positive }
}
