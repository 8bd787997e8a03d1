import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// What a user gets: each package packed into a tarball (after `pnpm build`), installed with plain npm into a
// project outside the workspace together with its framework, then loaded from ESM `import` and CJS `require`.
const root = fileURLToPath(new URL('..', import.meta.url))
// Every published package with the public names of the design that it must export.
const PACKAGES: Record<string, { dir: string; exports: string[] }> = {
  '@entraguard/core': {
    dir: 'core',
    exports: [
      'createValidator',
      'AuthError',
      'check',
      'createPolicy',
      'loadPolicy',
      'watchPolicy',
      'authenticateRequest',
      'toResponse',
      'authorizationOf',
      'createResourceMetadata',
    ],
  },
  '@entraguard/express': {
    dir: 'express',
    exports: [
      'entraAuth',
      'requireScopes',
      'requireRoles',
      'requireAuth',
      'requirePermission',
      'authErrorHandler',
      'resourceMetadataHandler',
    ],
  },
  '@entraguard/fastify': { dir: 'fastify', exports: ['entraAuth', 'default', 'resourceMetadataHandler'] },
  '@entraguard/nestjs': {
    dir: 'nestjs',
    exports: ['EntraAuthModule', 'Public', 'Roles', 'Scopes', 'RequireAuth', 'Permission', 'Auth'],
  },
  '@entraguard/azure-functions': {
    dir: 'azure-functions',
    exports: ['withEntraAuth', 'resourceMetadataHandler'],
  },
  '@entraguard/hono': {
    dir: 'hono',
    exports: ['entraAuth', 'requireScopes', 'requireRoles', 'requireAuth', 'requirePermission'],
  },
  '@entraguard/mcp': { dir: 'mcp', exports: ['requireMcpAuth', 'mcpTokenVerifier', 'getPrincipal'] },
  '@entraguard/cli': { dir: 'cli', exports: ['runInspect'] },
  '@entraguard/emulator': { dir: 'emulator', exports: ['startEmulator'] },
}
// The frameworks the adapters need at run time (peers), at the versions the workspace tests.
const PEERS = [
  'express@5.3.0',
  'fastify@5.12.8',
  '@nestjs/common@12.5.1',
  '@nestjs/core@12.5.1',
  'reflect-metadata@0.2.2',
  'rxjs@7.8.2',
  '@azure/functions@4.16.5',
  'hono@4.13.19',
  '@modelcontextprotocol/sdk@1.32.2',
]

const run = (cmd: string, args: string[], cwd: string, timeout = 120_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { cwd, timeout, maxBuffer: 10 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr }),
    )
  })

let project: string
beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'entraguard-packed-'))
  for (const { dir } of Object.values(PACKAGES)) {
    const packed = await run('pnpm', ['pack', '--pack-destination', project], join(root, 'packages', dir))
    expect(packed.stderr).not.toMatch(/ERR/)
  }
  const tarballs = (await readdir(project)).filter((f) => f.endsWith('.tgz')).map((f) => `./${f}`)
  expect(tarballs).toHaveLength(Object.keys(PACKAGES).length)
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'outside', private: true }))
  const installed = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, ...PEERS],
    project,
    240_000,
  )
  expect(installed.code, installed.stderr).toBe(0)
}, 300_000)
afterAll(async () => {
  if (project !== undefined) await rm(project, { recursive: true, force: true })
})

describe.each(Object.entries(PACKAGES))('%s from its packed tarball', (name, { exports }) => {
  it('loads from ESM import with its public names', async () => {
    const r = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import('${name}'); console.log(JSON.stringify(Object.keys(m)))`,
      ],
      project,
    )
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual(expect.arrayContaining(exports))
  })

  it('loads from CommonJS require (Node ≥ 20.19)', async () => {
    const r = await run(
      process.execPath,
      ['--no-warnings', '-e', `console.log(JSON.stringify(Object.keys(require('${name}'))))`],
      project,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual(expect.arrayContaining(exports))
  })
})

describe('bins from the packed tarballs', () => {
  it('entraguard inspect --explain prints the troubleshooting entry shipped in the package', async () => {
    const r = await run(
      process.execPath,
      [join(project, 'node_modules/@entraguard/cli/bin/entraguard.js'), 'inspect', '--explain', 'expired'],
      project,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('expired')
    expect(r.stdout.length).toBeGreaterThan(200)
  })

  it('entraguard-emulator prints its usage', async () => {
    const r = await run(
      process.execPath,
      [join(project, 'node_modules/@entraguard/emulator/bin/entraguard-emulator.js'), '--help'],
      project,
    )
    expect(`${r.stdout}${r.stderr}`).toMatch(/entraguard-emulator/)
  })
})
