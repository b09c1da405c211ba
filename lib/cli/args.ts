/**
 * The one argument parser every command uses. A command declares its options once (`CommandSpec`: name, short
 * letter, type, default, help text, value name); the same declaration parses argv, validates values and writes
 * the command's `--help`.
 *
 * Grammar (getopt_long's, which users of aria2c, curl and transmission-cli know):
 * - `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`; booleans as `--name` or clustered `-qf`.
 * - A value-taking option takes the next argument unless that argument looks like an option (`--word` or `-x`
 *   with a letter): then its value is missing. So `-o -` gives `-` and `--upload-limit -5` gives `-5`, which
 *   the value check then refuses by name; `--name=--odd` passes a dash-led value on purpose.
 * - `--` ends the options: everything after it is positional. A lone `-` is positional.
 * - `-h`/`--help` anywhere before `--` prints the command's help instead of running it.
 * - A repeated option: the last one counts, except `list` options, which collect every occurrence.
 *
 * Every misuse — an unknown option (with a "did you mean" when one is close), a missing value, a value that is
 * not of the option's type, too few or too many positionals — is a `BAD_ARGUMENT` error (exit 2) whose message
 * names the option and ends with where to look (`see zentorrent CMD --help`).
 *
 * Value types and their units (all sizes are bytes; the parsers are exported for other callers):
 * - `count`: a whole number ≥ `min` (default 0). `number`: a decimal ≥ `min` (a ratio).
 * - `size`: bytes, with an optional unit: K, M, G, T (also KiB…) are powers of 1024, as aria2c, curl and wget
 *   read them; KB, MB, GB, TB are powers of 1000. Fractions allowed (`1.5MiB`), the result rounded to a byte.
 * - `rate`: a size per second (`1M` = 1 MiB/s; `/s` may be written: `500k/s`).
 * - `duration`: seconds, or with units ms, s, m, h, d, combinable (`90`, `30s`, `5m`, `1h30m`); in seconds.
 * - `port`: a whole number from `min` (default 0) to 65535.
 */
import { ZentorrentError } from '../errors.js'

export type OptionType = 'boolean' | 'string' | 'list' | 'count' | 'number' | 'size' | 'rate' | 'duration' | 'port'

export interface OptionSpec {
  readonly type: OptionType
  /** One letter for `-x`. */
  readonly short?: string
  /** One line for `--help`. */
  readonly help: string
  /** The value's name in `--help` (default by type: N, SIZE, RATE, DURATION, PORT, TEXT). */
  readonly value?: string
  /** The value when the option is absent (shown in `--help` unless `defaultText` says otherwise). */
  readonly default?: boolean | string | number
  /** How `--help` describes the default, when the value alone would not say it. */
  readonly defaultText?: string
  /** Smallest accepted value (numeric types). */
  readonly min?: number
  /** Largest accepted value (numeric types). */
  readonly max?: number
  /** Accepted but not listed in `--help` (an old spelling kept working). */
  readonly hidden?: boolean
}

export interface PositionalSpec {
  readonly name: string
  readonly help: string
  /** Default true. */
  readonly required?: boolean
}

export interface CommandSpec {
  readonly name: string
  /** One line for the global help's list of commands. */
  readonly summary: string
  /** The usage line after `zentorrent ` (more than one for commands with several forms). */
  readonly usage: readonly string[]
  /** A paragraph after the usage. */
  readonly description: string
  readonly positionals: readonly PositionalSpec[]
  readonly options: Readonly<Record<string, OptionSpec>>
  /** [command line, what it does]. */
  readonly examples: ReadonlyArray<readonly [string, string]>
  /** Extra sections at the end of `--help` (a display legend, exit statuses). */
  readonly sections?: ReadonlyArray<{ readonly title: string, readonly text: string }>
}

type ValueOf<S extends OptionSpec> =
  S['type'] extends 'boolean' ? boolean
    : S['type'] extends 'list' ? string[]
      : S['type'] extends 'string' ? (S extends { default: string } ? string : string | undefined)
        : (S extends { default: number } ? number : number | undefined)

export type OptionValues<O extends Readonly<Record<string, OptionSpec>>> = { -readonly [K in keyof O]: ValueOf<O[K]> }

export interface ParsedCommand<C extends CommandSpec> {
  values: OptionValues<C['options']>
  positionals: string[]
  /** The option arguments as given, positionals removed (to hand on to another command, as `seed` does). */
  optionArgs: string[]
}

export interface ParseOptions {
  /** Where `--help` goes (default process.stdout). */
  out?: { write: (text: string) => unknown }
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', help: 'this text' }

/** `argv` parsed by `spec`; null when `--help` was given and the help printed (the command then exits 0). */
export function parseCommand<const C extends CommandSpec> (argv: readonly string[], spec: C, opts: ParseOptions = {}): ParsedCommand<C> | null {
  const end = argv.indexOf('--')
  const before = end === -1 ? argv : argv.slice(0, end)
  if (before.includes('--help') || before.some((a) => /^-[a-zA-Z]*h[a-zA-Z]*$/.test(a) && isShortCluster(spec, a))) {
    (opts.out ?? process.stdout).write(formatHelp(spec))
    return null
  }
  const values: Record<string, unknown> = {}
  for (const [name, option] of Object.entries(spec.options)) {
    if (option.type === 'boolean') values[name] = option.default ?? false
    else if (option.type === 'list') values[name] = []
    else if (option.default !== undefined) values[name] = option.default
  }
  const positionals: string[] = []
  const optionArgs: string[] = []
  const fail = (message: string): never => { throw badArgument(spec, message) }
  const set = (name: string, option: OptionSpec, text: string, shown: string): void => {
    let value: string | number = text
    if (option.type !== 'string' && option.type !== 'list') {
      try {
        value = parseValue(option, text, shown)
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err))
      }
    }
    if (option.type === 'list') (values[name] as string[]).push(text)
    else values[name] = value
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (i === end) { positionals.push(...argv.slice(i + 1)); break }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = arg.slice(2, eq === -1 ? undefined : eq)
      const option = Object.hasOwn(spec.options, name) ? spec.options[name]! : undefined
      if (option === undefined) fail(`${spec.name}: unknown option --${name}${suggestion(spec, name)}`)
      const shown = `--${name}`
      optionArgs.push(arg)
      if (option!.type === 'boolean') {
        if (eq !== -1) fail(`${shown} takes no value (got "${arg.slice(eq + 1)}")`)
        values[name] = true
        continue
      }
      let text: string
      if (eq !== -1) text = arg.slice(eq + 1)
      else {
        const next = argv[i + 1]
        if (next === undefined || i + 1 === end || looksLikeOption(next)) fail(`${shown} needs a value (${valueName(option!)})`)
        text = next!
        optionArgs.push(text)
        i++
      }
      set(name, option!, text, shown)
    } else if (arg.startsWith('-') && arg.length > 1) {
      optionArgs.push(arg)
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!
        const entry = Object.entries(spec.options).find(([, o]) => o.short === letter)
        if (entry === undefined) fail(`${spec.name}: unknown option -${letter}${arg.length > 2 ? ` (in ${arg})` : ''}`)
        const [name, option] = entry!
        const shown = `-${letter}`
        if (option.type === 'boolean') { values[name] = true; continue }
        let text = arg.slice(j + 1)
        if (text === '') {
          const next = argv[i + 1]
          if (next === undefined || i + 1 === end || looksLikeOption(next)) fail(`${shown} needs a value (${valueName(option)})`)
          text = next!
          optionArgs.push(text)
          i++
        }
        set(name, option, text, shown)
        break
      }
    } else {
      positionals.push(arg)
    }
  }

  const required = spec.positionals.filter((p) => p.required !== false)
  if (positionals.length < required.length) {
    fail(`${spec.name} needs ${required.slice(positionals.length).map((p) => p.name).join(' and ')}`)
  }
  if (positionals.length > spec.positionals.length) {
    const names = spec.positionals.map((p) => p.name)
    fail(spec.positionals.length === 0
      ? `${spec.name} takes no arguments, got: ${positionals.join(' ')}`
      : `${spec.name} takes ${names.length === 1 ? 'exactly one' : 'only'} ${names.join(' and ')}, got ${positionals.length}: ${positionals.join(' ')}`)
  }
  return { values: values as OptionValues<C['options']>, positionals, optionArgs }
}

/** The BAD_ARGUMENT error for a command: `MESSAGE (see zentorrent CMD --help)`. */
export function badArgument (spec: Pick<CommandSpec, 'name'>, message: string): ZentorrentError {
  return new ZentorrentError('BAD_ARGUMENT', `${message} (see zentorrent ${spec.name} --help)`)
}

function isShortCluster (spec: CommandSpec, arg: string): boolean {
  // `-qh` asks for help; `-ohelp` does not (o takes a value: "help" is its value).
  for (const letter of arg.slice(1)) {
    if (letter === 'h') return true
    const option = Object.values(spec.options).find((o) => o.short === letter)
    if (option === undefined || option.type !== 'boolean') return false
  }
  return false
}

function looksLikeOption (arg: string): boolean {
  return /^--[^-]/.test(arg) || /^-[a-zA-Z]/.test(arg)
}

function suggestion (spec: CommandSpec, name: string): string {
  if (name.length <= 1) return ''
  let best: string | null = null
  let bestDistance = Infinity
  for (const [candidate, option] of Object.entries(spec.options)) {
    if (option.hidden === true) continue
    const distance = candidate.startsWith(name) ? 1 : editDistance(name, candidate)
    if (distance < bestDistance) { best = candidate; bestDistance = distance }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean --${best}?` : ''
}

/** Levenshtein distance (option names are short: the quadratic table is nothing). */
export function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]!
}

// --- values -------------------------------------------------------------------------------------------------

function parseValue (option: OptionSpec, text: string, shown: string): number {
  const value = option.type === 'count' ? parseWhole(text, shown)
    : option.type === 'port' ? parsePort(text, shown, option.min ?? 0)
      : option.type === 'number' ? parseDecimal(text, shown)
        : option.type === 'size' ? parseSize(text, shown)
          : option.type === 'rate' ? parseRate(text, shown)
            : parseDuration(text, shown)
  if (option.min !== undefined && value < option.min) {
    throw new ZentorrentError('BAD_ARGUMENT', `${shown} must be at least ${option.min}, got "${text}"`)
  }
  if (option.max !== undefined && value > option.max) {
    throw new ZentorrentError('BAD_ARGUMENT', `${shown} must be at most ${option.max}, got "${text}"`)
  }
  return value
}

function negative (text: string, shown: string): void {
  if (/^\s*-/.test(text)) throw new ZentorrentError('BAD_ARGUMENT', `${shown} must not be negative, got "${text}"`)
}

/** A whole number ≥ 0. */
export function parseWhole (text: string, shown = 'the value'): number {
  negative(text, shown)
  if (!/^\d+$/.test(text.trim())) throw new ZentorrentError('BAD_ARGUMENT', `${shown} wants a whole number, got "${text}"`)
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new ZentorrentError('BAD_ARGUMENT', `${shown}: ${text} is too large`)
  return n
}

/** A decimal number ≥ 0 (`0.5`, `2`). */
export function parseDecimal (text: string, shown = 'the value'): number {
  negative(text, shown)
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text.trim())) throw new ZentorrentError('BAD_ARGUMENT', `${shown} wants a number (e.g. 1.5), got "${text}"`)
  return Number(text)
}

/** A TCP port, `min` (default 0: any free port) to 65535. */
export function parsePort (text: string, shown = '--port', min = 0): number {
  const trimmed = text.trim()
  const n = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN
  if (!(n >= min && n <= 65535)) {
    throw new ZentorrentError('BAD_ARGUMENT', `${shown} wants a port number from ${min} to 65535${min === 0 ? ' (0: any free port)' : ''}, got "${text}"`)
  }
  return n
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4
}

/** Bytes: `300000`, `500k`, `1M`, `1.5MiB`, `2GB` (see the module comment for the units). */
export function parseSize (text: string, shown = 'the size'): number {
  negative(text, shown)
  const match = /^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$/i.exec(text.trim())
  const scale = match === null ? undefined : SIZE_UNITS[match[2]!.toLowerCase()]
  if (match === null || scale === undefined) {
    throw new ZentorrentError('BAD_ARGUMENT', `${shown} wants a size in bytes such as 300000, 500k, 1M or 1.5MiB, got "${text}"`)
  }
  const bytes = Math.round(Number(match[1]) * scale)
  if (!Number.isSafeInteger(bytes)) throw new ZentorrentError('BAD_ARGUMENT', `${shown}: ${text} is too large`)
  return bytes
}

/** Bytes per second: a size, optionally followed by `/s` (`1M` = `1M/s` = 1 MiB/s). */
export function parseRate (text: string, shown = 'the rate'): number {
  negative(text, shown)
  const bare = text.trim().replace(/\/s$/i, '')
  try {
    return parseSize(bare, shown)
  } catch {
    throw new ZentorrentError('BAD_ARGUMENT', `${shown} wants bytes per second such as 300000, 500k or 1M, got "${text}"`)
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }

/** Seconds: `90`, `30s`, `5m`, `1h30m`, `1.5h`, `250ms`. */
export function parseDuration (text: string, shown = 'the duration'): number {
  negative(text, shown)
  const trimmed = text.trim()
  if (/^(\d+(\.\d*)?|\.\d+)$/.test(trimmed)) return Number(trimmed)
  const part = /(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)/gy
  let seconds = 0
  let consumed = 0
  for (let match = part.exec(trimmed); match !== null; match = part.exec(trimmed)) {
    seconds += Number(match[1]) * DURATION_UNITS[match[2]!]!
    consumed = part.lastIndex
  }
  if (trimmed === '' || consumed !== trimmed.length) {
    throw new ZentorrentError('BAD_ARGUMENT', `${shown} wants a duration such as 90, 30s, 5m or 1h30m, got "${text}"`)
  }
  return seconds
}

// --- help ---------------------------------------------------------------------------------------------------

const VALUE_NAMES: Record<OptionType, string> = {
  boolean: '',
  string: 'TEXT',
  list: 'TEXT',
  count: 'N',
  number: 'N',
  size: 'SIZE',
  rate: 'RATE',
  duration: 'DURATION',
  port: 'PORT'
}

const UNIT_NOTES: Partial<Record<OptionType, string>> = {
  size: 'SIZE      bytes: 300000, 500k, 1M, 1.5MiB (K, M, G: 1024-based, as aria2c and curl; KB, MB, GB: 1000-based)',
  rate: 'RATE      bytes per second, written as a SIZE: 300000, 500k, 1M (also 1M/s)',
  duration: 'DURATION  seconds (90) or with units: 30s, 5m, 2h, 1h30m',
  port: 'PORT      0 to 65535'
}

/** Help text is wrapped to this many columns. */
export const HELP_WIDTH = 80

/**
 * `text` after `head` (a column `head`'s length wide), wrapped at word boundaries to `width` columns in all,
 * continuation lines indented to that column.
 */
export function wrapText (head: string, text: string, width: number): string {
  const indent = ' '.repeat([...head].length)
  const room = Math.max(20, width - indent.length)
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/ +/)) {
    if (line !== '' && [...line].length + 1 + [...word].length > room) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  lines.push(line)
  return lines.map((l, i) => (i === 0 ? head : indent) + l).join('\n')
}

function valueName (option: OptionSpec): string {
  return option.value ?? VALUE_NAMES[option.type]
}

/** The `--help` text of a command, generated from its declaration. */
export function formatHelp (spec: CommandSpec): string {
  const lines: string[] = []
  spec.usage.forEach((usage, i) => lines.push(`${i === 0 ? 'Usage:' : '      '} zentorrent ${usage}`))
  lines.push('', wrapText('', spec.description.replace(/\s*\n\s*/g, ' '), HELP_WIDTH))
  if (spec.positionals.length > 0) {
    lines.push('', 'Arguments:')
    const width = Math.max(...spec.positionals.map((p) => p.name.length))
    for (const p of spec.positionals) lines.push(wrapText(`  ${p.name.padEnd(width)}  `, p.help, HELP_WIDTH))
  }
  const entries = [...Object.entries(spec.options).filter(([, o]) => o.hidden !== true), ['help', HELP] as const]
  const left = entries.map(([name, o]) => {
    const value = o.type === 'boolean' ? '' : ` ${valueName(o)}`
    return `${o.short !== undefined ? `-${o.short}, ` : '    '}--${name}${value}${o.type === 'list' ? '…' : ''}`
  })
  const width = Math.max(...left.map((l) => l.length))
  lines.push('', 'Options:')
  entries.forEach(([, o], i) => {
    const fallback = o.defaultText ?? (o.default === undefined || o.default === false ? undefined : String(o.default))
    const repeat = o.type === 'list' ? ' (repeatable)' : ''
    lines.push(wrapText(`  ${left[i]!.padEnd(width)}  `, `${o.help}${repeat}${fallback === undefined ? '' : ` (default ${fallback})`}`, HELP_WIDTH))
  })
  const types = new Set(entries.map(([, o]) => o.type))
  const notes = (Object.keys(UNIT_NOTES) as OptionType[]).filter((t) => types.has(t)).map((t) => UNIT_NOTES[t]!)
  if (notes.length > 0) {
    lines.push('', 'Values:')
    for (const note of notes) lines.push(wrapText('  ' + note.slice(0, 10), note.slice(10), HELP_WIDTH))
  }
  if (spec.examples.length > 0) {
    lines.push('', 'Examples:')
    for (const [command, what] of spec.examples) lines.push(`  ${command}`, `      ${what}`)
  }
  for (const section of spec.sections ?? []) {
    lines.push('', `${section.title}:`, ...section.text.split('\n').map((l) => l === '' ? '' : `  ${l}`))
  }
  return lines.join('\n') + '\n'
}
