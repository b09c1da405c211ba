#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=8388608 node --max-semi-space-size=1
/**
 * zentorrent's command line: argument dispatch only. Each command lives in lib/cli/<command>.ts and exports
 * `run(argv: string[]): Promise<number>` (the exit status); errors it cannot handle reach `main` below and are
 * reported in one line on stderr.
 */
import { USAGE, COMMANDS, type CommandName } from '../lib/cli/usage.js'
import { reportError } from '../lib/cli/report.js'

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

async function main (argv: string[]): Promise<number> {
  const first = argv[0]
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(USAGE)
    return first === undefined ? 1 : 0
  }
  if (first === '-V' || first === '--version') {
    const { VERSION } = await import('../lib/version.js')
    process.stdout.write(`zentorrent ${VERSION}\n`)
    return 0
  }
  // `zentorrent FILE.torrent ...` is short for `zentorrent download FILE.torrent ...`
  const named = (COMMANDS as readonly string[]).includes(first)
  const name: CommandName = named ? first as CommandName : 'download'
  const rest = named ? argv.slice(1) : argv
  const command = await load(name)
  return await command.run(rest)
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status },
  (err: unknown) => { process.exitCode = reportError(err) }
)
