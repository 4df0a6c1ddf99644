import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { LIVEKIT_VERSION } from '../../scripts/livekit-server.js'
import { composeProblems, WEBHOOK_PATH } from './compose-check.js'

/**
 * compose.yaml, the whole stack on a laptop: checked against the repository (compose-check.ts),
 * shown to be refused when one thing in it is wrong, and given to the compose tools that are
 * installed here (each skipped, saying so, when it is not).
 */

const root = join(import.meta.dirname, '..', '..')
const composeFile = join(root, 'compose.yaml')
const repository = { containerfile: readFileSync(join(root, 'Containerfile'), 'utf8'), livekitVersion: LIVEKIT_VERSION }

type Doc = Record<string, any>
const compose = (): Doc => parse(readFileSync(composeFile, 'utf8'))

t.test('compose.yaml fits the Containerfile, src/config.ts, agent/config.ts and the LiveKit release of the tests', async (t) => {
  t.same(composeProblems(compose(), repository), [])
})

function changeLivekitConfig (doc: Doc, change: (config: Doc) => void): void {
  const environment = doc.services.livekit.environment
  const config = parse(environment.LIVEKIT_CONFIG)
  change(config)
  environment.LIVEKIT_CONFIG = stringify(config)
}

const broken: Array<[string, (doc: Doc) => void, RegExp]> = [
  ['LiveKit creating rooms on join', (doc) => changeLivekitConfig(doc, (config) => { config.room.auto_create = true }), /room\.auto_create: false/],
  ['webhooks to another port', (doc) => changeLivekitConfig(doc, (config) => { config.webhook.urls = [`http://127.0.0.1:3001${WEBHOOK_PATH}`] }), /webhook URL http:\/\/127\.0\.0\.1:3001/],
  ['webhooks to another path', (doc) => changeLivekitConfig(doc, (config) => { config.webhook.urls = ['http://127.0.0.1:3000/webhook'] }), /webhook URL .*\/webhook is not/],
  ['webhooks to a host the service is not', (doc) => changeLivekitConfig(doc, (config) => { config.webhook.urls = [`http://service:3000${WEBHOOK_PATH}`] }), /webhook URL http:\/\/service:3000/],
  ['webhooks signed with a key LiveKit does not have', (doc) => changeLivekitConfig(doc, (config) => { config.webhook.api_key = 'otherkey' }), /webhook\.api_key \(otherkey\)/],
  ['a service key src/config.ts does not know', (doc) => { doc.services.service.environment.LIVEKIT_HOST = 'ws://localhost:7880' }, /service's LIVEKIT_HOST is no key of src\/config\.ts/],
  ['a JWT secret under 32 bytes', (doc) => { doc.services.service.environment.JWT_SECRET = 'dev-secret' }, /service's environment does not load: .*JWT_SECRET/],
  ['a LiveKit secret that is not LiveKit\'s', (doc) => { doc.services.service.environment.LIVEKIT_API_SECRET = 'another-secret-of-more-than-32-characters' }, /service's LIVEKIT_API_KEY and LIVEKIT_API_SECRET/],
  ['the service on a port nothing points at', (doc) => { doc.services.service.environment.PORT = '3001' }, /port 3001 is not published/],
  ['LIVEKIT_URL on another port', (doc) => { doc.services.service.environment.LIVEKIT_URL = 'ws://localhost:7890' }, /service's LIVEKIT_URL ws:\/\/localhost:7890/],
  ['REDIS_URL elsewhere', (doc) => { doc.services.service.environment.REDIS_URL = 'redis://localhost:6379' }, /REDIS_URL redis:\/\/localhost:6379/],
  ['an agent key agent/config.ts does not know', (doc) => { doc.services.agent.environment.REDIS_URL = 'redis://redis:6379' }, /agent's REDIS_URL is no key of agent\/config\.ts/],
  ['a worker of another name', (doc) => { doc.services.agent.environment.LIVEKIT_AGENT_NAME = 'coach-agent' }, /the worker registers as "coach-agent"/],
  ['the service started before Redis is healthy', (doc) => { delete doc.services.service.depends_on.redis }, /service does not wait for redis/],
  ['Redis without a healthcheck', (doc) => { delete doc.services.redis.healthcheck }, /redis has no healthcheck/],
  ['the service built from the agent target', (doc) => { doc.services.service.build.target = 'agent' }, /service is not built from the Containerfile's "service" target/],
  ['another LiveKit release', (doc) => { doc.services.livekit.image = 'docker.io/livekit/livekit-server:latest' }, /not docker\.io\/livekit\/livekit-server:v/],
  ['LiveKit\'s UDP media port not published', (doc) => { doc.services.livekit.ports = doc.services.livekit.ports.filter((port: string) => !port.endsWith('/udp')) }, /livekit does not publish 7882:7882\/udp/],
  ['no agent worker', (doc) => { delete doc.services.agent }, /no "agent" service/]
]

for (const [what, change, expected] of broken) {
  t.test(`refused: ${what}`, async (t) => {
    const doc = compose()
    change(doc)
    t.match(composeProblems(doc, repository).join('\n'), expected)
  })
}

t.test('refused: a Containerfile whose default build is not the service', async (t) => {
  const containerfile = `${repository.containerfile}\nFROM \${BASE_IMAGE} AS debug\n`
  t.match(composeProblems(compose(), { ...repository, containerfile }).join('\n'), /last stage .* is "debug", not "service"/)
})

/** Runs a compose tool's `config` on compose.yaml; undefined when the tool is not installed here. */
function composeConfig (command: string, args: string[]): { status: number | null, output: string } | undefined {
  const run = spawnSync(command, [...args, '-f', composeFile, 'config'], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

// The pinned one scripts/container-ci.sh installs (CI runs it before the tests), else the PATH's.
const pinnedPodmanCompose = join(root, '.cache', 'podman-compose-1.6.0', 'bin', 'podman-compose')
const podmanCompose = composeConfig(existsSync(pinnedPodmanCompose) ? pinnedPodmanCompose : 'podman-compose', [])
// Debian 12's podman-compose (1.0.3) has no `config` command (and cannot run a network_mode).
const podmanComposeSkip = podmanCompose === undefined
  ? 'podman-compose is not installed'
  : /invalid choice: 'config'/.test(podmanCompose.output) ? 'this podman-compose has no config command (Debian 12\'s 1.0.3; pip install podman-compose has one)' : false
t.test('podman-compose config reads compose.yaml', { skip: podmanComposeSkip }, async (t) => {
  t.equal(podmanCompose?.status, 0, 'podman-compose config exits 0')
  if (podmanCompose?.status !== 0) t.comment(podmanCompose?.output)
  for (const name of ['livekit', 'redis', 'service', 'agent']) t.match(podmanCompose?.output, new RegExp(`^  ${name}:$`, 'm'))
})

// docker-compose (v1, Debian's package) and the docker compose plugin check the file against the
// Compose specification's schema; neither needs a Docker engine for `config`.
const dockerComposeV1 = composeConfig('docker-compose', [])
t.test('docker-compose config validates compose.yaml', { skip: dockerComposeV1 === undefined && 'docker-compose is not installed' }, async (t) => {
  t.equal(dockerComposeV1?.status, 0, 'docker-compose config exits 0')
  if (dockerComposeV1?.status !== 0) t.comment(dockerComposeV1?.output)
})
const dockerComposePlugin = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 30_000 }).status === 0
  ? composeConfig('docker', ['compose'])
  : undefined
t.test('docker compose config validates compose.yaml', { skip: dockerComposePlugin === undefined && 'the docker compose plugin is not installed' }, async (t) => {
  t.equal(dockerComposePlugin?.status, 0, 'docker compose config exits 0')
  if (dockerComposePlugin?.status !== 0) t.comment(dockerComposePlugin?.output)
})
