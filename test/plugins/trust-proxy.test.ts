import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { trustProxyOf } from '#http/server-options.js'
import { build } from '../helper.js'

/** The client address the request log shows for a request that came through a proxy at 127.0.0.1. */
async function loggedAddress (t: Test, trustProxy: string): Promise<unknown> {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const app = await build(t, { TRUST_PROXY: trustProxy, LOG_LEVEL: 'info' }, stream)
  await app.inject({ method: 'GET', url: '/api/v1/voice-sessions/active', headers: { 'x-forwarded-for': '203.0.113.7' }, remoteAddress: '127.0.0.1' })
  const incoming = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'incoming request')
  return incoming?.req?.remoteAddress
}

t.test('TRUST_PROXY: the forms Fastify\'s trustProxy takes', async (t) => {
  t.equal(trustProxyOf(''), false)
  t.equal(trustProxyOf('false'), false)
  t.equal(trustProxyOf('true'), true)
  const twoHops = trustProxyOf('2') as (address: string, hop: number) => boolean
  t.same([twoHops('10.0.0.1', 0), twoHops('10.0.0.2', 1), twoHops('203.0.113.7', 2)], [true, true, false], 'a hop count trusts the nearest hops')
  t.same(trustProxyOf('10.0.0.0/8, 127.0.0.1'), ['10.0.0.0/8', '127.0.0.1'])
})

t.test('behind a trusted proxy the log shows the client\'s address; otherwise the proxy\'s', async (t) => {
  t.equal(await loggedAddress(t, ''), '127.0.0.1', 'no proxy trusted: X-Forwarded-For is ignored')
  t.equal(await loggedAddress(t, 'true'), '203.0.113.7')
  t.equal(await loggedAddress(t, '1'), '203.0.113.7', 'one hop')
  t.equal(await loggedAddress(t, '127.0.0.0/8'), '203.0.113.7', 'a trusted CIDR')
  t.equal(await loggedAddress(t, '10.0.0.0/8'), '127.0.0.1', 'a proxy outside the trusted CIDR')
})
