/**
 * `zentorrent create PATH [-o OUT.torrent] [--announce URL]... [--piece-length SIZE] [--private] [--comment C]
 *  [--web-seed URL]... [--name NAME] [--no-date] [--force] [--quiet]`
 *
 * Each --announce is a tier of its own (BEP 12), in the order given. Without -o the output is NAME.torrent in the
 * current directory (NAME: the torrent's name, PATH's last component unless --name), as mktorrent does. OUT is
 * checked for writability before hashing starts, so a long hash does not end in "permission denied"; an existing
 * OUT is not overwritten without --force (mktorrent refuses too). On a terminal, a line shows the hashing as it
 * goes (redrawn at most every PROGRESS_INTERVAL_MS) and is cleared when done.
 */
import { access, writeFile } from 'node:fs/promises'
import { constants } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { makeTorrent, type HashProgress, type SkippedEntry } from '../create.js'
import { ZentorrentError, fromFsError } from '../errors.js'
import { parseCommand } from './args.js'
import { CREATE_COMMAND } from './commands.js'
import { reportError } from './report.js'
import { safeText } from './safe-text.js'
import { TerminalProgress, formatBytes as formatRounded, formatDuration, formatPercent, formatRate, layoutLine } from './progress.js'

/** The hashing line is redrawn at most this often. */
const PROGRESS_INTERVAL_MS = 100

export async function run (argv: string[]): Promise<number> {
  try {
    return await create(argv)
  } catch (err) {
    return reportError(err)
  }
}

async function create (argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, CREATE_COMMAND)
  if (parsed === null) return 0
  const { values, positionals } = parsed
  const path = positionals[0]!
  const name = values.name ?? basename(resolve(path))
  const out = values.output ?? `${name}.torrent`
  if (out === '') throw new ZentorrentError('BAD_ARGUMENT', 'create: -o needs a file name (see zentorrent create --help)')
  const pieceLength = values['piece-length']

  await checkWritable(out, values.force === true)

  const progress = !values.quiet && process.stderr.isTTY === true ? new TerminalProgress({ stream: process.stderr }) : null
  const started = Date.now()
  let drawnAt = 0
  const onProgress = progress === null
    ? undefined
    : (p: HashProgress): void => {
        const now = Date.now()
        if (now - drawnAt < PROGRESS_INTERVAL_MS && p.hashed < p.total) return
        drawnAt = now
        progress.drawLines([hashingLine(name, p, (now - started) / 1000, progress.width)])
      }
  // Ctrl-C while hashing: stop cleanly, clear the line, write nothing.
  const abort = new AbortController()
  const onSignal = (): void => abort.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let created
  try {
    created = await makeTorrent(path, {
      signal: abort.signal,
      announce: values.announce.map((url) => [url]),
      pieceLength,
      private: values.private,
      comment: values.comment,
      urlList: values['web-seed'],
      name: values.name,
      creationDate: values['no-date'] ? null : new Date(),
      ...(onProgress !== undefined ? { onProgress } : {})
    })
  } catch (err) {
    if (abort.signal.aborted) {
      progress?.finish()
      process.stderr.write(`zentorrent: interrupted: ${out} not written\n`)
      return 130
    }
    throw err
  } finally {
    progress?.finish()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
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

/** The hashing line: `hashing NAME [bar] 45.0% 900.0 MiB/2.0 GiB 350.0 MiB/s eta 00:03`, fitted to `width`. */
export function hashingLine (name: string, p: HashProgress, elapsed: number, width: number): string {
  const rate = elapsed > 0 ? p.hashed / elapsed : 0
  const eta = rate > 0 ? formatDuration((p.total - p.hashed) / rate) : '--:--'
  return layoutLine([
    { key: 'state', variants: ['hashing'] },
    { key: 'name', variants: [name] },
    { key: 'bar', variants: [], bar: p.total === 0 ? 1 : p.hashed / p.total },
    { key: 'percent', variants: [formatPercent(p.total === 0 ? 100 : p.hashed / p.total * 100)], reserve: 6 },
    { key: 'bytes', variants: [`${formatRounded(p.hashed)}/${formatRounded(p.total)}`], reserve: 11 + formatRounded(p.total).length },
    { key: 'rate', variants: [formatRate(rate)], reserve: 12 },
    { key: 'eta', variants: [`eta ${eta}`, eta], reserve: 9 }
  ], ['name', 'eta', 'bytes', 'rate', 'bar', 'eta'], width)
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
