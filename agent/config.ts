import { Type, type Static } from '@sinclair/typebox'
import { LivekitConfigSchema, loadEnv, LogLevelSchema, type LoadConfigOptions } from '../src/config.js'

/** The reference voice-agent worker's configuration: the service's LiveKit keys plus its own. */
export const AgentConfigSchema = Type.Composite([
  LivekitConfigSchema,
  Type.Object({
    LIVEKIT_AGENT_NAME: Type.String({
      minLength: 1,
      description: 'Name the worker registers under; rooms dispatch this agent by it (explicit dispatch only)'
    }),
    AGENT_HEALTH_HOST: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address of the worker\'s health endpoint (GET / is 200 once registered with LiveKit; /worker is JSON)'
    }),
    // The agents library reads a port of 0 as its default 8081, so 0 cannot mean "any free port".
    AGENT_HEALTH_PORT: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 8081,
      description: 'Port of the worker\'s health endpoint; every worker on one host needs its own'
    }),
    AGENT_MAX_JOBS: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 10,
      description: 'Jobs (rooms) one worker serves at once; at this many it reports itself full and gets no more dispatches'
    }),
    AGENT_USER_WAIT_SECONDS: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 300,
      description: 'Seconds the agent waits for a person to join its room before it leaves (the room\'s empty timeout is 300 s)'
    }),
    LOG_LEVEL: LogLevelSchema
  })
])

export type AgentConfig = Static<typeof AgentConfigSchema>

/** The worker's configuration, validated; throws one Error naming every bad key (see `loadEnv`). */
export function loadAgentConfig (options: LoadConfigOptions = {}): AgentConfig {
  return loadEnv(AgentConfigSchema, options)
}
