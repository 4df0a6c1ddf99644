import t from 'tap'
import { build } from '../helper.js'
import { loadtest, SECRET } from './loadtest-runner.js'

/** `npm run loadtest` refusing to run: bad arguments (exit 2), and a service it cannot load (exit 1), before any load. */

// Only the JWT check is reached: no LiveKit call is made.
const app = await build(t, { JWT_SECRET: SECRET })
const serviceUrl = await app.listen({ host: '127.0.0.1', port: 0 })

t.test('refused before any load: the service does not take its JWTs, or cannot be reached; exit 1, nothing on stdout', async (t) => {
  const [wrongSecret, nobody] = await Promise.all([
    loadtest(t, ['--url', serviceUrl, '--duration', '3', '--users', '1'], { JWT_SECRET: 'another-secret-of-at-least-32-bytes-long' }),
    loadtest(t, ['--url', 'http://127.0.0.1:1', '--duration', '3', '--users', '1'])
  ])
  t.equal(wrongSecret.code, 1)
  t.match(wrongSecret.stderr, /refused the script's user JWT \(401.*JWT_SECRET/)
  t.equal(wrongSecret.stdout, '')
  t.equal(nobody.code, 1)
  t.match(nobody.stderr, /cannot reach http:\/\/127\.0\.0\.1:1\/.*ECONNREFUSED/)
  t.equal(nobody.stdout, '')
})

t.test('bad arguments: exit 2, a message naming the problem and the usage, nothing on stdout', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /--url is required/],
    [['--url', 'ftp://127.0.0.1'], /--url must be an http:\/\/ or https:\/\/ URL/],
    [['--url', 'not a url'], /--url must be an http:\/\/ or https:\/\/ URL/],
    [['--url', 'http://127.0.0.1:3000/?x=1'], /without credentials, query or fragment/],
    [['--url', serviceUrl, '--users', '0'], /--users must be a whole number from 1 to 10000/],
    [['--url', serviceUrl, '--duration', '1.5'], /--duration must be a whole number/],
    [['--url', serviceUrl, '--session-seconds', '2'], /--session-seconds must be a whole number from 3 to 240/],
    [['--url', serviceUrl, '--max-p99-ms=-1'], /--max-p99-ms must be a number of milliseconds, 0 or more/],
    [['--url', serviceUrl, '--max-p99-ms', 'fast'], /--max-p99-ms must be a number of milliseconds, 0 or more/],
    [['--url', serviceUrl, '--rate', '5'], /--rate/],
    [['--url', serviceUrl, 'extra'], /extra/]
  ]
  const runs = await Promise.all(cases.map(async ([args]) => await loadtest(t, args)))
  for (const [i, [args, reason]] of cases.entries()) {
    const run = runs[i]!
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`)
    t.match(run.stderr, reason, `${args.join(' ')}: says why`)
    t.match(run.stderr, /usage: npm run loadtest -- --url/)
    t.equal(run.stdout, '')
  }
  const shortSecret = await loadtest(t, ['--url', serviceUrl], { JWT_SECRET: 'too-short' })
  t.equal(shortSecret.code, 2)
  t.match(shortSecret.stderr, /JWT_SECRET/)
})
