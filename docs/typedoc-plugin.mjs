// TypeDoc names an entry point by its path (core/src); the reference names it by its package (@entraguard/core).
import { Converter } from 'typedoc'

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.children ?? []) {
      module.name = `@entraguard/${module.name.replace(/\/src$/, '')}`
    }
  })
}
