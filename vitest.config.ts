import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Tests import the packages by their public names; point those at the sources so no build is needed.
const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@entraguard\/core$/, replacement: src('core') },
      {
        find: /^@entraguard\/core\/internal$/,
        replacement: fileURLToPath(new URL('./packages/core/src/internal.ts', import.meta.url)),
      },
      { find: /^@entraguard\/express$/, replacement: src('express') },
      { find: /^@entraguard\/fastify$/, replacement: src('fastify') },
      { find: /^@entraguard\/emulator$/, replacement: src('emulator') },
      { find: /^@entraguard\/nestjs$/, replacement: src('nestjs') },
      { find: /^@entraguard\/azure-functions$/, replacement: src('azure-functions') },
      { find: /^@entraguard\/hono$/, replacement: src('hono') },
      { find: /^@entraguard\/mcp$/, replacement: src('mcp') },
      { find: /^@entraguard\/cli$/, replacement: src('cli') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    typecheck: { enabled: false },
  },
})
