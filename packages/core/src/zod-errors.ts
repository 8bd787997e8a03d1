import type { z } from 'zod'

/** Turns a zod error into one line per problem, each naming the option path. */
export function formatIssues(error: z.ZodError, root: string): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length === 0 ? root : `${root}.${issue.path.map(String).join('.')}`
      return `  - ${path}: ${issue.message}`
    })
    .join('\n')
}
