/**
 * `zentorrent info FILE.torrent [--json]`: what a .torrent holds, laid out like transmission-show (general facts,
 * trackers by tier, web seeds, files). File indexes are the metainfo's, the ones `--select` takes; BEP 47 pad
 * files keep their index but are not listed (they are layout, not content), and a count of them is shown.
 * `--json` prints one JSON object instead, for scripts.
 */
import { once } from 'node:events'
import { readFile, stat } from 'node:fs/promises'
import { ZentorrentError, fromFsError } from '../errors.js'
import { MAX_TORRENT_FILE_SIZE, parseMetainfo, type Metainfo, type TorrentFile } from '../metainfo.js'
import { parseCommandArgs } from './args.js'
import { reportError } from './report.js'
import { safeText } from './safe-text.js'

/** Refuse before reading (the bound is metainfo's; re-exported here, where it used to live). */
export { MAX_TORRENT_FILE_SIZE }

const HELP = `Usage: zentorrent info FILE.torrent [--json]

Show what a .torrent holds: name, info hash, size, pieces, trackers, web seeds and files.
      --json    one JSON object instead of text
  -h, --help    this text
`

/** Read and parse a .torrent file; a missing or oversized file is a typed error like a malformed one. */
export async function loadTorrentFile (path: string): Promise<Metainfo> {
  let size: number
  try {
    size = (await stat(path)).size
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ZentorrentError('NOT_FOUND', `no such file: ${path}`, { cause: err })
    throw fromFsError(err, path)
  }
  if (size > MAX_TORRENT_FILE_SIZE) {
    throw new ZentorrentError('TORRENT_TOO_LARGE', `${path} is ${size} bytes, too large for a .torrent (at most ${MAX_TORRENT_FILE_SIZE})`)
  }
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw fromFsError(err, path)
  }
  try {
    return parseMetainfo(bytes)
  } catch (err) {
    if (err instanceof ZentorrentError) throw new ZentorrentError(err.code, `${path}: ${err.message}`, { cause: err })
    throw err
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** 1536 → "1.50 KiB"; bytes below 1 KiB are shown whole. */
export function humanSize (bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(2)} ${UNITS[unit] as string}`
}

/** The JSON shape of `info --json` (stable: scripts read it). Strings are exactly the torrent's. */
export function toJson (meta: Metainfo): object {
  return { ...jsonHead(meta), files: meta.files.map(jsonFile) }
}

/** Every field of toJson but `files`, which comes last. */
function jsonHead (meta: Metainfo): object {
  return {
    name: meta.name,
    infoHash: meta.infoHashHex,
    length: meta.length,
    pieceLength: meta.pieceLength,
    pieceCount: meta.pieceCount,
    lastPieceLength: meta.lastPieceLength,
    private: meta.private,
    singleFile: meta.singleFile,
    creationDate: meta.creationDate?.toISOString() ?? null,
    createdBy: meta.createdBy ?? null,
    comment: meta.comment ?? null,
    announce: meta.announce,
    urlList: meta.urlList
  }
}

function jsonFile (file: TorrentFile, index: number): object {
  return { index, path: file.path.join('/'), length: file.length, offset: file.offset, pad: file.pad }
}

/**
 * Output is produced in pieces of about this many characters, each written as it is made: the listing of a
 * 100,000-file torrent as one string (10 MB of JSON) cost more memory than the parsed torrent.
 */
export const OUTPUT_CHUNK = 64 * 1024

/** `JSON.stringify(toJson(meta))`, in pieces (their concatenation is exactly that string). */
export function * infoJson (meta: Metainfo): Generator<string> {
  const head = JSON.stringify(jsonHead(meta))
  let out = `${head.slice(0, -1)},"files":[`
  for (let index = 0; index < meta.files.length; index++) {
    out += (index === 0 ? '' : ',') + JSON.stringify(jsonFile(meta.files[index] as TorrentFile, index))
    if (out.length >= OUTPUT_CHUNK) {
      yield out
      out = ''
    }
  }
  yield out + ']}'
}

/** What `info` prints, in pieces; torrent-supplied text is passed through safeText (lib/cli/safe-text.ts). */
export function * infoText (meta: Metainfo): Generator<string> {
  const lines: string[] = []
  lines.push('GENERAL', '')
  lines.push(`  Name: ${safeText(meta.name)}`)
  lines.push(`  Hash: ${meta.infoHashHex}`)
  if (meta.createdBy !== undefined) lines.push(`  Created by: ${safeText(meta.createdBy)}`)
  if (meta.creationDate !== undefined) lines.push(`  Created on: ${meta.creationDate.toISOString()}`)
  if (meta.comment !== undefined) lines.push(`  Comment: ${safeText(meta.comment)}`)
  lines.push(`  Piece Count: ${meta.pieceCount}`)
  lines.push(`  Piece Size: ${humanSize(meta.pieceLength)} (${meta.pieceLength} bytes)`)
  lines.push(`  Total Size: ${humanSize(meta.length)} (${meta.length} bytes)`)
  lines.push(`  Privacy: ${meta.private ? 'Private torrent' : 'Public torrent'}`)

  lines.push('', 'TRACKERS', '')
  if (meta.announce.length === 0) lines.push('  (none)')
  meta.announce.forEach((tier, i) => {
    lines.push(`  Tier #${i + 1}`)
    for (const url of tier) lines.push(`  ${safeText(url)}`)
    if (i < meta.announce.length - 1) lines.push('')
  })

  if (meta.urlList.length > 0) {
    lines.push('', 'WEBSEEDS', '')
    for (const url of meta.urlList) lines.push(`  ${safeText(url)}`)
  }

  const padCount = meta.files.filter((file) => file.pad).length
  const shown = meta.files.length - padCount
  lines.push('', `FILES (${shown}${padCount > 0 ? `, and ${padCount} pad files not shown` : ''})`, '')
  yield lines.join('\n') + '\n'

  const width = String(meta.files.length - 1).length
  let out = ''
  for (let index = 0; index < meta.files.length; index++) {
    const file = meta.files[index] as TorrentFile
    if (file.pad) continue
    out += `  ${String(index).padStart(width)}  ${safeText(file.path.join('/'))} (${humanSize(file.length)})\n`
    if (out.length >= OUTPUT_CHUNK) {
      yield out
      out = ''
    }
  }
  if (out !== '') yield out
}

export function formatInfo (meta: Metainfo): string {
  return [...infoText(meta)].join('')
}

/** Write each chunk, waiting for 'drain' when the stream's buffer is full (stdout into a slow pipe queues). */
async function writeChunks (stream: NodeJS.WritableStream, chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks) {
    if (!stream.write(chunk)) await once(stream, 'drain')
  }
}

export async function run (argv: string[]): Promise<number> {
  try {
    const parsed = parseCommandArgs(argv, { options: { json: { type: 'boolean' } }, help: HELP, badArgument: (message) => `info: ${message}` })
    if (parsed === null) return 0
    if (parsed.positionals.length !== 1) {
      throw new ZentorrentError('BAD_ARGUMENT', 'info takes exactly one FILE.torrent (see zentorrent info --help)')
    }
    const meta = await loadTorrentFile(parsed.positionals[0] as string)
    const json = parsed.values.json === true
    await writeChunks(process.stdout, json ? infoJson(meta) : infoText(meta))
    if (json) process.stdout.write('\n')
    return 0
  } catch (err) {
    return reportError(err)
  }
}
