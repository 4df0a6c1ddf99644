// Gives dist/ a package.json of its own with the root's `type` and `imports`: a `#sessions/...`
// import in dist/src/ then resolves inside dist/ (to compiled JavaScript), as it resolves inside
// src/ (to TypeScript) from the root package.json.
import { readFileSync, writeFileSync } from 'node:fs'

const { type, imports } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
writeFileSync(new URL('../dist/package.json', import.meta.url), `${JSON.stringify({ type, imports }, null, 2)}\n`)
