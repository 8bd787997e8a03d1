import type { z } from 'zod'

/** Turns a zod error into one line per problem, each naming the option path (`assignments[3].role`). */
export function formatIssues(error: z.ZodError, root: string): string {
  return error.issues
    .map((issue) => {
      let path = root
      for (const key of issue.path) {
        path += typeof key === 'number' ? `[${key}]` : path === '' ? String(key) : `.${String(key)}`
      }
      return `  - ${path === '' ? '(document)' : path}: ${issue.message}`
    })
    .join('\n')
}
