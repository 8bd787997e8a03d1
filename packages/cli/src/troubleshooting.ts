import { readFileSync } from 'node:fs'

// docs/troubleshooting.md is the one source: the build copies it next to dist/, and from src/ in the
// repository it is read where it lives.
const PLACES = [
  new URL('./troubleshooting.md', import.meta.url),
  new URL('../../../docs/troubleshooting.md', import.meta.url),
]

let cached: Map<string, string> | undefined

/** The entries of docs/troubleshooting.md by their `## <code>` heading. */
function entries(): Map<string, string> {
  if (cached !== undefined) return cached
  let text: string | undefined
  for (const place of PLACES) {
    try {
      text = readFileSync(place, 'utf8')
      break
    } catch {}
  }
  if (text === undefined) throw new Error('troubleshooting.md is missing from the package: rebuild it')
  cached = new Map()
  for (const section of text.split(/^(?=## )/m).slice(1)) {
    const heading = /^## `?([a-z_]+)`?\s*$/m.exec(section.split('\n', 1)[0] ?? '')
    if (heading?.[1] !== undefined) cached.set(heading[1], section.trimEnd())
  }
  return cached
}

/**
 * The troubleshooting entry of an AuthError code (markdown, from its `## <code>` heading to the next), or
 * undefined for a code without one.
 *
 * @example
 * process.stdout.write(`${troubleshootingEntry('invalid_audience')}\n`)
 */
export function troubleshootingEntry(code: string): string | undefined {
  return entries().get(code)
}

/**
 * The fix of an AuthError code: the entry's `**Fix**` paragraph or list, as plain lines.
 *
 * @example
 * troubleshootingFix('expired') // 'The client must get a new token …'
 */
export function troubleshootingFix(code: string): string | undefined {
  const entry = troubleshootingEntry(code)
  const fix = entry === undefined ? undefined : /^\*\*Fix\*\*:?\s*([\s\S]*?)(?=^\*\*|(?![\s\S]))/m.exec(entry)
  return fix?.[1]?.trim()
}

/** Where an entry lives in the repository, for links in output. */
export const troubleshootingAnchor = (code: string) => `docs/troubleshooting.md#${code}`
