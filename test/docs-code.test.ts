// The docs cannot rot: every TypeScript block in README.md and docs/*.md is type-checked against the
// packages' sources, every policy JSON block is validated by docs/policy.schema.json and by loadPolicy,
// relative links resolve, and the generated API reference (docs/api) matches what TypeDoc makes now.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createPolicy, loadPolicy, type PolicyDefinition } from '@entraguard/core'
import { afterAll, describe, expect, it } from 'vitest'
import { scenarioPolicy } from './support/scenario.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const docFiles = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

interface Block {
  file: string
  line: number
  lang: string
  info: string
  code: string
}

function blocksOf(file: string): Block[] {
  const text = readFileSync(join(root, file), 'utf8')
  const blocks: Block[] = []
  for (const m of text.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    const line = text.slice(0, m.index).split('\n').length
    blocks.push({ file, line, lang: m[1] ?? '', info: (m[2] ?? '').trim(), code: m[3] ?? '' })
  }
  return blocks
}
const blocks = docFiles.flatMap(blocksOf)
const tsBlocks = blocks.filter((b) => (b.lang === 'ts' || b.lang === 'typescript') && b.info !== 'fragment')

// Names the prose uses without defining them: declared for a block only when it uses and does not define them.
type Flavour = 'express' | 'fastify' | 'hono'
const preamble: Record<string, (f: Flavour) => string> = {
  app: (f) =>
    f === 'fastify'
      ? "import('fastify').FastifyInstance"
      : f === 'hono'
        ? "import('hono').Hono<import('@entraguard/hono').EntraAuthEnv>"
        : "import('express').Express",
  handler: (f) =>
    f === 'fastify'
      ? "import('fastify').RouteHandlerMethod"
      : f === 'hono'
        ? "import('hono').Handler<import('@entraguard/hono').EntraAuthEnv>"
        : "import('express').RequestHandler",
  validator: () => "import('@entraguard/core').Validator",
  principal: () => "import('@entraguard/core').Principal",
  policy: () => "import('@entraguard/core').Policy",
  emu: () => "import('@entraguard/emulator').Emulator",
  token: () => 'string',
  tenant: () => 'string',
  audience: () => 'string',
}
// Core's factories, imported for a block that uses them without importing them.
const coreImports = ['createValidator', 'createPolicy', 'loadPolicy', 'check']

// Modules the docs show but this repository does not install: just enough to type-check the calls.
const shims = `
declare module 'pino' {
  type Log = (object: object, message: string) => void
  export default function pino(): Record<'debug' | 'info' | 'warn' | 'error', Log>
}
declare module '@opentelemetry/api-logs' {
  export enum SeverityNumber { INFO = 9, WARN = 13 }
  export const logs: {
    getLogger(name: string): {
      emit(record: { timestamp?: Date; severityNumber?: SeverityNumber; body?: string; attributes?: object }): void
    }
  }
}
declare module 'passport' {
  const passport: {
    use(strategy: unknown): void
    use(name: string, strategy: unknown): void
    initialize(): import('express').RequestHandler
    authenticate(name: string, options: { session: boolean }): import('express').RequestHandler
  }
  export default passport
}
declare module 'passport-azure-ad' {
  export class BearerStrategy {
    constructor(
      options: import('../../examples/migration/before.js').BearerStrategyOptions,
      verify: (token: import('../../examples/migration/before.js').BearerToken, done: (err: unknown, user?: unknown) => void) => void,
    )
  }
}
`

function flavourOf(code: string): Flavour {
  if (/from '(@entraguard\/)?fastify'/.test(code)) return 'fastify'
  if (/from '(@entraguard\/)?hono'/.test(code)) return 'hono'
  return 'express'
}

function defines(code: string, name: string): boolean {
  return (
    new RegExp(`\\b(const|let|var|function|class)\\s+${name}\\b`).test(code) ||
    new RegExp(`\\b(const|let|var)\\s*\\{[^}]*\\b${name}\\b[^}]*\\}\\s*=`).test(code) ||
    new RegExp(`import\\s[^;]*?\\b${name}\\b[^;]*?\\sfrom\\s`).test(code)
  )
}

function moduleFor(block: Block): string {
  const flavour = flavourOf(block.code)
  const declarations = Object.entries(preamble)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(block.code) && !defines(block.code, name))
    .map(([name, type]) => `declare const ${name}: ${type(flavour)}`)
  const imports = coreImports.filter(
    (name) => new RegExp(`\\b${name}\\(`).test(block.code) && !defines(block.code, name),
  )
  if (imports.length > 0) declarations.unshift(`import { ${imports.join(', ')} } from '@entraguard/core'`)
  return `${declarations.join('\n')}\n${block.code}\nexport {}\n`
}

const scratch: string[] = []
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true })
})

describe('TypeScript blocks in README.md and docs/*.md', () => {
  it('there are blocks to check, and few fragments', () => {
    expect(tsBlocks.length).toBeGreaterThan(15)
    const fragments = blocks.filter((b) => b.info === 'fragment')
    expect(fragments.length).toBeLessThanOrEqual(6)
  })

  it('all type-check against the packages (tsc, strict)', { timeout: 120_000 }, async () => {
    // Inside test/ so that @entraguard/*, express, fastify, hono resolve like they do for the tests.
    const dir = mkdtempSync(join(root, 'test', '.docs-code-'))
    scratch.push(dir)
    const names = new Map<string, Block>()
    for (const block of tsBlocks) {
      const name = `${block.file.replace(/[^\w]/g, '_')}_L${block.line}.ts`
      names.set(name, block)
      writeFileSync(join(dir, name), moduleFor(block))
    }
    writeFileSync(join(dir, 'shims.d.ts'), shims)
    const base = relative(dir, join(root, 'tsconfig.base.json'))
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: base,
        compilerOptions: {
          noEmit: true,
          noUnusedLocals: false,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
        },
        include: ['*.ts', 'shims.d.ts'],
      }),
    )
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    const out = await run(process.execPath, [tsc, '-p', dir, '--pretty', 'false']).then(
      (r) => r.stdout,
      (err: { stdout?: string }) => err.stdout ?? String(err),
    )
    // Point each error at the doc and its line, not at the scratch file.
    const errors = out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const m = /^(?:.*\/)?([^/(]+\.ts)\((\d+),(\d+)\): (.*)$/.exec(l)
        const block = m === null ? undefined : names.get(m[1] as string)
        if (m === null || block === undefined) return l
        const declared = moduleFor(block).split('\n').length - block.code.split('\n').length - 2
        return `${block.file}:${block.line + Number(m[2]) - declared}: ${m[4]}`
      })
    expect(errors).toEqual([])
  })
})

describe('README.md', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  it('keeps the two set-up commands exactly', () => {
    const sh = blocks.filter((b) => b.file === 'README.md' && b.lang === 'sh').map((b) => b.code.trim())
    expect(sh).toContain('npm install -g pnpm@10.34.8 && pnpm install --frozen-lockfile && pnpm demo')
    expect(sh).toContain('npm install -g pnpm@10.34.8 && pnpm install --frozen-lockfile && pnpm test')
  })

  it('lists every package of packages/ in its table', () => {
    for (const dir of readdirSync(join(root, 'packages'))) {
      const name = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')).name
      expect(readme).toMatch(new RegExp(`^\\| \\[\`${name}\`\\]\\(packages/${dir}\\)`, 'm'))
    }
  })

  it('names only scripts that package.json has', () => {
    const scripts = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts)
    for (const [, script] of readme.matchAll(/`pnpm ([a-z:]+)`/g)) expect(scripts).toContain(script)
  })
})

describe('links', () => {
  it.each(docFiles)('%s: every relative link points at a file that exists', (file) => {
    const text = readFileSync(join(root, file), 'utf8').replace(/^```[\s\S]*?^```$/gm, '')
    const missing: string[] = []
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const path = (target as string).split('#')[0] as string
      if (path === '' || /^[a-z]+:/i.test(path)) continue
      if (!existsSync(resolve(root, dirname(file), decodeURIComponent(path)))) missing.push(target as string)
    }
    expect(missing).toEqual([])
  })
})

// --- docs/policy.schema.json -------------------------------------------------------------------------------

type Schema = Record<string, unknown>
const policySchema = JSON.parse(readFileSync(join(root, 'docs', 'policy.schema.json'), 'utf8')) as Schema

/** The JSON Schema keywords docs/policy.schema.json uses, checked by hand: returns the problems. */
function validate(schema: Schema, value: unknown, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const target = (policySchema.$defs as Record<string, Schema>)[schema.$ref.replace('#/$defs/', '')]
    if (target === undefined) return [`${path}: unknown $ref ${schema.$ref}`]
    return validate(target, value, path)
  }
  const problems: string[] = []
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value)
  if (schema.type === 'object' && !isObject) return [`${path}: not an object`]
  if (schema.type === 'array' && !Array.isArray(value)) return [`${path}: not an array`]
  if (schema.type === 'string' && typeof value !== 'string') return [`${path}: not a string`]
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      problems.push(`${path}: too short`)
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      problems.push(`${path}: does not match ${schema.pattern}`)
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      problems.push(`${path}: too few items`)
    if (schema.items !== undefined)
      value.forEach((v, i) => problems.push(...validate(schema.items as Schema, v, `${path}[${i}]`)))
  }
  if (isObject) {
    const obj = value as Record<string, unknown>
    const props = (schema.properties ?? {}) as Record<string, Schema>
    for (const key of (schema.required ?? []) as string[])
      if (!Object.hasOwn(obj, key)) problems.push(`${path}: missing ${key}`)
    for (const [key, v] of Object.entries(obj)) {
      if (schema.propertyNames !== undefined)
        problems.push(...validate(schema.propertyNames as Schema, key, `${path}.${key} (name)`))
      if (props[key] !== undefined) problems.push(...validate(props[key], v, `${path}.${key}`))
      else if (schema.additionalProperties === false) problems.push(`${path}: unknown member ${key}`)
      else if (typeof schema.additionalProperties === 'object')
        problems.push(...validate(schema.additionalProperties as Schema, v, `${path}.${key}`))
    }
  }
  for (const sub of (schema.allOf ?? []) as Schema[]) problems.push(...validate(sub, value, path))
  if (Array.isArray(schema.oneOf)) {
    const passing = (schema.oneOf as Schema[]).filter((s) => validate(s, value, path).length === 0).length
    if (passing !== 1) problems.push(`${path}: matches ${passing} of oneOf, not exactly one`)
  }
  return problems
}

const stockPolicy = JSON.parse(readFileSync(join(root, 'examples', 'stock-api', 'policy.json'), 'utf8'))
const docPolicies = blocks
  .filter((b) => b.lang === 'json' && b.code.includes('policy.schema.json'))
  .map((b) => [`${b.file}:${b.line}`, JSON.parse(b.code)] as const)

describe('docs/policy.schema.json', () => {
  const accepted: (readonly [string, unknown])[] = [
    ['examples/stock-api/policy.json', stockPolicy],
    ['test/support/scenario.ts scenarioPolicy', scenarioPolicy],
    ...docPolicies,
  ]
  it.each(accepted)('accepts %s, which loadPolicy accepts too', (_name, policy) => {
    expect(validate(policySchema, policy)).toEqual([])
    const { $schema: _editorsOnly, ...definition } = policy as { $schema?: string }
    expect(() => createPolicy(definition as PolicyDefinition)).not.toThrow()
  })

  it('the guide shows a policy file with $schema, and loadPolicy accepts that member', async () => {
    const [where, policy] = docPolicies[0] ?? ['', {}]
    expect(where).toMatch(/^docs\/authorization\.md:/)
    expect(policy).toHaveProperty('$schema')
    const dir = mkdtempSync(join(tmpdir(), 'entraguard-policy-'))
    scratch.push(dir)
    writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy))
    const loaded = await loadPolicy(join(dir, 'policy.json'))
    expect(Object.keys(loaded.definition.roles)).toEqual(['Portfolio Reader', 'Portfolio Trader'])
  })

  const role = { R: { actions: ['stocks/read'] } }
  it.each([
    ['an unknown top-level member', { roles: role, extra: 1 }],
    ['no roles', { assignments: [] }],
    ['a role without actions', { roles: { R: { notActions: ['a'] } } }],
    ['an empty actions list', { roles: { R: { actions: [] } } }],
    ['a wildcard inside a segment', { roles: { R: { actions: ['stocks/re*'] } } }],
    [
      'an assignment with two principals',
      { roles: role, assignments: [{ role: 'R', appRole: 'A', group: 'g' }] },
    ],
    ['an assignment with no principal', { roles: role, assignments: [{ role: 'R' }] }],
    [
      'a scope with a trailing slash',
      { roles: role, assignments: [{ role: 'R', appRole: 'A', scope: '/a/' }] },
    ],
    ['a scope with ..', { roles: role, assignments: [{ role: 'R', appRole: 'A', scope: '/a/../b' }] }],
    ['a relative scope', { roles: role, assignments: [{ role: 'R', appRole: 'A', scope: 'a' }] }],
    [
      'a managedIdentity that is not a resource ID',
      { roles: role, assignments: [{ role: 'R', managedIdentity: 'vm' }] },
    ],
    ['a deny without actions', { roles: role, denyAssignments: [{ appRole: 'A' }] }],
    [
      'an unknown member in an assignment',
      { roles: role, assignments: [{ role: 'R', appRole: 'A', when: 'x' }] },
    ],
  ])('refuses %s, like loadPolicy', (_name, policy) => {
    expect(validate(policySchema, policy)).not.toEqual([])
    expect(() => createPolicy(policy as PolicyDefinition)).toThrow(/Invalid entraguard policy/)
  })
})

// --- docs/api (TypeDoc) ------------------------------------------------------------------------------------

function tree(dir: string): Map<string, string> {
  const files = new Map<string, string>()
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name)
      if (entry.isDirectory()) walk(full)
      else files.set(relative(dir, full), readFileSync(full, 'utf8'))
    }
  }
  walk(dir)
  return files
}

describe('docs/api', () => {
  it('is what `pnpm docs:api` generates from the sources now', { timeout: 120_000 }, async () => {
    // Inside the repository, so that Biome formats it with the repository's settings, as `pnpm docs:api` does.
    const out = mkdtempSync(join(root, 'test', '.docs-api-'))
    scratch.push(out)
    const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc')
    await run(process.execPath, [typedoc, '--out', out, '--logLevel', 'Error'], { cwd: root })
    const biome = join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome')
    await run(process.execPath, [biome, 'check', '--write', out], { cwd: root })
    const fresh = tree(out)
    const committed = tree(join(root, 'docs', 'api'))
    expect(fresh.size).toBeGreaterThan(8)
    expect([...committed.keys()].sort(), 'run `pnpm docs:api`').toEqual([...fresh.keys()].sort())
    for (const [file, text] of fresh)
      expect(committed.get(file), `${file} is stale: run \`pnpm docs:api\``).toBe(text)
  })
})
