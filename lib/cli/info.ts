/**
 * `zentorrent info FILE.torrent [--json]`: what a .torrent holds, laid out like transmission-show (general facts,
 * trackers by tier, web seeds, files). File indexes are the metainfo's, the ones `--select` takes; BEP 47 pad
 * files keep their index but are not listed (they are layout, not content), and a count of them is shown.
 * `--json` prints one JSON object instead, for scripts.
 */
import { readFile, stat } from 'node:fs/promises'
import { ZentorrentError, fromFsError } from '../errors.js'
import { parseMetainfo, type Metainfo } from '../metainfo.js'
import { parseCommand } from './args.js'
import { INFO_COMMAND } from './commands.js'
import { reportError } from './report.js'

/** Refuse before reading: the largest .torrent seen in the wild is a few tens of MB (100,000+ files). */
export const MAX_TORRENT_FILE_SIZE = 64 * 1024 * 1024


/** Read and parse a .torrent file; a missing or oversized file is a typed error like a malformed one. */
export async function loadTorrentFile (path: string): Promise<Metainfo> {
  let size: number
  try {
    const info = await stat(path)
    if (info.isDirectory()) {
      throw new ZentorrentError('NOT_A_FILE', `${path} is a directory; give the .torrent file (to seed a directory: zentorrent seed FILE.torrent ${path})`)
    }
    size = info.size
  } catch (err) {
    if (err instanceof ZentorrentError) throw err
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ZentorrentError('NOT_FOUND', `no such file: ${path}`, { cause: err })
    throw fromFsError(err, path)
  }
  if (size > MAX_TORRENT_FILE_SIZE) {
    throw new ZentorrentError('NOT_BENCODE', `${path} is ${size} bytes, too large to be a .torrent (at most ${MAX_TORRENT_FILE_SIZE})`)
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

/** The JSON shape of `info --json` (stable: scripts read it). */
export function toJson (meta: Metainfo): object {
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
    urlList: meta.urlList,
    files: meta.files.map((file, index) => ({
      index,
      path: file.path.join('/'),
      length: file.length,
      offset: file.offset,
      pad: file.pad
    }))
  }
}

export function formatInfo (meta: Metainfo): string {
  const lines: string[] = []
  lines.push('GENERAL', '')
  lines.push(`  Name: ${meta.name}`)
  lines.push(`  Hash: ${meta.infoHashHex}`)
  if (meta.createdBy !== undefined) lines.push(`  Created by: ${meta.createdBy}`)
  if (meta.creationDate !== undefined) lines.push(`  Created on: ${meta.creationDate.toISOString()}`)
  if (meta.comment !== undefined) lines.push(`  Comment: ${meta.comment}`)
  lines.push(`  Piece Count: ${meta.pieceCount}`)
  lines.push(`  Piece Size: ${humanSize(meta.pieceLength)} (${meta.pieceLength} bytes)`)
  lines.push(`  Total Size: ${humanSize(meta.length)} (${meta.length} bytes)`)
  lines.push(`  Privacy: ${meta.private ? 'Private torrent' : 'Public torrent'}`)

  lines.push('', 'TRACKERS', '')
  if (meta.announce.length === 0) lines.push('  (none)')
  meta.announce.forEach((tier, i) => {
    lines.push(`  Tier #${i + 1}`)
    for (const url of tier) lines.push(`  ${url}`)
    if (i < meta.announce.length - 1) lines.push('')
  })

  if (meta.urlList.length > 0) {
    lines.push('', 'WEBSEEDS', '')
    for (const url of meta.urlList) lines.push(`  ${url}`)
  }

  const padCount = meta.files.filter((file) => file.pad).length
  const shown = meta.files.length - padCount
  lines.push('', `FILES (${shown}${padCount > 0 ? `, and ${padCount} pad files not shown` : ''})`, '')
  const width = String(meta.files.length - 1).length
  meta.files.forEach((file, index) => {
    if (file.pad) return
    lines.push(`  ${String(index).padStart(width)}  ${file.path.join('/')} (${humanSize(file.length)})`)
  })
  return lines.join('\n') + '\n'
}

export async function run (argv: string[]): Promise<number> {
  try {
    const parsed = parseCommand(argv, INFO_COMMAND)
    if (parsed === null) return 0
    const meta = await loadTorrentFile(parsed.positionals[0]!)
    process.stdout.write(parsed.values.json ? JSON.stringify(toJson(meta)) + '\n' : formatInfo(meta))
    return 0
  } catch (err) {
    return reportError(err)
  }
}
