/**
 * `zentorrent info TORRENT [--json] [--magnet] [--save-torrent FILE] [--metadata-timeout S]`: what a torrent
 * holds, laid out like transmission-show (general facts, trackers by tier, web seeds, files). TORRENT is anything
 * lib/torrent-input.ts resolves: a .torrent file, an http(s) URL of one, a magnet link or a bare info hash; for the
 * last two the metadata is fetched from the link's peers and trackers first (BEP 9), within --metadata-timeout.
 * File indexes are the metainfo's, the ones `--select` takes; BEP 47 pad files keep their index but are not listed
 * (they are layout, not content), and a count of them is shown. `--json` prints one JSON object instead, for
 * scripts; `--magnet` prints the torrent's magnet link only (for a magnet link, without fetching anything);
 * `--save-torrent FILE` also writes the torrent as a .torrent file (the fetched metadata, same info hash).
 */
import { writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { ZentorrentError, fromFsError } from '../errors.js'
import { safeText } from './safe-text.js'
import { formatMagnet, magnetOf } from '../magnet.js'
import { fetchMetadata } from '../metadata/fetch-metadata.js'
import type { MetadataFetchStats } from '../metadata/fetcher.js'
import type { Metainfo, TorrentFile } from '../metainfo.js'
import { encodeTorrentFile } from '../torrent-file.js'
import { resolveTorrentInput, withMetadata } from '../torrent-input.js'
import { parseCommand } from './args.js'
import { INFO_COMMAND } from './commands.js'
import { reportError } from './report.js'

/** Read and parse a .torrent file (kept under this name for the commands that import it from here). */
export { readTorrentFile as loadTorrentFile, MAX_TORRENT_FILE_SIZE } from '../torrent-input.js'

/** Seconds to wait for a magnet link's metadata by default. */
export const DEFAULT_METADATA_TIMEOUT = 60


/** "fetching metadata from N peers": the words the status line and --json events use. */
export function metadataStatus (stats: MetadataFetchStats): string {
  const pieces = stats.pieces > 0 ? `, ${stats.piecesHave}/${stats.pieces} pieces` : ''
  return `fetching metadata from ${stats.sources} peer${stats.sources === 1 ? '' : 's'}${pieces}`
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
    const parsed = parseCommand(argv, INFO_COMMAND)
    if (parsed === null) return 0
    const timeout = parsed.values['metadata-timeout']
    if (!(timeout > 0)) throw new ZentorrentError('BAD_ARGUMENT', 'info: --metadata-timeout must be a positive duration, like 30s or 2m')
    const input = await resolveTorrentInput(parsed.positionals[0] as string)
    for (const line of input.kind === 'magnet' ? input.ignored : []) process.stderr.write(`zentorrent: warning: ${line}\n`)
    if (parsed.values.magnet === true && parsed.values['save-torrent'] === undefined) {
      // A link is printed without fetching: everything it needs is in the input.
      process.stdout.write((input.kind === 'metainfo'
        ? magnetOf(input.meta)
        : formatMagnet({
          infoHash: input.infoHash,
          ...(input.infoHashV2 !== undefined ? { infoHashV2: input.infoHashV2 } : {}),
          ...(input.name !== undefined ? { name: input.name } : {}),
          trackers: input.trackers,
          peers: input.peers,
          webSeeds: input.webSeeds,
          ...(input.selectOnly !== undefined ? { selectOnly: input.selectOnly } : {})
        })) + '\n')
      return 0
    }
    let meta: Metainfo
    if (input.kind === 'metainfo') {
      meta = input.meta
    } else {
      const status = process.stderr.isTTY && parsed.values.json !== true
      let fetched: Metainfo
      try {
        fetched = await fetchMetadata(input, {
          timeout: timeout * 1000,
          ...(status ? { onProgress: (stats) => { process.stderr.write(`\r\x1b[K${metadataStatus(stats)}`) } } : {})
        })
      } finally {
        if (status) process.stderr.write('\r\x1b[K')
      }
      meta = withMetadata(input, fetched).meta
    }
    const out = parsed.values['save-torrent']
    if (out !== undefined) {
      try {
        await writeFile(out, encodeTorrentFile(meta))
      } catch (err) {
        throw fromFsError(err, out)
      }
    }
    if (parsed.values.magnet === true) process.stdout.write(magnetOf(meta) + '\n')
    else await writeChunks(process.stdout, parsed.values.json === true ? [...infoJson(meta), '\n'] : infoText(meta))
    return 0
  } catch (err) {
    return reportError(err)
  }
}
