#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=8388608 node --max-semi-space-size=1 --liftoff-only
/**
 * zentorrent's command line: argument dispatch only. Each command lives in lib/cli/<command>.ts and exports
 * `run(argv: string[]): Promise<number>` (the exit status); its options are declared in lib/cli/commands.ts.
 * Errors a command cannot handle reach `main` below and are reported in one line on stderr.
 */
import { access } from 'node:fs/promises'
import { COMMANDS, globalHelp, type CommandName } from '../lib/cli/commands.js'
import { reportError } from '../lib/cli/report.js'
import { ZentorrentError } from '../lib/errors.js'
import { VERSION } from '../lib/version.js'

interface Command { run: (argv: string[]) => Promise<number> }

async function load (name: CommandName): Promise<Command> {
  switch (name) {
    case 'download': return await import('../lib/cli/download.js')
    case 'info': return await import('../lib/cli/info.js')
    case 'announce': return await import('../lib/cli/announce.js')
    case 'seed': return await import('../lib/cli/seed.js')
    case 'serve': return await import('../lib/cli/serve.js')
    case 'create': return await import('../lib/cli/create.js')
    case 'demo': return await import('../lib/cli/demo.js')
  }
}

function isCommand (word: string): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word)
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

async function main (argv: string[]): Promise<number> {
  const first = argv[0]
  if (first === undefined) {
    process.stderr.write(globalHelp(VERSION))
    return 2
  }
  if (first === '-h' || first === '--help') {
    process.stdout.write(globalHelp(VERSION))
    return 0
  }
  if (first === 'help') {
    // `zentorrent help seed` is `zentorrent seed --help`
    const topic = argv[1]
    if (topic === undefined) { process.stdout.write(globalHelp(VERSION)); return 0 }
    if (!isCommand(topic)) throw new ZentorrentError('BAD_ARGUMENT', `no command "${topic}" (commands: ${COMMANDS.join(', ')})`)
    return await (await load(topic)).run(['--help'])
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`zentorrent ${VERSION}\n`)
    return 0
  }
  if (isCommand(first)) return await (await load(first)).run(argv.slice(1))
  // `zentorrent FILE.torrent ...` is short for `zentorrent download FILE.torrent ...`; a bare word that is neither
  // a command nor a file was most likely meant as a command.
  if (/^[a-z]+$/.test(first) && !(await exists(first))) {
    throw new ZentorrentError('BAD_ARGUMENT', `"${first}" is neither a command (${COMMANDS.join(', ')}) nor a file (see zentorrent --help)`)
  }
  return await (await load('download')).run(argv)
}

// A reader that went away (`zentorrent ... --json | head`): stop as SIGPIPE would stop a C program, through the
// command's own SIGTERM handling so it cleans up, instead of crashing on an unhandled EPIPE. The `-o -` pipeline
// listens for its own errors and is left to them.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
  if (process.stdout.listenerCount('error') > 1) return
  process.kill(process.pid, 'SIGTERM')
})

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status },
  (err: unknown) => { process.exitCode = reportError(err) }
)
