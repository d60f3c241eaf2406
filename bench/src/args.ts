import { parseArgs, type ParseArgsConfig } from 'node:util'

/**
 * `parseArgs` for a benchmark's command line: an unknown option or a missing value is reported as
 * `error: …` followed by the usage, with exit status 1, instead of a stack trace.
 */
export function parseOptions<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (err) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n\n${usage}`)
    process.exit(1)
  }
}
