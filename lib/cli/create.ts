/**
 * `zentorrent create PATH -o OUT.torrent [--announce URL]... [--piece-length N] [--private] [--comment C]
 *  [--web-seed URL]... [--name NAME] [--no-date] [--force]`
 *
 * Each --announce is a tier of its own (BEP 12), in the order given. OUT is checked for writability before
 * hashing starts, so a long hash does not end in "permission denied"; an existing OUT is not overwritten
 * without --force (mktorrent refuses too). Names come from the file system (any byte but `/` and NUL) or --name:
 * printed through safeText.
 */
import { access, writeFile } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname, join } from 'node:path'
import { makeTorrent, type SkippedEntry } from '../create.js'
import { ZentorrentError, fromFsError } from '../errors.js'
import { parseCommandArgs } from './args.js'
import { reportError } from './report.js'
import { safeText } from './safe-text.js'

const HELP = `Usage: zentorrent create PATH -o OUT.torrent [options]

Make a .torrent from a file or a directory.

Options:
  -o, --output FILE       where to write the .torrent (required)
  -a, --announce URL      a tracker; repeat for more, each its own tier
      --piece-length N    bytes, a power of two from 16K to 64M (suffixes K, M); default: 1000-2000 pieces
      --private           private torrent (BEP 27): peers from the trackers only
  -c, --comment TEXT      a comment
  -w, --web-seed URL      a web seed (BEP 19); repeatable
  -n, --name NAME         the torrent's name (default: PATH's last component)
      --no-date           leave out the creation date (reproducible output)
  -f, --force             overwrite OUT if it exists
  -h, --help              this text
`

export async function run (argv: string[]): Promise<number> {
  try {
    return await create(argv)
  } catch (err) {
    return reportError(err)
  }
}

async function create (argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, {
    options: {
      output: { type: 'string', short: 'o' },
      announce: { type: 'string', short: 'a', multiple: true },
      'piece-length': { type: 'string' },
      private: { type: 'boolean' },
      comment: { type: 'string', short: 'c' },
      'web-seed': { type: 'string', short: 'w', multiple: true },
      name: { type: 'string', short: 'n' },
      'no-date': { type: 'boolean' },
      force: { type: 'boolean', short: 'f' }
    },
    help: HELP,
    badArgument: (message) => `${message} (see zentorrent create --help)`
  })
  if (parsed === null) return 0
  const { values, positionals } = parsed
  if (positionals.length !== 1) {
    throw new ZentorrentError('BAD_ARGUMENT', positionals.length === 0
      ? 'create needs the PATH of a file or directory (see zentorrent create --help)'
      : `create takes one PATH, got ${positionals.length}: ${positionals.join(' ')}`)
  }
  const path = positionals[0]
  const out = values.output
  if (out === undefined || out === '') throw new ZentorrentError('BAD_ARGUMENT', 'create needs -o OUT.torrent')
  const pieceLength = values['piece-length'] === undefined ? undefined : parseSize(values['piece-length'])

  await checkWritable(out, values.force === true)

  const created = await makeTorrent(path, {
    announce: (values.announce ?? []).map((url) => [url]),
    pieceLength,
    private: values.private === true,
    comment: values.comment,
    urlList: values['web-seed'] ?? [],
    name: values.name,
    creationDate: values['no-date'] === true ? null : new Date()
  })
  for (const entry of created.skipped) process.stderr.write(`zentorrent: skipped ${safeText(describe(path, entry))}\n`)

  try {
    await writeFile(out, created.torrent, { flag: values.force === true ? 'w' : 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw existsError(out)
    throw fromFsError(err, out)
  }

  const count = created.files.length
  process.stdout.write(`info hash: ${created.infoHashHex}\n`)
  process.stdout.write(`${safeText(out)}: ${safeText(created.name)}, ${count} file${count === 1 ? '' : 's'}, ${formatBytes(created.length)} in ` +
    `${created.pieceCount} piece${created.pieceCount === 1 ? '' : 's'} of ${formatBytes(created.pieceLength)}` +
    `${created.skipped.length > 0 ? `, ${created.skipped.length} skipped` : ''}\n`)
  return 0
}

/** "262144", "256K", "256KiB", "4M", "4MiB" → bytes (binary units: piece lengths are powers of two). */
export function parseSize (text: string): number {
  const match = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(text.trim())
  if (match === null) throw new ZentorrentError('BAD_ARGUMENT', `--piece-length: "${text}" is not a size (e.g. 262144, 256K, 4M)`)
  const unit = (match[2] ?? '').toLowerCase()
  const scale = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1
  return Number(match[1]) * scale
}

async function checkWritable (out: string, force: boolean): Promise<void> {
  try {
    await access(out, constants.F_OK)
    if (!force) throw existsError(out)
    await access(out, constants.W_OK)
    return
  } catch (err) {
    if (err instanceof ZentorrentError) throw err
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(err, out)
  }
  const dir = dirname(out)
  try {
    await access(dir, constants.W_OK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ZentorrentError('NOT_FOUND', `cannot write ${out}: directory ${dir} does not exist`, { cause: err })
    throw fromFsError(err, out)
  }
}

function existsError (out: string): ZentorrentError {
  return new ZentorrentError('BAD_ARGUMENT', `${out} already exists (use --force to overwrite)`)
}

function describe (root: string, entry: SkippedEntry): string {
  return `${join(root, ...entry.path)} (${entry.reason === 'symlink' ? 'symbolic link, not followed' : 'not a regular file'})`
}

function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return unit === 0 ? `${n} B` : `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`
}
