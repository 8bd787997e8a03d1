import { runInspect, USAGE } from './inspect.js'

const [command, ...rest] = process.argv.slice(2)
if (command === 'inspect') {
  process.exitCode = await runInspect(rest, process)
} else if (command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(`${USAGE}\n`)
} else {
  process.stderr.write(
    `${command === undefined ? 'No command given' : `Unknown command '${command}'`}\n\n${USAGE}\n`,
  )
  process.exitCode = 2
}
