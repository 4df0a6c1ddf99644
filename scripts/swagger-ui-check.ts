import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { chromium } from 'playwright-core'
import app from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { serverOptions } from '../src/server-options.js'

/**
 * Opens Swagger UI (/api/docs) in a real headless Chromium (Debian's `chromium` package) with the
 * service's security headers on, waits for the operations to render, reports any console error
 * (a CSP violation shows there) and saves a screenshot to tmp/swagger-ui.png.
 * Usage: npx tsx scripts/swagger-ui-check.ts
 */
const config = loadConfig({
  env: false,
  dotenv: false,
  data: { LIVEKIT_URL: 'ws://127.0.0.1:1', LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's', JWT_SECRET: 'a-secret-for-looking-at-the-docs-page-only', LOG_LEVEL: 'warn' }
})
const server = Fastify(serverOptions(config))
await server.register(fp(app), { config })
const address = await server.listen({ host: '127.0.0.1', port: 0 })
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
})
const problems: string[] = []
try {
  const page = await browser.newPage()
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()) })
  page.on('pageerror', (error) => { problems.push(error.message) })
  await page.goto(`${address}/api/docs/`)
  await page.waitForSelector('.opblock-summary-path', { timeout: 15_000 })
  const operations = await page.locator('.opblock-summary-path').count()
  const out = join(import.meta.dirname, '..', 'tmp')
  mkdirSync(out, { recursive: true })
  await page.screenshot({ path: join(out, 'swagger-ui.png'), fullPage: false })
  console.log(`Swagger UI rendered ${operations} operations; console errors: ${problems.length === 0 ? 'none' : problems.join(' | ')}`)
} finally {
  await browser.close()
  await server.close()
}
process.exit(problems.length === 0 ? 0 : 1)
