/**
 * Every misuse and error a user can meet on the command line, as a table: the built CLI is run with each, and
 * its exit status and message are checked. An error is one line on stderr, `zentorrent: SENTENCE [CODE]`, with no
 * stack trace; the statuses are the README's table (lib/cli/report.ts EXIT_STATUSES).
 *
 * The read-only file system case runs the CLI in a private mount namespace (`unshare -m`) with a read-only
 * tmpfs mounted there, so nothing outside the test sees the mount and nothing is left behind.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { createTorrent } from '../lib/index.js'
import { EXIT_STATUSES } from '../lib/cli/report.js'
import { COMMANDS } from '../lib/cli/commands.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { ZENTORRENT, requireBuiltCli, freePort } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

interface Outcome { status: number | null, stdout: string, stderr: string, ms: number }

/** Run the built CLI; killed at `timeoutMs`. */
async function zentorrent (args: readonly string[], opts: { timeoutMs?: number, wrap?: string[] } = {}): Promise<Outcome> {
  const command = opts.wrap === undefined ? [process.execPath, ZENTORRENT, ...args] : [...opts.wrap, process.execPath, ZENTORRENT, ...args]
  const started = Date.now()
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000)
  const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  clearTimeout(timer)
  return { status, stdout, stderr, ms: Date.now() - started }
}

t.before(requireBuiltCli)

interface Case {
  /** What the user did. */
  what: string
  args: string[]
  status: number
  /** The message (stderr for errors). */
  message: RegExp
  code?: string
}

t.test('the table of misuses and errors: message and exit status', { timeout: 240_000 }, async (t) => {
  const dir = await tempDir(t, 'cli-errors')
  await writeFile(join(dir, 'f.bin'), seededBytes(100_000, 1))
  const single = join(dir, 'f.torrent')
  await writeFile(single, await createTorrent(join(dir, 'f.bin'), { pieceLength: 16384 }))
  await mkdir(join(dir, 'tree', 'sub'), { recursive: true })
  await writeFile(join(dir, 'tree', 'a'), seededBytes(1000, 2))
  await writeFile(join(dir, 'tree', 'sub', 'b'), seededBytes(2000, 3))
  const multi = join(dir, 'tree.torrent')
  await writeFile(multi, await createTorrent(join(dir, 'tree'), { pieceLength: 16384 }))
  const garbage = join(dir, 'garbage.torrent')
  await writeFile(garbage, seededBytes(3000, 9))
  const aFile = join(dir, 'f.bin')
  const out = join(dir, 'out')
  const nobody = `127.0.0.1:${await freePort()}`
  const busy: Server = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { busy.close() })
  const busyPort = String((busy.address() as { port: number }).port)
  const dl = (...more: string[]): string[] => [single, '-o', out, '--peer', nobody, '--no-trackers', ...more]

  const cases: Case[] = [
    // arguments
    { what: 'no arguments at all', args: [], status: 2, message: /^zentorrent [\d.]+ — [^\n]*\n\nUsage: zentorrent COMMAND/ },
    { what: 'a word that is neither command nor file', args: ['downlaod'], status: 2, message: /"downlaod" is neither a command \(download, seed, .*\) nor a file/, code: 'BAD_ARGUMENT' },
    { what: 'help for an unknown command', args: ['help', 'nope'], status: 2, message: /no command "nope"/, code: 'BAD_ARGUMENT' },
    { what: 'an unknown option', args: dl('--bogus'), status: 2, message: /download: unknown option --bogus \(see zentorrent download --help\)/, code: 'BAD_ARGUMENT' },
    { what: 'a misspelt option', args: dl('--uplaod-limit', '5'), status: 2, message: /unknown option --uplaod-limit; did you mean --upload-limit\?/, code: 'BAD_ARGUMENT' },
    { what: 'an unknown short option', args: dl('-x'), status: 2, message: /download: unknown option -x/, code: 'BAD_ARGUMENT' },
    { what: 'a value for a flag', args: dl('--json=yes'), status: 2, message: /--json takes no value \(got "yes"\)/, code: 'BAD_ARGUMENT' },
    { what: 'a missing value', args: [single, '--stall-timeout'], status: 2, message: /--stall-timeout needs a value \(DURATION\)/, code: 'BAD_ARGUMENT' },
    { what: 'an option where a value belongs', args: [single, '-o', '--json'], status: 2, message: /-o needs a value \(DIR\)/, code: 'BAD_ARGUMENT' },
    { what: '--connections abc', args: dl('--connections', 'abc'), status: 2, message: /--connections wants a whole number, got "abc"/, code: 'BAD_ARGUMENT' },
    { what: '--connections 0', args: dl('-c', '0'), status: 2, message: /-c must be at least 1, got "0"/, code: 'BAD_ARGUMENT' },
    { what: 'a negative limit', args: dl('--upload-limit', '-5'), status: 2, message: /--upload-limit must not be negative, got "-5"/, code: 'BAD_ARGUMENT' },
    { what: 'a rate without a number', args: dl('--download-limit', 'fast'), status: 2, message: /--download-limit wants bytes per second such as 300000, 500k or 1M, got "fast"/, code: 'BAD_ARGUMENT' },
    { what: 'a bad duration', args: dl('--seed-time', '5x'), status: 2, message: /--seed-time wants a duration such as 90, 30s, 5m or 1h30m, got "5x"/, code: 'BAD_ARGUMENT' },
    { what: 'a bad ratio', args: dl('--seed-ratio', 'lots'), status: 2, message: /--seed-ratio wants a number \(e\.g\. 1\.5\), got "lots"/, code: 'BAD_ARGUMENT' },
    { what: 'a port out of range', args: dl('--port', '70000'), status: 2, message: /--port wants a port number from 0 to 65535 \(0: any free port\), got "70000"/, code: 'BAD_ARGUMENT' },
    { what: 'a port that is no number', args: dl('-p', 'http'), status: 2, message: /-p wants a port number/, code: 'BAD_ARGUMENT' },
    { what: 'a busy port', args: dl('--bind', '127.0.0.1', '-p', busyPort), status: 2, message: new RegExp(`port ${busyPort} on 127\\.0\\.0\\.1 is in use by another program \\(choose another with -p PORT, or -p 0`), code: 'PORT_IN_USE' },
    { what: 'an address not of this machine', args: dl('--bind', '192.0.2.1', '-p', '6999'), status: 2, message: /--bind 192\.0\.2\.1: not an address of this machine/, code: 'BAD_ARGUMENT' },
    { what: 'no torrent', args: ['download'], status: 2, message: /download needs TORRENT \(see zentorrent download --help\)/, code: 'BAD_ARGUMENT' },
    { what: 'two torrents', args: [single, multi], status: 2, message: /download takes exactly one TORRENT, got 2/, code: 'BAD_ARGUMENT' },
    { what: 'seed without DIR', args: ['seed', single], status: 2, message: /seed needs DIR/, code: 'BAD_ARGUMENT' },
    { what: 'seed with one argument too many', args: ['seed', single, dir, 'x'], status: 2, message: /seed takes only FILE\.torrent and DIR, got 3/, code: 'BAD_ARGUMENT' },
    { what: 'seed --upload-limit 300000 X DIR: 300000 is the limit, DIR the missing directory', args: ['seed', '--upload-limit', '300000', single, join(dir, 'nowhere')], status: 2, message: /seed: no such directory: .*nowhere \(give the directory you downloaded "f\.bin" into\)/, code: 'NOT_FOUND' },
    { what: 'seed from a file', args: ['seed', single, aFile], status: 2, message: /seed: .*f\.bin is a file; give the directory/, code: 'BAD_ARGUMENT' },
    { what: 'demo with an argument', args: ['demo', 'now'], status: 2, message: /demo takes no arguments, got: now/, code: 'BAD_ARGUMENT' },
    { what: 'demo --size 0', args: ['demo', '--size', '0'], status: 2, message: /--size must be at least 1/, code: 'BAD_ARGUMENT' },
    { what: 'info without a torrent', args: ['info'], status: 2, message: /info needs TORRENT/, code: 'BAD_ARGUMENT' },
    { what: 'announce port 0', args: ['announce', single, '-p', '0'], status: 2, message: /-p wants a port number from 1 to 65535/, code: 'BAD_ARGUMENT' },
    { what: 'create without PATH', args: ['create'], status: 2, message: /create needs PATH/, code: 'BAD_ARGUMENT' },
    { what: 'create with a piece length not a power of two', args: ['create', aFile, '-o', join(dir, 'x.torrent'), '--piece-length', '1000'], status: 2, message: /power of two/, code: 'BAD_ARGUMENT' },
    { what: 'create over an existing file', args: ['create', aFile, '-o', single], status: 2, message: /f\.torrent already exists \(use --force to overwrite\)/, code: 'BAD_ARGUMENT' },
    { what: 'create into a missing directory', args: ['create', aFile, '-o', join(dir, 'no', 'x.torrent')], status: 2, message: /directory .*no does not exist/, code: 'NOT_FOUND' },
    { what: 'create from nothing', args: ['create', join(dir, 'nothing'), '-o', join(dir, 'x.torrent')], status: 2, message: /nothing: no such file or directory/, code: 'NOT_FOUND' },
    // the torrent and the output
    { what: 'a missing .torrent', args: [join(dir, 'missing.torrent')], status: 2, message: /no such file: .*missing\.torrent/, code: 'NOT_FOUND' },
    { what: 'a directory given as the torrent', args: [dir, '-o', out], status: 2, message: /is a directory; give the \.torrent file \(to seed a directory: zentorrent seed FILE\.torrent /, code: 'NOT_A_FILE' },
    { what: 'info of a directory', args: ['info', dir], status: 2, message: /is a directory; give the \.torrent file/, code: 'NOT_A_FILE' },
    { what: 'a file that is no torrent', args: [garbage, '-o', out], status: 2, message: /garbage\.torrent: /, code: 'NOT_BENCODE' },
    { what: '--stdout with a multi-file torrent', args: [multi, '--stdout', '--peer', nobody], status: 2, message: /-o - streams one file: a single-file torrent, or the one --select N names; "tree" has 2 \(or use -o DIR\)/, code: 'NOT_SINGLE_FILE' },
    { what: '--select of a file the torrent lacks', args: [multi, '-o', out, '--peer', nobody, '--select', '7'], status: 2, message: /--select: no file 7 \(the torrent has 2; see `zentorrent info`\)/, code: 'BAD_SELECTION' },
    { what: 'an output that is a file', args: [single, '-o', aFile, '--peer', nobody], status: 2, message: /-o .*f\.bin: that is a file, not a directory/, code: 'BAD_ARGUMENT' },
    { what: 'an output under a file', args: [single, '-o', join(aFile, 'sub'), '--peer', nobody], status: 2, message: /-o .*sub: .*f\.bin is a file, not a directory/, code: 'BAD_ARGUMENT' },
    { what: '--peer that is no address', args: dl('--peer', 'nowhere'), status: 2, message: /--peer wants HOST:PORT \(or \[IPv6\]:PORT\), got "nowhere"/, code: 'BAD_ARGUMENT' },
    // while running
    { what: 'no tracker and no --peer', args: [single, '-o', out, '-p', '0'], status: 1, message: /no way to find peers: the torrent names no tracker, no --peer was given and the DHT is off/, code: 'NO_PEERS' },
    { what: 'nobody answers within --stall-timeout', args: dl('-p', '0', '--stall-timeout', '1s'), status: 1, message: /no progress for 1 s/, code: 'NO_PEERS' },
    { what: 'announce with a trackerless torrent', args: ['announce', single], status: 2, message: /lists no trackers/, code: 'NO_TRACKERS' },
    // asking for help
    { what: '--version', args: ['--version'], status: 0, message: /^zentorrent \d+\.\d+\.\d+\n$/ },
    { what: '--help', args: ['--help'], status: 0, message: /Commands:\n {2}download /, code: undefined },
    { what: 'help seed', args: ['help', 'seed'], status: 0, message: /^Usage: zentorrent seed FILE\.torrent DIR/ }
  ]
  for (const command of COMMANDS) {
    cases.push({ what: `${command} --help`, args: [command, '--help'], status: 0, message: new RegExp(`^Usage: zentorrent ${command}[\\s\\S]*\\nOptions:\\n[\\s\\S]*\\nExamples:\\n`) })
  }

  // two at a time (the machine has two cores); results checked in the table's order
  const results: Outcome[] = []
  for (let i = 0; i < cases.length; i += 2) results.push(...await Promise.all(cases.slice(i, i + 2).map(async (c) => await zentorrent(c.args))))
  for (const [i, c] of cases.entries()) {
    const result = results[i]!
    t.equal(result.status, c.status, `${c.what}: exit ${c.status}`)
    const text = c.status === 0 ? result.stdout : result.stderr
    t.match(text, c.message, `${c.what}: the message`)
    if (c.code !== undefined) {
      const lines = result.stderr.split('\n').filter((l) => l !== '')
      t.equal(lines.length, 1, `${c.what}: one line on stderr (${JSON.stringify(result.stderr)})`)
      t.match(lines[0], new RegExp(`^zentorrent: \\S.* \\[${c.code}\\]$`), `${c.what}: zentorrent: SENTENCE [${c.code}]`)
      t.notMatch(result.stderr, /\n\s+at /, `${c.what}: no stack trace`)
    }
  }
  t.ok(EXIT_STATUSES.every(({ status }) => [0, 1, 2, 130].includes(status)), 'the documented statuses')
})

function canUnshare (): boolean {
  return spawnSync('unshare', ['-m', 'true']).status === 0
}

t.test('a read-only file system is reported as read-only (not ENOENT), exit 2', { timeout: 60_000 }, async (t) => {
  t.ok(canUnshare(), 'this test needs `unshare -m` (root, util-linux): it must run, not skip')
  const dir = await tempDir(t, 'cli-ro')
  await writeFile(join(dir, 'f.bin'), seededBytes(50_000, 4))
  const torrent = join(dir, 'f.torrent')
  await writeFile(torrent, await createTorrent(join(dir, 'f.bin'), { pieceLength: 16384 }))
  const ro = join(dir, 'ro')
  await mkdir(ro)
  // sh -c 'mount … && exec "$@"' runs the CLI inside the namespace that sees the read-only mount
  const wrap = ['unshare', '-m', 'sh', '-c', `mount -t tmpfs -o ro,size=1m tmpfs '${ro}' && exec "$@"`, 'sh']
  const cases: Array<{ what: string, args: string[], message: RegExp }> = [
    { what: 'a new output directory on it', args: [torrent, '-o', join(ro, 'out', 'deeper'), '--peer', '127.0.0.1:9'], message: /cannot write into -o .*out\/deeper: .*ro is on a read-only file system/ },
    { what: 'the read-only directory itself', args: [torrent, '-o', ro, '--peer', '127.0.0.1:9'], message: /ro is on a read-only file system \(choose a writable place\)/ },
    { what: 'create writing its .torrent there', args: ['create', join(dir, 'f.bin'), '-o', join(ro, 'x.torrent')], message: /read-only file system/ }
  ]
  for (const c of cases) {
    const result = await zentorrent(c.args, { wrap })
    t.equal(result.status, 2, `${c.what}: exit 2 (${result.stderr})`)
    t.match(result.stderr, c.message, c.what)
    t.match(result.stderr, /\[READ_ONLY\]\n$/, `${c.what}: code READ_ONLY`)
    t.notMatch(result.stderr, /ENOENT/, `${c.what}: not reported as ENOENT`)
  }
})
