/**
 * The argument parser (lib/cli/args.ts) and the declarations it reads (lib/cli/commands.ts): grammar, value
 * types with units, every misuse refused by name, and help generated from the declaration.
 */
import t, { type Test } from 'tap'
import {
  parseCommand, parseSize, parseRate, parseDuration, parsePort, parseWhole, parseDecimal, formatHelp, editDistance,
  type CommandSpec
} from '../lib/cli/args.js'
import { COMMAND_SPECS, DOWNLOAD_COMMAND, SEED_COMMAND, CREATE_COMMAND, globalHelp } from '../lib/cli/commands.js'
import { isZentorrentError } from '../lib/errors.js'

const SPEC = {
  name: 'try',
  summary: 'a command for tests',
  usage: ['try FILE [options]'],
  description: 'Tries things.',
  positionals: [{ name: 'FILE', help: 'a file' }, { name: 'DIR', help: 'a dir', required: false }],
  options: {
    output: { type: 'string', short: 'o', value: 'DIR', help: 'where' },
    quiet: { type: 'boolean', short: 'q', help: 'hush' },
    force: { type: 'boolean', short: 'f', help: 'force' },
    peer: { type: 'list', value: 'HOST:PORT', help: 'a peer' },
    connections: { type: 'count', short: 'c', min: 1, default: 50, help: 'at most' },
    ratio: { type: 'number', help: 'a ratio' },
    limit: { type: 'rate', default: 0, help: 'a rate' },
    piece: { type: 'size', help: 'a size' },
    time: { type: 'duration', help: 'a time' },
    port: { type: 'port', short: 'p', help: 'a port' },
    old: { type: 'string', hidden: true, help: 'hidden' }
  },
  examples: [['try x -q', 'quietly']]
} as const satisfies CommandSpec

function parse (argv: string[]): ReturnType<typeof parseCommand<typeof SPEC>> {
  return parseCommand(argv, SPEC, { out: { write: () => {} } })
}

function refused (t: Test, argv: string[], message: RegExp): void {
  let err: unknown = null
  try { parse(argv) } catch (e) { err = e }
  t.ok(isZentorrentError(err, 'BAD_ARGUMENT'), `${argv.join(' ')}: BAD_ARGUMENT`)
  t.match((err as Error | null)?.message ?? '', message, argv.join(' '))
  t.match((err as Error | null)?.message ?? '', /\(see zentorrent try --help\)$/, 'ends with where to look')
}

t.test('the grammar: long, long=value, short, short-with-value, clusters, --, lists, last one wins', async (t) => {
  const p = parse(['-qf', 'a.torrent', '--output=out', '--peer', 'h:1', '-c3', '--peer=h:2', '-p', '0', '-o', 'other', 'dir'])!
  t.same(p.positionals, ['a.torrent', 'dir'])
  t.equal(p.values.quiet, true)
  t.equal(p.values.force, true)
  t.equal(p.values.output, 'other', 'the last -o wins')
  t.same(p.values.peer, ['h:1', 'h:2'], 'a list collects every occurrence')
  t.equal(p.values.connections, 3)
  t.equal(p.values.port, 0)
  t.same(p.optionArgs, ['-qf', '--output=out', '--peer', 'h:1', '-c3', '--peer=h:2', '-p', '0', '-o', 'other'], 'options as given, positionals removed')
  const q = parse(['x', '--', '--quiet'])!
  t.same(q.positionals, ['x', '--quiet'], 'after --, everything is positional')
  t.same(parse(['x', '-'])!.positionals, ['x', '-'], 'a lone dash is positional')
  t.equal(q.values.quiet, false)
  t.same(parse(['-o', '-', 'x'])!.values.output, '-', '-o - takes the lone dash as its value')
  t.same(parse(['--output=--odd', 'x'])!.values.output, '--odd', '--name=VALUE passes a dash-led value on purpose')
})

t.test('defaults: booleans false, lists empty, declared defaults, others undefined', async (t) => {
  const p = parse(['x'])!
  t.strictSame({ ...p.values }, { quiet: false, force: false, peer: [], connections: 50, limit: 0 })
  t.equal(p.values.output, undefined)
  t.equal(p.values.port, undefined)
})

t.test('a value-taking option followed by an option has no value; a negative number is a value, refused by name', async (t) => {
  refused(t, ['x', '--output', '--quiet'], /--output needs a value \(DIR\)/)
  refused(t, ['x', '-o'], /-o needs a value/)
  refused(t, ['x', '--limit', '-5'], /--limit must not be negative, got "-5"/)
  refused(t, ['x', '-c', '-1'], /-c must not be negative/)
  refused(t, ['x', '--output', '--', 'y'], /--output needs a value/)
})

t.test('every misuse names the option', async (t) => {
  refused(t, ['x', '--bogus'], /^try: unknown option --bogus \(/)
  refused(t, ['x', '--quite'], /unknown option --quite; did you mean --quiet\?/)
  refused(t, ['x', '--conections', '3'], /did you mean --connections\?/)
  refused(t, ['x', '-z'], /unknown option -z/)
  refused(t, ['x', '-qz'], /unknown option -z \(in -qz\)/)
  refused(t, ['x', '--quiet=yes'], /--quiet takes no value \(got "yes"\)/)
  refused(t, ['x', '--connections', 'abc'], /--connections wants a whole number, got "abc"/)
  refused(t, ['x', '--connections', '0'], /--connections must be at least 1, got "0"/)
  refused(t, ['x', '--connections', '2.5'], /whole number/)
  refused(t, ['x', '--ratio', 'x1'], /--ratio wants a number/)
  refused(t, ['x', '--port', '65536'], /--port wants a port number from 0 to 65535 \(0: any free port\), got "65536"/)
  refused(t, ['x', '-p', 'http'], /-p wants a port number/)
  refused(t, ['x', '--piece', '1Q'], /--piece wants a size in bytes such as 300000, 500k, 1M or 1\.5MiB, got "1Q"/)
  refused(t, ['x', '--limit', 'fast'], /--limit wants bytes per second/)
  refused(t, ['x', '--time', '5 minutes'], /--time wants a duration such as 90, 30s, 5m or 1h30m/)
  refused(t, [], /^try needs FILE \(/)
  refused(t, ['a', 'b', 'c'], /^try takes only FILE and DIR, got 3: a b c/)
  refused(t, ['x', '--old'], /--old needs a value/)
})

t.test('--help anywhere before -- prints the generated help and returns null', async (t) => {
  for (const argv of [['--help'], ['x', '-h'], ['-qh', 'x'], ['--bogus', '--help']]) {
    let printed = ''
    t.equal(parseCommand(argv, SPEC, { out: { write: (s: string) => { printed += s } } }), null, argv.join(' '))
    t.equal(printed, formatHelp(SPEC))
  }
  t.equal(parse(['--', '--help'])?.positionals[0], '--help', 'after --, --help is a file name')
  t.equal(parse(['-ohelp', 'x'])?.values.output, 'help', '-ohelp is -o with the value "help"')
})

t.test('sizes: bare bytes, K/M/G/T binary, KB/MB/GB decimal, fractions rounded', async (t) => {
  const cases: Array<[string, number]> = [
    ['300000', 300000], ['0', 0], ['500k', 512000], ['500K', 512000], ['1M', 1048576], ['1MiB', 1048576],
    ['1.5MiB', 1572864], ['1.5 MiB', 1572864], ['2G', 2 * 1024 ** 3], ['1T', 1024 ** 4], ['1kB', 1000],
    ['1MB', 1_000_000], ['1GB', 1e9], ['0.5k', 512], ['.5k', 512], ['3b', 3], ['1.0001k', 1024]
  ]
  for (const [text, bytes] of cases) t.equal(parseSize(text), bytes, text)
  for (const bad of ['', 'k', '1x', '1 M B', '-1', '1e3', 'NaN', '9999999T']) t.throws(() => parseSize(bad), bad)
})

t.test('rates: a size per second, /s optional', async (t) => {
  t.equal(parseRate('1M'), 1048576)
  t.equal(parseRate('1M/s'), 1048576)
  t.equal(parseRate('500KiB/s'), 512000)
  t.equal(parseRate('300000'), 300000)
  for (const bad of ['1M/h', '/s', 'fast', '-1M']) t.throws(() => parseRate(bad), bad)
})

t.test('durations: seconds bare or with units, combinable', async (t) => {
  const cases: Array<[string, number]> = [['90', 90], ['30s', 30], ['5m', 300], ['2h', 7200], ['1h30m', 5400], ['1.5h', 5400], ['250ms', 0.25], ['1d', 86400], ['0', 0], ['1m30s', 90]]
  for (const [text, seconds] of cases) t.equal(parseDuration(text), seconds, text)
  for (const bad of ['', 's', '5x', '5 m', '-5', 'm5', '1h 30m']) t.throws(() => parseDuration(bad), bad)
})

t.test('ports, whole numbers, decimals', async (t) => {
  t.equal(parsePort('0'), 0)
  t.equal(parsePort('65535'), 65535)
  t.throws(() => parsePort('0', '-p', 1), /from 1 to 65535/)
  for (const bad of ['65536', '-1', '1.5', 'x', '']) t.throws(() => parsePort(bad), bad)
  t.equal(parseWhole('42'), 42)
  t.throws(() => parseWhole('99999999999999999999'), /too large/)
  t.equal(parseDecimal('1.5'), 1.5)
  t.equal(parseDecimal('2.'), 2)
})

t.test('editDistance', async (t) => {
  t.equal(editDistance('', ''), 0)
  t.equal(editDistance('quite', 'quiet'), 2)
  t.equal(editDistance('port', 'sport'), 1)
  t.equal(editDistance('abc', ''), 3)
})

t.test('the generated help: usage, arguments, every listed option with its value and default, values, examples', async (t) => {
  const help = formatHelp(SPEC)
  t.match(help, /^Usage: zentorrent try FILE \[options\]\n\nTries things\.\n/)
  t.match(help, /\n  FILE  a file\n  DIR   a dir\n/)
  t.match(help, /  -c, --connections N\s+at most \(default 50\)\n/)
  t.match(help, /      --peer HOST:PORT…\s+a peer \(repeatable\)\n/)
  t.match(help, /  -h, --help\s+this text\n/)
  t.notMatch(help, /--old/, 'hidden options are not listed')
  t.match(help, /\nValues:\n  SIZE [\s\S]*\n  RATE [\s\S]*\n  DURATION [\s\S]*\n  PORT /, 'the units of the value types used')
  t.match(help, /\nExamples:\n  try x -q\n      quietly\n/)
  for (const line of help.split('\n')) t.ok([...line].length <= 80, `within 80 columns: ${line}`)
})

t.test('every command\'s declaration: help within 80 columns, short letters unique, seed has no -o', async (t) => {
  for (const spec of COMMAND_SPECS) {
    const help = formatHelp(spec)
    t.match(help, new RegExp(`^Usage: zentorrent ${spec.name}`), spec.name)
    t.match(help, /\nExamples:\n/, `${spec.name} has examples`)
    const long = help.split('\n').filter((l) => [...l].length > 80)
    t.same(long, [], `${spec.name}: no line over 80 columns`)
    const shorts = Object.values(spec.options as Record<string, { short?: string }>).map((o) => o.short).filter((s) => s !== undefined)
    t.equal(new Set(shorts).size, shorts.length, `${spec.name}: short letters unique`)
    t.notOk(shorts.includes('h'), `${spec.name}: -h is help`)
  }
  t.notOk('output' in SEED_COMMAND.options, 'seed takes DIR as an argument, not -o')
  t.ok('upload-limit' in SEED_COMMAND.options)
  t.equal(DOWNLOAD_COMMAND.options.connections.default, 50)
  t.match(formatHelp(DOWNLOAD_COMMAND), /Display:\n[\s\S]*peers 3\/12: connected to 3 peers, 12 addresses known/, 'peers C/K documented')
  t.match(formatHelp(DOWNLOAD_COMMAND), /done   how much of the group is verified/, 'the availability legend')
  t.match(formatHelp(CREATE_COMMAND), /NAME\.torrent in\s+the current directory/)
  const global = globalHelp('9.9.9')
  for (const spec of COMMAND_SPECS) t.match(global, new RegExp(`\\n  ${spec.name} +${spec.summary.replace(/[()]/g, '\\$&')}\\n`))
  t.match(global, /Exit status:\n  0 /)
})
