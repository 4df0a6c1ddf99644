import { parse } from 'yaml'
import { AgentConfigSchema, loadAgentConfig } from '../../agent/config.js'
import { ConfigSchema, loadConfig, SECRET_FILE_KEYS } from '../../src/config.js'

/**
 * What compose.yaml must get right for `docker compose up` to give a working stack, checked
 * against this repository (the Containerfile, the config schemas, the LiveKit version the tests
 * run) rather than against itself. Returns one sentence per problem; none for a good file.
 */

export const WEBHOOK_PATH = '/api/v1/livekit/webhook'
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

type Doc = Record<string, any>

export interface Repository {
  /** The Containerfile's text. */
  containerfile: string
  /** The livekit-server release the project is built and tested against (LIVEKIT_VERSION). */
  livekitVersion: string
}

/** `${NAME:-default}` and `${NAME}` as compose resolves them with nothing set: the default, or ''. */
function interpolate (value: string): string {
  return value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}/g, (_all, fallback?: string) => fallback ?? '')
}

/** `environment:` as a map, from either of its compose forms (a map, or a list of KEY=value). */
export function environmentOf (service: Doc | undefined): Record<string, string> {
  const environment = service?.environment ?? {}
  if (Array.isArray(environment)) {
    return Object.fromEntries(environment.map((entry: string) => {
      const at = entry.indexOf('=')
      return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)]
    }))
  }
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, value === null ? '' : String(value)]))
}

/** `FROM image AS name` stages of a Containerfile, in order, and the default of each ARG. */
export function stagesOf (containerfile: string): { stages: string[], args: Record<string, string> } {
  const stages: string[] = []
  const args: Record<string, string> = {}
  for (const line of containerfile.split('\n')) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?\s*$/i.exec(line.trim())
    if (from !== null) stages.push(from[1] ?? '')
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/.exec(line.trim())
    if (arg !== null && stages.length === 0) args[arg[1]!] = arg[2]!
  }
  return { stages, args }
}

/** Published ports as `host:container/protocol` strings, from the short or the long syntax. */
function publishedPorts (service: Doc | undefined): Set<string> {
  const published = new Set<string>()
  for (const port of service?.ports ?? []) {
    if (typeof port === 'object' && port !== null) {
      published.add(`${port.published}:${port.target}/${port.protocol ?? 'tcp'}`)
      continue
    }
    const match = /^(?:[\d.]+:)?(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(String(port))
    if (match !== null) published.add(`${match[1]}:${match[2]}/${match[3] ?? 'tcp'}`)
  }
  return published
}

function parseUrl (url: string): URL | null {
  try {
    return new URL(url)
  } catch {
    return null
  }
}

function errorOf (run: () => unknown): string | undefined {
  try {
    run()
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

function healthTest (service: Doc | undefined): string {
  const test = service?.healthcheck?.test
  return Array.isArray(test) ? test.join(' ') : String(test ?? '')
}

export function composeProblems (doc: Doc, repository: Repository): string[] {
  const problems: string[] = []
  const services: Doc = doc?.services ?? {}
  for (const name of ['livekit', 'redis', 'service', 'agent']) {
    if (services[name] === undefined) problems.push(`there is no "${name}" service`)
  }
  for (const [name, service] of Object.entries(services)) {
    if (service?.image === undefined && service?.build === undefined) problems.push(`service "${name}" has neither image nor build`)
    const mode = service?.network_mode
    if (typeof mode === 'string' && mode.startsWith('service:') && services[mode.slice('service:'.length)] === undefined) {
      problems.push(`service "${name}" shares the network of a service that is not there (${mode})`)
    }
  }
  const { livekit, redis, service, agent } = services

  // Images: the LiveKit release the tests run, the official Redis, and the Containerfile's targets.
  const livekitImage = `docker.io/livekit/livekit-server:${repository.livekitVersion}`
  if (livekit?.image !== livekitImage) problems.push(`livekit's image is ${livekit?.image}, not ${livekitImage} (the release the tests run)`)
  if (!/^docker\.io\/library\/redis:[\w.-]+$/.test(String(redis?.image))) problems.push(`redis's image is ${redis?.image}, not the official docker.io/library/redis`)
  const { stages, args } = stagesOf(repository.containerfile)
  for (const [name, target] of [['service', 'service'], ['agent', 'agent']] as const) {
    const build = services[name]?.build
    if (build === undefined) continue
    if (build.context !== '.' || build.dockerfile !== 'Containerfile') problems.push(`${name} is not built from ./Containerfile`)
    if (build.target !== target || !stages.includes(target)) problems.push(`${name} is not built from the Containerfile's "${target}" target (its target: ${build.target}; stages: ${stages.join(', ')})`)
    const base = build.args?.BASE_IMAGE
    if (base !== undefined && interpolate(String(base)) !== args.BASE_IMAGE) {
      problems.push(`${name}'s BASE_IMAGE defaults to ${interpolate(String(base))}, the Containerfile's to ${args.BASE_IMAGE}`)
    }
  }
  if (stages.at(-1) !== 'service') problems.push(`the Containerfile's last stage (its default build) is "${stages.at(-1)}", not "service"`)

  // LiveKit's own config, from LIVEKIT_CONFIG.
  let config: Doc = {}
  try {
    config = parse(environmentOf(livekit).LIVEKIT_CONFIG ?? '') ?? {}
  } catch (err) {
    problems.push(`livekit's LIVEKIT_CONFIG is not YAML: ${(err as Error).message}`)
  }
  if (config.room?.auto_create !== false) problems.push('livekit\'s config does not set room.auto_create: false')
  const keys: Doc = config.keys ?? {}
  if (config.webhook?.api_key === undefined || !(config.webhook.api_key in keys)) problems.push(`livekit's webhook.api_key (${config.webhook?.api_key}) is not one of its keys`)
  const livekitPort = Number(config.port ?? 7880)

  // The service: every key one of src/config.ts, the whole set valid, LiveKit's key and secret.
  const serviceEnv = environmentOf(service)
  const configKeys = new Set([...Object.keys(ConfigSchema.properties), ...SECRET_FILE_KEYS.map((key) => `${key}_FILE`)])
  for (const key of Object.keys(serviceEnv)) {
    if (!configKeys.has(key)) problems.push(`the service's ${key} is no key of src/config.ts`)
  }
  const serviceConfigError = errorOf(() => loadConfig({ data: serviceEnv, env: false, dotenv: false }))
  if (serviceConfigError !== undefined) problems.push(`the service's environment does not load: ${serviceConfigError}`)
  const agentEnv = environmentOf(agent)
  for (const key of Object.keys(agentEnv)) {
    if (!(key in AgentConfigSchema.properties)) problems.push(`the agent's ${key} is no key of agent/config.ts`)
  }
  const agentConfigError = errorOf(() => loadAgentConfig({ data: agentEnv, env: false, dotenv: false }))
  if (agentConfigError !== undefined) problems.push(`the agent's environment does not load: ${agentConfigError}`)
  for (const [name, env] of [['service', serviceEnv], ['agent', agentEnv]] as const) {
    if (keys[env.LIVEKIT_API_KEY ?? ''] !== env.LIVEKIT_API_SECRET) problems.push(`the ${name}'s LIVEKIT_API_KEY and LIVEKIT_API_SECRET are not one of livekit's keys`)
  }
  if (serviceEnv.LIVEKIT_AGENT_NAME !== agentEnv.LIVEKIT_AGENT_NAME) {
    problems.push(`the service dispatches "${serviceEnv.LIVEKIT_AGENT_NAME}", the worker registers as "${agentEnv.LIVEKIT_AGENT_NAME}"`)
  }
  const servicePort = Number(serviceEnv.PORT ?? ConfigSchema.properties.PORT.default)

  // Addresses: from the service's network namespace (livekit's, when it shares it), and from the laptop.
  const sharesLivekit = (name: string) => services[name]?.network_mode === 'service:livekit'
  const serviceHostForLivekit = sharesLivekit('service') ? LOOPBACK : new Set(['service'])
  const urls: unknown[] = Array.isArray(config.webhook?.urls) ? config.webhook.urls : []
  if (urls.length === 0) problems.push('livekit sends no webhooks (webhook.urls)')
  for (const url of urls) {
    const parsed = parseUrl(String(url))
    if (parsed === null || !serviceHostForLivekit.has(parsed.hostname) || Number(parsed.port || 80) !== servicePort || parsed.pathname !== WEBHOOK_PATH) {
      problems.push(`livekit's webhook URL ${url} is not the service's ${WEBHOOK_PATH} on port ${servicePort} (seen from livekit: ${[...serviceHostForLivekit].join(' or ')})`)
    }
  }
  for (const [name, env] of [['service', serviceEnv], ['agent', agentEnv]] as const) {
    const parsed = parseUrl(env.LIVEKIT_URL ?? '')
    const hosts = sharesLivekit(name) ? LOOPBACK : new Set(['livekit'])
    if (parsed === null || !hosts.has(parsed.hostname) || Number(parsed.port) !== livekitPort) {
      problems.push(`the ${name}'s LIVEKIT_URL ${env.LIVEKIT_URL} does not reach livekit on port ${livekitPort}`)
    }
  }
  const redisUrl = parseUrl(serviceEnv.REDIS_URL ?? '')
  if (redisUrl === null || redisUrl.hostname !== 'redis' || Number(redisUrl.port || 6379) !== 6379) problems.push(`the service's REDIS_URL ${serviceEnv.REDIS_URL} is not the redis service`)

  // What is published: LiveKit's API and media ports, and the service's port (on livekit, whose
  // network namespace it is in, when it shares it).
  const livekitPorts = publishedPorts(livekit)
  const wanted = [`${livekitPort}:${livekitPort}/tcp`, `${config.rtc?.tcp_port}:${config.rtc?.tcp_port}/tcp`, `${config.rtc?.udp_port}:${config.rtc?.udp_port}/udp`]
  for (const port of wanted) if (!livekitPorts.has(port)) problems.push(`livekit does not publish ${port}`)
  const servicePorts = sharesLivekit('service') ? livekitPorts : publishedPorts(service)
  if (!servicePorts.has(`${servicePort}:${servicePort}/tcp`)) problems.push(`the service's port ${servicePort} is not published`)
  if (sharesLivekit('service') && publishedPorts(service).size > 0) problems.push('the service shares livekit\'s network namespace: its ports go on livekit')

  // Start order, on health.
  for (const [name, needs] of [['service', ['livekit', 'redis']], ['agent', ['livekit']]] as const) {
    for (const need of needs) {
      if (services[name]?.depends_on?.[need]?.condition !== 'service_healthy') problems.push(`${name} does not wait for ${need} to be healthy`)
      if (healthTest(services[need]) === '') problems.push(`${need} has no healthcheck`)
    }
  }
  if (!healthTest(service).includes(`:${servicePort}/health`)) problems.push(`the service's healthcheck does not ask :${servicePort}/health`)
  const agentHealthPort = agentEnv.AGENT_HEALTH_PORT ?? String(AgentConfigSchema.properties.AGENT_HEALTH_PORT.default)
  if (!healthTest(agent).includes(`:${agentHealthPort}/`)) problems.push(`the agent's healthcheck does not ask its health port ${agentHealthPort}`)
  return problems
}
