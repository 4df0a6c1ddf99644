import { createSocket, type Socket } from 'node:dgram'
import { createServer, type Server } from 'node:net'
import t, { type Test } from 'tap'
import { freePort, livekitServerBin } from '../../scripts/livekit-server.js'
import { portProblems, type PortNeed } from '../../scripts/port-check.js'
import { pollUntil } from '../clients.js'
import { runScript, scriptEnv, startScript, type RunningScript } from './run-script.js'

/** `npm run dev` (scripts/dev.ts) on ports of its own, as a developer starts it. */

interface DevPorts { PORT: number, LIVEKIT_PORT: number, LIVEKIT_RTC_TCP_PORT: number, LIVEKIT_RTC_UDP_PORT: number, AGENT_HEALTH_PORT: number }

/** Five distinct ports, each free now for what will bind it (TCP or UDP: a client's UDP socket can hold a port free for TCP). */
async function devPorts (): Promise<DevPorts> {
  for (let attempt = 1; ; attempt++) {
    const ports = {
      PORT: await freePort(),
      LIVEKIT_PORT: await freePort(),
      LIVEKIT_RTC_TCP_PORT: await freePort(),
      LIVEKIT_RTC_UDP_PORT: await freePort(),
      AGENT_HEALTH_PORT: await freePort()
    }
    const distinct = new Set(Object.values(ports)).size === Object.keys(ports).length
    if (distinct && (await portProblems(needs(ports))).length === 0) return ports
    if (attempt >= 10) throw new Error(`no five free ports in ${attempt} tries`)
  }
}

function devEnv (ports: DevPorts, values: Record<string, string> = {}): NodeJS.ProcessEnv {
  return scriptEnv({
    ...Object.fromEntries(Object.entries(ports).map(([key, port]) => [key, String(port)])),
    HOST: '127.0.0.1',
    LIVEKIT_SERVER_BIN: livekitServerBin,
    LIVEKIT_WORKER_NUM_IDLE: '1',
    ...values
  })
}

const DEV = ['--import', 'tsx', 'scripts/dev.ts']

/** Everything dev listens on, as it checks them. */
function needs (ports: DevPorts): PortNeed[] {
  return [
    { port: ports.LIVEKIT_PORT, protocol: 'tcp', host: '127.0.0.1', what: 'LiveKit', key: 'LIVEKIT_PORT' },
    { port: ports.LIVEKIT_RTC_TCP_PORT, protocol: 'tcp', host: '0.0.0.0', what: 'LiveKit media over TCP', key: 'LIVEKIT_RTC_TCP_PORT' },
    { port: ports.LIVEKIT_RTC_UDP_PORT, protocol: 'udp', host: '0.0.0.0', what: 'LiveKit media over UDP', key: 'LIVEKIT_RTC_UDP_PORT' },
    { port: ports.PORT, protocol: 'tcp', host: '127.0.0.1', what: 'the service', key: 'PORT' },
    { port: ports.AGENT_HEALTH_PORT, protocol: 'tcp', host: '127.0.0.1', what: 'the agent worker\'s health endpoint', key: 'AGENT_HEALTH_PORT' }
  ]
}

/** Holds a TCP port on loopback until the test ends, as another program would. */
async function holdTcp (t: Test, port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return server
}

async function holdUdp (t: Test, port: number): Promise<Socket> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(port, '0.0.0.0', resolve))
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  return socket
}

t.test('a port that is taken: exit 1 before anything starts, with one line naming it', async (t) => {
  const [one, several] = [await devPorts(), await devPorts()]
  await holdTcp(t, one.PORT)
  await holdTcp(t, several.LIVEKIT_PORT)
  await holdUdp(t, several.LIVEKIT_RTC_UDP_PORT)
  await holdTcp(t, several.AGENT_HEALTH_PORT)
  const [alone, many] = await Promise.all([
    runScript(t, process.execPath, DEV, { env: devEnv(one) }),
    runScript(t, process.execPath, DEV, { env: devEnv(several) })
  ])
  t.equal(alone.code, 1)
  t.equal(alone.stdout, '')
  t.equal(alone.stderr, `npm run dev: port ${one.PORT}/tcp (the service, PORT) is already in use; stop what holds it (another npm run dev?) or set PORT to a free port\n`)
  t.equal(many.code, 1)
  t.equal(many.stdout, '')
  t.equal(many.stderr.split('\n').length, 2, 'one line')
  t.match(many.stderr, `ports ${several.LIVEKIT_PORT}/tcp (LiveKit, LIVEKIT_PORT), ${several.LIVEKIT_RTC_UDP_PORT}/udp (LiveKit media over UDP, LIVEKIT_RTC_UDP_PORT) and ${several.AGENT_HEALTH_PORT}/tcp (the agent worker's health endpoint, AGENT_HEALTH_PORT) are already in use`)
  // Nothing was started on the ports that were free.
  t.same(await portProblems(needs(one).filter((need) => need.key !== 'PORT')), [])
})

t.test('the same port for two things is refused', async (t) => {
  const ports = await devPorts()
  const run = await runScript(t, process.execPath, DEV, { env: devEnv({ ...ports, AGENT_HEALTH_PORT: ports.PORT }) })
  t.equal(run.code, 1)
  t.equal(run.stderr, `npm run dev: PORT and AGENT_HEALTH_PORT are both ${ports.PORT}; give each its own port\n`)
})

/** The lines of dev's stdout that are commands to paste, by what they begin with. */
function commandLines (stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^(export TOKEN=|ROOM=|BOB=|curl |npm run dev:client |sleep )/.test(line))
}

/** Runs shell lines in bash, as pasted one after another; returns what each printed. */
async function paste (t: Test, lines: string[], env: NodeJS.ProcessEnv): Promise<string[]> {
  const script = lines.map((line, i) => `echo "@@@ ${i}"\n${line}`).join('\n')
  const run = await runScript(t, 'bash', ['-c', script], { env })
  t.equal(run.code, 0, `the pasted lines ran: ${run.stderr}`)
  return run.stdout.split(/^@@@ \d+\n/m).slice(1).map((output) => output.trimEnd())
}

/**
 * `npm run dev` on free ports, once it says it is ready. Tests run side by side, so a port free a
 * moment ago can be taken before dev binds it: dev then exits 1 naming it, and is started again on
 * other ports, at most 3 times.
 */
async function startDev (t: Test): Promise<{ ports: DevPorts, env: NodeJS.ProcessEnv, dev: RunningScript }> {
  for (let attempt = 1; ; attempt++) {
    const ports = await devPorts()
    const env = devEnv(ports)
    const dev = startScript(t, process.execPath, DEV, { env, name: 'npm run dev' })
    try {
      await dev.child.waitForOutput(/npm run dev is ready/, 100_000)
      return { ports, env, dev }
    } catch (err) {
      if (attempt >= 3 || !/already in use/.test(dev.child.output())) throw err
    }
  }
}

t.test('starts all three; its lines work as pasted; a second dev is refused; Ctrl-C stops everything', async (t) => {
  const { ports, env, dev } = await startDev(t)

  const second = await runScript(t, process.execPath, DEV, { env })
  t.equal(second.code, 1, 'a second dev on the same ports exits 1')
  t.equal(second.stderr.split('\n').length, 2, 'with one line')
  for (const key of ['LIVEKIT_PORT', 'LIVEKIT_RTC_TCP_PORT', 'LIVEKIT_RTC_UDP_PORT', 'PORT', 'AGENT_HEALTH_PORT'] as const) {
    t.match(second.stderr, `${ports[key]}/`, `naming ${key}`)
  }
  t.equal((await fetch(`http://127.0.0.1:${ports.PORT}/ready`)).status, 200, 'the first one still serves')

  const lines = commandLines(dev.stdout())
  t.equal(lines.length, 11, 'every command line is there')
  const [exportToken, startRoom, status, client, sleepStatus, active, refresh, bobToken, bobStatus, end, livekitToken] = lines
  t.match(client, 'npm run dev:client -- --room "$ROOM"')
  t.match(sleepStatus, /^sleep 5; curl /)

  const [, room, firstStatus] = await paste(t, [exportToken!, startRoom!, status!], env)
  t.match(room, /^fitness-voice-dev-user-[0-9a-f]{8}$/, 'ROOM is set from the start response')
  t.match(JSON.parse(firstStatus!), { room_name: room, participants: 0 })

  // A person joins: the dev client, with its defaults (the dev service, the dev user).
  const person = startScript(t, process.execPath, ['--import', 'tsx', 'scripts/dev-client.ts', '--room', room!], { env, name: 'dev client' })
  await person.child.waitForOutput(/^joined /m, 30_000)
  const withRoom = { ...env, ROOM: room! }
  // The session is fresh in the index, so only LiveKit's webhook can tell the service within these 3 s (the reconcile runs every 30 s).
  const seen = await pollUntil(async () => JSON.parse((await paste(t, [exportToken!, status!], withRoom))[1]!), (body) => body.participants === 1, { tries: 30, intervalMs: 100 })
  t.match(seen, { room_name: room, participants: 1 }, 'participants turns 1: the dev LiveKit sends its webhooks to the dev service')

  const [, activeOut, refreshOut, , bobOut, endOut, livekitOut] = await paste(t, [exportToken!, active!, refresh!, bobToken!, bobStatus!, end!, livekitToken!], withRoom)
  t.match(JSON.parse(activeOut!), { sessions: [{ room_name: room }] })
  t.match(JSON.parse(refreshOut!), { room_name: room, token: String })
  t.match(JSON.parse(bobOut!), { statusCode: 403, message: 'Not your session' }, 'bob, with npm run token\'s JWT, is refused')
  t.same(JSON.parse(endOut!), { status: 'ended', room_name: room })
  t.match(JSON.parse(livekitOut!), { server_url: `ws://127.0.0.1:${ports.LIVEKIT_PORT}`, participant_token: String })
  t.equal(await person.child.exited, 0, 'the person leaves when the session ends')
  t.match(person.stdout(), /LiveKit disconnected it: ROOM_DELETED/)

  const output = dev.stdout() + dev.child.output()
  t.notOk(output.split('\n').some((line) => line.startsWith('{')), 'no raw JSON log lines')
  t.notOk(output.split('\n').some((line) => line.length > 1000), 'no line over 1,000 characters')

  dev.child.signal('SIGINT')
  t.equal(await dev.child.exited, 0, 'Ctrl-C: exit 0')
  t.same(await portProblems(needs(ports)), [], 'and nothing it started is left listening')
})

t.test('a service that fails to start is not taken for ready: exit 1, and nothing is left running', async (t) => {
  const ports = await devPorts()
  // A value the service refuses at start; dev passes the environment on.
  const run = await runScript(t, process.execPath, DEV, { env: devEnv(ports, { LIVEKIT_REQUEST_TIMEOUT_MS: '1' }) })
  t.equal(run.code, 1)
  t.notMatch(run.stdout, 'is ready')
  t.match(run.stderr, 'Invalid configuration: LIVEKIT_REQUEST_TIMEOUT_MS', 'the service\'s own complaint is shown')
  t.match(run.stderr, /^npm run dev: the service did not start \(its output is above\)$/m)
  t.same(await portProblems(needs(ports)), [], 'LiveKit and the worker were stopped')
})
