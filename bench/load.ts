import autocannon from 'autocannon'

/**
 * The two load generators of `npm run bench`, with one way of counting: autocannon for the service
 * over HTTP, and a loop of in-process calls for the bare SDK. Both keep `connections` calls in flight
 * until `seconds` have passed (or `limit` calls were made), then let the calls in flight finish.
 */

export interface Measured {
  /** Calls that succeeded (2xx for HTTP); only their latencies are counted. */
  ok: number
  /** Calls that failed: non-2xx answers, socket errors, timeouts. */
  failed: number
  /** Why the first failed call failed. */
  firstFailure?: string
  /** From the first call sent to the last one answered. */
  seconds: number
  perSecond: number
  p50Ms: number
  p99Ms: number
  /** The successful calls' latencies, ascending. */
  latenciesMs: number[]
}

export interface LoadOptions {
  connections: number
  seconds: number
  /** At most this many calls in all, e.g. one per room there is to delete. */
  limit?: number
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] as number
}

function summarize (latencies: number[], failed: number, elapsedMs: number, firstFailure: string | undefined): Measured {
  latencies.sort((a, b) => a - b)
  const seconds = elapsedMs / 1000
  return {
    ok: latencies.length,
    failed,
    firstFailure,
    seconds,
    perSecond: seconds > 0 ? latencies.length / seconds : 0,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    latenciesMs: latencies
  }
}

/** Measurements of one load taken in parts (slices), as one: their calls, their time and their latencies together. */
export function combined (parts: readonly Measured[]): Measured {
  const latencies = parts.flatMap((part) => part.latenciesMs)
  const failed = parts.reduce((sum, part) => sum + part.failed, 0)
  const elapsedMs = parts.reduce((sum, part) => sum + part.seconds * 1000, 0)
  return summarize(latencies, failed, elapsedMs, parts.find((part) => part.firstFailure !== undefined)?.firstFailure)
}

/** `call(i)` from `connections` loops at once, each starting its next call when its last one ended. */
export async function measureCalls (call: (i: number) => Promise<unknown>, { connections, seconds, limit = Number.POSITIVE_INFINITY }: LoadOptions): Promise<Measured> {
  const latencies: number[] = []
  let failed = 0
  let firstFailure: string | undefined
  let next = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  async function loop (): Promise<void> {
    while (performance.now() < deadline && next < limit) {
      const i = next++
      const sent = performance.now()
      try {
        await call(i)
        latencies.push(performance.now() - sent)
      } catch (err) {
        failed++
        firstFailure ??= (err as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, loop))
  return summarize(latencies, failed, performance.now() - started, firstFailure)
}

export interface HttpLoad extends LoadOptions {
  /** One or more origins (replicas): autocannon gives each connection the next one in turn. */
  urls: string[]
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  headers: Record<string, string>
  body?: string
  /** What the i-th request has instead of `path` and `headers` (e.g. another user, another room). */
  each?: (i: number) => { path?: string, headers?: Record<string, string> }
}

/** Requests to the service with autocannon; latencies from its per-response times (µs resolution, not its 1 ms histogram). */
export async function measureHttp (load: HttpLoad): Promise<Measured> {
  const latencies: number[] = []
  let failed = 0
  let firstFailure: string | undefined
  let sent = 0
  const each = load.each
  const started = performance.now()
  let lastAnswer = started
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon({
      // autocannon takes an array of URLs (its README); @types/autocannon only knows a string.
      url: load.urls as unknown as string,
      connections: load.connections,
      duration: load.seconds,
      amount: Number.isFinite(load.limit) ? load.limit : undefined,
      headers: load.headers,
      requests: [{
        method: load.method,
        path: load.path,
        body: load.body,
        ...(each === undefined
          ? {}
          : {
              setupRequest: (request) => {
                const { path, headers } = each(sent++)
                return { ...request, path: path ?? request.path, headers: { ...request.headers, ...headers } }
              }
            })
      }]
    }, (err: unknown) => {
      if (err === null || err === undefined) resolve()
      else reject(err instanceof Error ? err : new Error(String(err)))
    })
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      lastAnswer = performance.now()
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
      else {
        failed++
        firstFailure ??= `HTTP ${statusCode}`
      }
    })
    instance.on('reqError', (err: Error) => {
      failed++
      firstFailure ??= err.message
    })
  })
  return summarize(latencies, failed, lastAnswer - started, firstFailure)
}
