/**
 * The argument parsing every subcommand starts with: node's parseArgs, strict, positionals allowed, `-h/--help`
 * added; a parse failure becomes a BAD_ARGUMENT error (exit 2) and `--help` prints the command's text.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ZentorrentError } from '../errors.js'

type Options = NonNullable<ParseArgsConfig['options']>
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const
type CommandConfig<O extends Options> = { args: string[], options: O & typeof HELP_OPTION, allowPositionals: true, strict: true }
export type CommandArgs<O extends Options> = ReturnType<typeof parseArgs<CommandConfig<O>>>

export interface CommandSpec<O extends Options> {
  options: O
  /** Written to stdout for `-h`/`--help`. */
  help: string
  /** The BAD_ARGUMENT message for parseArgs' own (an unknown option, a missing value). */
  badArgument: (message: string) => string
}

/** `argv` parsed by `spec`; null when `--help` was given and its text printed (the command then exits 0). */
export function parseCommandArgs<const O extends Options> (argv: string[], spec: CommandSpec<O>): CommandArgs<O> | null {
  let parsed: CommandArgs<O>
  try {
    parsed = parseArgs<CommandConfig<O>>({ args: argv, options: { ...spec.options, ...HELP_OPTION }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new ZentorrentError('BAD_ARGUMENT', spec.badArgument(err instanceof Error ? err.message : String(err)), { cause: err })
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    process.stdout.write(spec.help)
    return null
  }
  return parsed
}
