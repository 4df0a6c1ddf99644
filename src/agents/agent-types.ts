import { Type } from '@sinclair/typebox'

/** The kinds of voice agent a session can be started with. */
export const AGENT_TYPES = ['workout', 'diet', 'supplement', 'tracker', 'scheduler', 'general'] as const

export type AgentType = typeof AGENT_TYPES[number]

export const DEFAULT_AGENT_TYPE: AgentType = 'general'

/** An agent type in session metadata. */
export const AgentTypeSchema = Type.Unsafe<AgentType>(Type.String({
  enum: [...AGENT_TYPES],
  description: 'The kind of voice agent that serves the session'
}))

export function isAgentType (value: unknown): value is AgentType {
  return (AGENT_TYPES as readonly unknown[]).includes(value)
}
