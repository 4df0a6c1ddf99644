import { networkInterfaces } from 'node:os'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import { checkSwaggerUi, findChromium } from '../../scripts/swagger-ui-check.js'
import app from '../../src/app.js'
import { serverOptions } from '#http/server-options.js'
import { build, testConfig } from '../helper.js'

/** Swagger UI in a real headless Chromium under the service's security headers (plugins/external/helmet.ts). */

const noChromium = findChromium() === undefined
  ? `no Chromium at ${process.env.CHROMIUM ?? '/usr/bin/chromium'} (apt-get install -y chromium, or set CHROMIUM): the browser check of Swagger UI is skipped`
  : false

/** A non-loopback IPv4 address of this machine: a browser trusts loopback as it trusts https, and applies the open network's rules elsewhere. */
function networkAddress (): string | undefined {
  return Object.values(networkInterfaces()).flat().find((address) => address?.family === 'IPv4' && !address.internal)?.address
}

t.test('Swagger UI renders and calls the API under the service\'s headers, over http on loopback and on the network', { skip: noChromium, timeout: 30_000 }, async (t) => {
  const service = await build(t)
  const { port } = new URL(await service.listen({ host: '0.0.0.0', port: 0 }))
  const operations = Object.values((await service.inject({ method: 'GET', url: '/api/docs/json' })).json().paths as Record<string, object>)
    .reduce((sum, methods) => sum + Object.keys(methods).length, 0)
  const network = networkAddress()
  if (network === undefined) t.comment('no non-loopback IPv4 address: only loopback is checked')
  for (const host of ['127.0.0.1', network].filter((host) => host !== undefined)) {
    const seen = await checkSwaggerUi(`http://${host}:${port}`, { timeoutMs: 10_000 })
    t.equal(seen.operations, operations, `${host}: every operation rendered`)
    t.equal(seen.triedHealth, '200', `${host}: "Try it out" on GET /health shows 200`)
    t.same(seen.cspViolations, [], `${host}: nothing blocked by the CSP`)
    t.same(seen.errors, [], `${host}: no console error`)
  }
})

t.test('the check sees what a CSP blocks: with only `default-src \'self\'`, Swagger UI\'s inline styles and data: images', { skip: noChromium, timeout: 30_000 }, async (t) => {
  const config = testConfig()
  const strict = Fastify(serverOptions(config))
  strict.addHook('onSend', async (_request, reply) => { reply.header('content-security-policy', 'default-src \'self\'') })
  await strict.register(fp(app), { config })
  t.teardown(() => strict.close())
  const seen = await checkSwaggerUi(await strict.listen({ host: '127.0.0.1', port: 0 }), { timeoutMs: 10_000 })
  t.ok(seen.cspViolations.some((violation) => violation.startsWith('style-src')), 'inline styles blocked')
  t.ok(seen.cspViolations.some((violation) => violation === 'img-src blocked data'), 'data: images blocked')
})
