import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { chromium } from 'playwright-core'
import app from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { serverOptions } from '#http/server-options.js'

/** Debian's `chromium` package, or the browser CHROMIUM names; undefined when there is none. */
export function findChromium (): string | undefined {
  const path = process.env.CHROMIUM ?? '/usr/bin/chromium'
  return existsSync(path) ? path : undefined
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

export interface SwaggerUiSeen {
  /** Operations Swagger UI rendered. */
  operations: number
  /** What the page's Content-Security-Policy blocked, as the page itself heard it (`securitypolicyviolation`). */
  cspViolations: string[]
  /** Console errors and uncaught page errors (Chromium logs CSP violations here too). */
  errors: string[]
  /** The status Swagger UI showed after "Try it out" and "Execute" on GET /health: the page calls the API. */
  triedHealth?: string
}

/** Chromium's word that a header meant for https (Cross-Origin-Opener-Policy) does not apply over http: no fault of the page. */
const HTTPS_ONLY_HEADER_IGNORED = /header has been ignored, because the URL's origin was untrustworthy/

/**
 * Opens Swagger UI at `${origin}/api/docs/` in a real headless Chromium, waits for its operations
 * to render and reports what went wrong on the way; saves a screenshot when asked to.
 */
export async function checkSwaggerUi (origin: string, { screenshot, timeoutMs = 15_000 }: { screenshot?: string, timeoutMs?: number } = {}): Promise<SwaggerUiSeen> {
  const executablePath = findChromium()
  if (executablePath === undefined) throw new Error('no Chromium: apt-get install -y chromium, or set CHROMIUM')
  // Playwright gives Chromium a fresh --user-data-dir of its own (mkdtemp) and removes it afterwards.
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: timeoutMs })
  const seen: SwaggerUiSeen = { operations: 0, cspViolations: [], errors: [] }
  try {
    const page = await browser.newPage()
    page.on('console', (message) => {
      if (message.type() === 'error' && !HTTPS_ONLY_HEADER_IGNORED.test(message.text())) seen.errors.push(message.text())
    })
    page.on('pageerror', (error) => { seen.errors.push(error.message) })
    await page.exposeFunction('reportCspViolation', (violation: string) => { seen.cspViolations.push(violation) })
    await page.addInitScript({
      content: 'document.addEventListener("securitypolicyviolation", (e) => { window.reportCspViolation(e.effectiveDirective + " blocked " + (e.blockedURI || "inline")) })'
    })
    await page.goto(`${origin}/api/docs/`, { timeout: timeoutMs })
    try {
      await page.waitForSelector('.opblock-summary-path', { timeout: timeoutMs })
    } catch {
      // Nothing rendered: what was seen says why.
    }
    seen.operations = await page.locator('.opblock-summary-path').count()
    if (seen.operations > 0) {
      const health = page.locator('#operations-operations-getHealth')
      await health.locator('.opblock-summary').click({ timeout: timeoutMs })
      await health.getByRole('button', { name: 'Try it out' }).click({ timeout: timeoutMs })
      await health.getByRole('button', { name: 'Execute' }).click({ timeout: timeoutMs })
      seen.triedHealth = (await health.locator('.live-responses-table tr.response .response-col_status').first().textContent({ timeout: timeoutMs }))?.trim()
    }
    if (screenshot !== undefined) await page.screenshot({ path: screenshot, fullPage: true })
  } finally {
    await browser.close()
  }
  return seen
}

/**
 * Usage: npx tsx scripts/swagger-ui-check.ts [host]
 * Starts the service on `host` (default 127.0.0.1; LiveKit need not run), opens its Swagger UI with
 * the service's security headers on, prints what was seen and saves tmp/swagger-ui.png. Exits 1
 * when nothing rendered or the page logged an error or a CSP violation.
 */
if (import.meta.filename === process.argv[1]) {
  const host = process.argv[2] ?? '127.0.0.1'
  const config = loadConfig({
    env: false,
    dotenv: false,
    data: { LIVEKIT_URL: 'ws://127.0.0.1:1', LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's', JWT_SECRET: 'a-secret-for-looking-at-the-docs-page-only', LOG_LEVEL: 'silent' }
  })
  const server = Fastify(serverOptions(config))
  await server.register(fp(app), { config })
  const address = await server.listen({ host, port: 0 })
  const out = join(import.meta.dirname, '..', 'tmp')
  mkdirSync(out, { recursive: true })
  let seen: SwaggerUiSeen
  try {
    seen = await checkSwaggerUi(address, { screenshot: join(out, 'swagger-ui.png') })
  } finally {
    await server.close()
  }
  const list = (items: string[]) => items.length === 0 ? 'none' : items.join(' | ')
  console.log(`${address}/api/docs/: ${seen.operations} operations rendered; GET /health tried: ${seen.triedHealth ?? 'no'}; ` +
    `CSP violations: ${list(seen.cspViolations)}; console errors: ${list(seen.errors)}; screenshot tmp/swagger-ui.png`)
  process.exit(seen.operations > 0 && seen.triedHealth === '200' && seen.cspViolations.length === 0 && seen.errors.length === 0 ? 0 : 1)
}
