import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runInspect } from '@entraguard/cli'
import { AUTH_ERROR_CODES, AuthError } from '@entraguard/core'
import { describe, expect, it } from 'vitest'

const docs = fileURLToPath(new URL('../docs/', import.meta.url))
const troubleshooting = readFileSync(`${docs}troubleshooting.md`, 'utf8')
const entries = new Map(
  troubleshooting
    .split(/^(?=## )/m)
    .slice(1)
    .map((section) => [(section.split('\n', 1)[0] as string).slice(3).trim(), section] as const),
)

async function explain(code: string): Promise<{ exitCode: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const exitCode = await runInspect(['--explain', code], {
    stdin: Object.assign((async function* () {})(), { isTTY: true }),
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: {},
  })
  return { exitCode, out, err }
}

describe('docs/troubleshooting.md', () => {
  it('has exactly one `## <code>` entry per AuthError code', () => {
    expect([...entries.keys()].sort()).toEqual([...AUTH_ERROR_CODES].sort())
  })

  it.each([...AUTH_ERROR_CODES])(
    '%s: says what the caller sees and the log says, the causes and the fix',
    (code) => {
      const entry = entries.get(code) as string
      for (const part of ['**Caller sees**', '**Log says**', '**Common causes**', '**Fix**']) {
        expect(entry).toContain(part)
      }
      const sample = new AuthError(code, { description: 'd' })
      const sees = (/\*\*Caller sees\*\*:([\s\S]*?)\n\n/.exec(entry)?.[1] ?? '').replace(/\s+/g, ' ')
      expect(sees).toContain(`\`${sample.status}\``)
      if (sample.wwwAuthenticate === undefined) expect(sees).toMatch(/no `WWW-Authenticate`/)
      else expect(sees).toContain('`WWW-Authenticate: Bearer')
      if (sample.error !== undefined) expect(sees).toContain(`error="${sample.error}"`)
      if (sample.headers['Retry-After'] !== undefined) expect(sees).toContain('Retry-After')
      // The summary table agrees with the error.
      const row = troubleshooting.split('\n').find((l) => l.startsWith(`| [\`${code}\`](#${code})`)) as string
      expect(row.split('|')[2]?.trim()).toBe(String(sample.status))
      expect(row.split('|')[3]?.trim()).toEqual(
        sample.error === undefined ? expect.stringMatching(/^\(no/) : `\`${sample.error}\``,
      )
    },
  )

  it.each([...AUTH_ERROR_CODES])('entraguard inspect --explain %s prints the entry', async (code) => {
    const { exitCode, out } = await explain(code)
    expect(exitCode).toBe(0)
    expect(out.trim()).toBe((entries.get(code) as string).trim())
  })

  it('refuses an unknown code with exit 2, listing the codes', async () => {
    const { exitCode, err } = await explain('nope')
    expect(exitCode).toBe(2)
    expect(err).toContain('metadata_unavailable')
  })
})

describe('docs/ links', () => {
  const slug = (heading: string) =>
    heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s/g, '-')
  const anchorsOf = (file: string) =>
    new Set([...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)))

  it.each(readdirSync(docs).filter((f) => f.endsWith('.md')))(
    '%s: every local link and anchor resolves',
    (name) => {
      const text = readFileSync(`${docs}${name}`, 'utf8')
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target === undefined || /^[a-z]+:/.test(target)) continue
        const [path, anchor] = target.split('#') as [string, string | undefined]
        const file = path === '' ? `${docs}${name}` : fileURLToPath(new URL(path, `file://${docs}`))
        expect(existsSync(file), `${name} links to ${target}`).toBe(true)
        if (anchor !== undefined && file.endsWith('.md')) {
          expect(anchorsOf(file).has(anchor), `${name} links to ${target}`).toBe(true)
        }
      }
    },
  )
})
