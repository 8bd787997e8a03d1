import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// Runs plain Node (no TypeScript loader, no "source" condition) from test/, so the packages resolve
// through their exports maps to the built dist/, as they do for users. `pnpm test` builds first.
const cwd = fileURLToPath(new URL('.', import.meta.url))
const node = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr }),
    )
  })

describe('published shape', () => {
  it.each(['@entraguard/core', '@entraguard/express', '@entraguard/fastify', '@entraguard/emulator'])(
    '%s imports as ESM from dist',
    async (name) => {
      const r = await node([
        '--input-type=module',
        '-e',
        `const m = await import('${name}'); console.log(Object.keys(m).sort().join(','))`,
      ])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout.length).toBeGreaterThan(5)
    },
  )

  it('exports the public names of the design', async () => {
    const r = await node([
      '--input-type=module',
      '-e',
      `const core = await import('@entraguard/core'); const ex = await import('@entraguard/express'); const fa = await import('@entraguard/fastify'); const emu = await import('@entraguard/emulator');
       console.log(JSON.stringify({ core: Object.keys(core), ex: Object.keys(ex), fa: Object.keys(fa), emu: Object.keys(emu) }))`,
    ])
    const names = JSON.parse(r.stdout) as Record<string, string[]>
    expect(names.core).toEqual(
      expect.arrayContaining(['createValidator', 'AuthError', 'check', 'createPolicy', 'loadPolicy']),
    )
    expect(names.ex).toEqual(
      expect.arrayContaining([
        'entraAuth',
        'requireScopes',
        'requireRoles',
        'requireAuth',
        'requirePermission',
        'authErrorHandler',
      ]),
    )
    expect(names.fa).toEqual(expect.arrayContaining(['entraAuth', 'default']))
    expect(names.emu).toEqual(expect.arrayContaining(['startEmulator']))
  })

  it('loads from CommonJS through require(esm) on Node 20.19+', async () => {
    const r = await node([
      '--no-warnings',
      '-e',
      "const { createValidator } = require('@entraguard/core'); console.log(typeof createValidator)",
    ])
    expect(r.stdout.trim()).toBe('function')
  })
})
