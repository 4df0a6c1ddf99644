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

/**
 * Puts `text` (a title and its own `## ` sections) at the beginning of the file, in place of the
 * sections of the same headings, and keeps every other section after it: those the other benches
 * write (`writeSection`), and the ones written by hand.
 */
export function writeLeadingSections (file: string, text: string): void {
  let current = ''
  try {
    current = readFileSync(file, 'utf8')
  } catch {}
  const own = new Set(text.match(/^## .*$/gm) ?? [])
  const others = current.split(/\n(?=## )/).slice(1).filter((section) => !own.has(section.split('\n', 1)[0] ?? ''))
  writeFileSync(file, `${[text, ...others].map((part) => part.trimEnd()).join('\n\n')}\n`)
}
