/**
 * `zentorrent seed FILE.torrent DIR [options]`: verify DIR's data and seed it (until Ctrl-C, `--seed-ratio` or
 * `--seed-time`). Pieces DIR lacks are downloaded first when peers have them — a seed is a download that is
 * already complete.
 */
import { ZentorrentError } from '../errors.js'
import { run as download } from './download.js'

export async function run (argv: string[]): Promise<number> {
  const positionals = argv.filter((a) => !a.startsWith('-'))
  if (argv.includes('-h') || argv.includes('--help')) return await download(['--help'])
  if (positionals.length < 2) throw new ZentorrentError('BAD_ARGUMENT', 'usage: zentorrent seed FILE.torrent DIR [options]')
  const [torrent, dir] = positionals as [string, string]
  const rest = [...argv]
  rest.splice(rest.indexOf(dir), 1)
  const seedOptions = argv.some((a) => a === '--seed-ratio' || a === '--seed-time') ? [] : ['--seed']
  return await download([torrent, '-o', dir, ...seedOptions, ...rest.filter((a) => a !== torrent)])
}
