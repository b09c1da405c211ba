/**
 * `zentorrent seed FILE.torrent DIR [options]`: verify DIR's data and seed it (until Ctrl-C, `--seed-ratio` or
 * `--seed-time`). Pieces DIR lacks are downloaded first when peers have them — a seed is a download that is
 * already complete — so the command is `download FILE.torrent -o DIR --seed` with its own declaration (for its
 * help and its errors), after two checks: DIR must exist, and a DIR holding none of the torrent's files gets a
 * warning (seeding from the wrong directory otherwise looks like a download stuck at 0 %).
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ZentorrentError, fromFsError } from '../errors.js'
import { parseCommand } from './args.js'
import { SEED_COMMAND } from './commands.js'
import { loadTorrentFile } from './info.js'
import { run as download } from './download.js'

export async function run (argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SEED_COMMAND)
  if (parsed === null) return 0
  const [torrent, dir] = parsed.positionals as [string, string]
  const meta = await loadTorrentFile(torrent)
  try {
    if (!(await stat(dir)).isDirectory()) throw new ZentorrentError('BAD_ARGUMENT', `seed: ${dir} is a file; give the directory holding the torrent's data`)
  } catch (err) {
    if (err instanceof ZentorrentError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ZentorrentError('NOT_FOUND', `seed: no such directory: ${dir} (give the directory you downloaded "${meta.name}" into)`, { cause: err })
    }
    throw fromFsError(err, dir)
  }
  const present = await Promise.all(meta.files.filter((f) => !f.pad).map(async (f) => await stat(join(dir, ...f.path)).then((s) => s.size > 0, () => false)))
  if (!present.includes(true)) {
    process.stderr.write(`zentorrent: warning: ${join(dir, meta.name)} holds none of the torrent's files; ` +
      'they will be downloaded if peers have them (is DIR the directory you downloaded into?)\n')
  }
  const { values, optionArgs } = parsed
  const seedOptions = values['seed-ratio'] !== undefined || values['seed-time'] !== undefined ? [] : ['--seed']
  return await download([...optionArgs, ...seedOptions, '-o', dir, '--', torrent])
}
