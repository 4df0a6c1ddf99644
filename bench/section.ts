import { readFileSync, writeFileSync } from 'node:fs'

/** Puts `text` (which starts with `heading`) in place of the file's section of that heading (up to the next section), or after the rest. */
export function writeSection (file: string, heading: string, text: string): void {
  let current = ''
  try {
    current = readFileSync(file, 'utf8')
  } catch {}
  const start = current.indexOf(`\n${heading}\n`)
  if (start === -1) {
    writeFileSync(file, `${current.trimEnd()}\n\n${text}`)
    return
  }
  const next = current.indexOf('\n## ', start + 1)
  writeFileSync(file, `${current.slice(0, start + 1)}${text}${next === -1 ? '' : `\n${current.slice(next + 1)}`}`)
}
