/**
 * The reference voice-agent worker: registers with LiveKit under LIVEKIT_AGENT_NAME and runs
 * ./voice-agent.ts in a child process per job.
 *
 *   tsx agent/worker.ts start             (development)
 *   node dist/agent/worker.js start       (built)
 *
 * Configuration comes from the environment (or .env), validated like the service's.
 */
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cli, InferenceRunner, ServerOptions, type AgentServer } from '@livekit/agents'
import { loadAgentConfig, type AgentConfig } from './config.js'

let config: AgentConfig
try {
  config = loadAgentConfig()
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}

// The library's CLI takes its log level from --log-level or LOG_LEVEL, and knows no 'silent'.
process.env.LOG_LEVEL = config.LOG_LEVEL === 'silent' ? 'fatal' : config.LOG_LEVEL

/**
 * No inference process. Whenever @livekit/local-inference loads, @livekit/agents 1.9 forks a
 * shared process for local end-of-turn detection before it registers (about 380 MB resident and
 * a second of model loading). This agent detects no turns, so it takes the runner's slot
 * ('lk_eot_audio') with a non-enumerable entry: the library sees the slot taken and registers
 * nothing, then counts no runners (Object.keys) and forks no process. Should a later version
 * change this, the process merely comes back.
 */
Object.defineProperty(InferenceRunner.registeredRunners, 'lk_eot_audio', { value: 'disabled', enumerable: false })

const maxJobs = config.AGENT_MAX_JOBS

/**
 * Load as the share of job slots in use. The library's default is the whole machine's CPU,
 * which other processes on the host push over the threshold, so dispatches get lost.
 */
async function jobLoad (server: AgentServer): Promise<number> {
  return Math.min(1, server.activeJobs.length / maxJobs)
}

// Job processes import the agent by file path: voice-agent.ts under tsx, voice-agent.js when built.
const agent = fileURLToPath(new URL(`./voice-agent${extname(import.meta.url)}`, import.meta.url))

cli.runApp(new ServerOptions({
  agent,
  agentName: config.LIVEKIT_AGENT_NAME,
  wsURL: config.LIVEKIT_URL,
  apiKey: config.LIVEKIT_API_KEY,
  apiSecret: config.LIVEKIT_API_SECRET,
  numIdleProcesses: config.LIVEKIT_WORKER_NUM_IDLE,
  loadFunc: jobLoad,
  // Full only when every slot is taken.
  loadThreshold: 1,
  // How long a job process gets to acknowledge a shutdown request and then to exit (default 60 s).
  // This agent's jobs end in about a second; but a process still starting up can miss the request
  // (@livekit/agents 1.9 race), and a SIGTERM while one starts then waits this long for it.
  shutdownProcessTimeout: 10_000,
  host: config.AGENT_HEALTH_HOST,
  port: config.AGENT_HEALTH_PORT
}))
