import { createMemoryStore } from '#index/memory-store.js'
import type { NewSession, SessionStore } from '#index/session-store.js'

/** A session store that fails on demand: the memory store, each operation throwing while it is named in `failing`. */
export function faultyStore (): { store: SessionStore, failing: Set<keyof SessionStore>, added: string[] } {
  const inner = createMemoryStore()
  const failing = new Set<keyof SessionStore>()
  const added: string[] = []
  const store = Object.fromEntries(Object.entries(inner).map(([name, operation]) => [name, async (...args: unknown[]) => {
    if (name === 'add') added.push((args[0] as NewSession).roomName)
    if (failing.has(name as keyof SessionStore)) throw new Error(`injected fault: ${name}`)
    return await (operation as (...args: unknown[]) => Promise<unknown>)(...args)
  }])) as unknown as SessionStore
  return { store, failing, added }
}
