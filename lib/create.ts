/**
 * Make a .torrent (BEP 3 v1 metainfo; BEP 12 announce-list, BEP 19 url-list, BEP 27 private) from a file or a
 * directory.
 *
 * Layout: a file gives a single-file torrent (`length`); a directory gives a multi-file one (`files`), even
 * with one file inside, as mktorrent and libtorrent do. Files are listed in byte order of their '/'-joined
 * relative path (C `strcmp`, mktorrent's order), so the same tree always gives the same info hash and a
 * mktorrent torrent of the same tree matches ours byte for byte in `info`.
 *
 * What is walked: regular files and directories, hidden ones included (nothing is skipped silently).
 * Symbolic links inside the tree are not followed — a link can point outside the tree (publishing a file the
 * user never meant to share, as mktorrent would) or make a loop — and special files (FIFOs, sockets, devices)
 * have no fixed content; both are left out and reported in `skipped` so the caller can warn. The PATH itself
 * is resolved if it is a link: the user named it. Zero-length files are listed (they occupy no piece bytes);
 * empty directories cannot be expressed in v1 metainfo and vanish. File names are taken as UTF-8.
 *
 * Hashing streams the files in order through SHA1, a piece spanning file boundaries; memory stays at one read
 * buffer whatever the torrent's size. A file whose size changes while we read it is an error, not a bad hash.
 * `onProgress` is told the bytes hashed after each read (READ_CHUNK), for a progress display.
 *
 * The piece length, unless given, is the smallest power of two from 16 KiB that keeps the piece count at or
 * below 2000 (so between 1000 and 2000 pieces), capped at 16 MiB — the range libtorrent and mktorrent users
 * aim for: enough pieces to spread among peers, a `pieces` string small enough for ut_metadata.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, readdir, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import bencode from 'bencode'
import { ZentorrentError, fromFsError, isZentorrentError } from './errors.js'
import { VERSION } from './version.js'

export const MIN_PIECE_LENGTH = 16 * 1024
/** The largest piece length chosen automatically. */
export const MAX_DEFAULT_PIECE_LENGTH = 16 * 1024 * 1024
/** The largest piece length accepted when given explicitly (a piece is buffered whole by downloaders). */
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024
/** The automatic piece length keeps the count at or below this. */
export const TARGET_MAX_PIECES = 2000
/** Read buffer for hashing. */
const READ_CHUNK = 1024 * 1024

export interface CreateTorrentOptions {
  /** Trackers: one URL, or BEP 12 tiers (each an array of URLs tried in random order). */
  announce?: string[][] | string
  /** Bytes; a power of two from 16 KiB to 64 MiB. Default: see `defaultPieceLength`. */
  pieceLength?: number
  /** BEP 27: peers only from the trackers. */
  private?: boolean
  comment?: string
  /** Default `zentorrent/VERSION`. */
  createdBy?: string
  /** Default now; null leaves the field out (reproducible output). */
  creationDate?: Date | null
  /** BEP 19 web seeds. */
  urlList?: string[] | string
  /** The torrent's name; default the basename of `path`. */
  name?: string
  signal?: AbortSignal
  /** Called as hashing goes: bytes hashed so far of `total` (at most once per read of READ_CHUNK bytes). */
  onProgress?: (progress: HashProgress) => void
}

export interface HashProgress {
  /** Bytes hashed so far. */
  readonly hashed: number
  /** Bytes to hash in all. */
  readonly total: number
  /** Pieces hashed so far, of `pieceCount`. */
  readonly pieces: number
  readonly pieceCount: number
}

export interface SkippedEntry {
  /** Path components below the PATH given (not prefixed by the torrent's name). */
  readonly path: readonly string[]
  readonly reason: 'symlink' | 'special'
}

export interface CreatedFile {
  /** Path components starting with the torrent's name, as lib/metainfo.ts and libtorrent list them. */
  readonly path: readonly string[]
  readonly length: number
}

export interface CreatedTorrent {
  /** The .torrent file's bytes. */
  readonly torrent: Buffer
  readonly infoHash: Buffer
  readonly infoHashHex: string
  readonly name: string
  readonly pieceLength: number
  readonly pieceCount: number
  readonly length: number
  readonly singleFile: boolean
  readonly files: readonly CreatedFile[]
  readonly skipped: readonly SkippedEntry[]
}

/** The .torrent bytes for `path`. Use `makeTorrent` for the info hash, the file list and skipped entries. */
export async function createTorrent (path: string, opts: CreateTorrentOptions = {}): Promise<Buffer> {
  return (await makeTorrent(path, opts)).torrent
}

export async function makeTorrent (path: string, opts: CreateTorrentOptions = {}): Promise<CreatedTorrent> {
  const root = resolve(path)
  const name = opts.name ?? basename(root)
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new ZentorrentError('BAD_ARGUMENT', `cannot use "${name}" as the torrent's name`)
  }
  const tiers = announceTiers(opts.announce)
  const urlList = opts.urlList === undefined ? [] : typeof opts.urlList === 'string' ? [opts.urlList] : opts.urlList

  let rootStat
  try {
    rootStat = await stat(root)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ZentorrentError('NOT_FOUND', `${path}: no such file or directory`, { cause: err })
    throw fromFsError(err, path)
  }

  const found: Array<{ path: string[], full: string, length: number }> = []
  const skipped: SkippedEntry[] = []
  const singleFile = rootStat.isFile()
  if (singleFile) {
    found.push({ path: [], full: root, length: rootStat.size })
  } else if (rootStat.isDirectory()) {
    await walk(root, [], found, skipped)
    found.sort((a, b) => Buffer.compare(Buffer.from(a.path.join('/')), Buffer.from(b.path.join('/'))))
    skipped.sort((a, b) => Buffer.compare(Buffer.from(a.path.join('/')), Buffer.from(b.path.join('/'))))
  } else {
    throw new ZentorrentError('BAD_ARGUMENT', `${path} is neither a regular file nor a directory`)
  }
  if (found.length === 0) throw new ZentorrentError('NO_FILES', `${path} holds no files to share`)
  const length = found.reduce((sum, file) => sum + file.length, 0)
  if (length === 0) throw new ZentorrentError('NO_FILES', `${path} holds no data (every file is empty)`)

  const pieceLength = opts.pieceLength ?? defaultPieceLength(length)
  checkPieceLength(pieceLength)
  const pieces = await hashPieces(found, pieceLength, length, opts.signal, opts.onProgress)

  const info: Record<string, unknown> = { name, 'piece length': pieceLength, pieces }
  if (singleFile) info.length = length
  else info.files = found.map((file) => ({ length: file.length, path: file.path }))
  // BEP 27: absent means public; mktorrent and libtorrent write the key only when set, and so must we for the
  // info hash to match theirs.
  if (opts.private === true) info.private = 1

  const infoBytes = Buffer.from(bencode.encode(info))
  const torrent: Record<string, unknown> = { info }
  const first = tiers[0]?.[0]
  if (first !== undefined) torrent.announce = first
  if (tiers.flat().length > 1) torrent['announce-list'] = tiers
  if (urlList.length > 0) torrent['url-list'] = urlList
  if (opts.comment !== undefined && opts.comment !== '') torrent.comment = opts.comment
  const createdBy = opts.createdBy ?? `zentorrent/${VERSION}`
  if (createdBy !== '') torrent['created by'] = createdBy
  const date = opts.creationDate === undefined ? new Date() : opts.creationDate
  if (date !== null) torrent['creation date'] = Math.floor(date.getTime() / 1000)

  const infoHash = createHash('sha1').update(infoBytes).digest()
  return {
    torrent: Buffer.from(bencode.encode(torrent)),
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    name,
    pieceLength,
    pieceCount: pieces.length / 20,
    length,
    singleFile,
    files: found.map((file) => ({ path: [name, ...file.path], length: file.length })),
    skipped
  }
}

/** The smallest power of two ≥ 16 KiB giving at most 2000 pieces, capped at 16 MiB. */
export function defaultPieceLength (totalLength: number): number {
  let pieceLength = MIN_PIECE_LENGTH
  while (pieceLength < MAX_DEFAULT_PIECE_LENGTH && Math.ceil(totalLength / pieceLength) > TARGET_MAX_PIECES) pieceLength *= 2
  return pieceLength
}

function checkPieceLength (pieceLength: number): void {
  // libtorrent requires a multiple of the 16 KiB block; powers of two are what every client expects.
  const powerOfTwo = Number.isInteger(pieceLength) && pieceLength > 0 && (pieceLength & (pieceLength - 1)) === 0
  if (!powerOfTwo || pieceLength < MIN_PIECE_LENGTH || pieceLength > MAX_PIECE_LENGTH) {
    throw new ZentorrentError('BAD_ARGUMENT', `piece length must be a power of two from 16 KiB to 64 MiB, got ${pieceLength}`)
  }
}

function announceTiers (announce: string[][] | string | undefined): string[][] {
  if (announce === undefined) return []
  const tiers = typeof announce === 'string' ? [[announce]] : announce.map((tier) => [...tier])
  for (const url of tiers.flat()) {
    if (url === '') throw new ZentorrentError('BAD_ARGUMENT', 'an announce URL is empty')
  }
  return tiers.filter((tier) => tier.length > 0)
}

async function walk (dir: string, rel: string[], found: Array<{ path: string[], full: string, length: number }>, skipped: SkippedEntry[]): Promise<void> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    throw fromFsError(err, dir)
  }
  for (const entry of entries) {
    const full = join(dir, entry.name)
    const path = [...rel, entry.name]
    if (entry.isDirectory()) await walk(full, path, found, skipped)
    else if (entry.isSymbolicLink()) skipped.push({ path, reason: 'symlink' })
    else if (entry.isFile()) {
      try {
        found.push({ path, full, length: (await lstat(full)).size })
      } catch (err) {
        throw fromFsError(err, full)
      }
    } else skipped.push({ path, reason: 'special' })
  }
}

/** SHA1 of every piece, reading the files in order as one stream of bytes. */
async function hashPieces (files: ReadonlyArray<{ full: string, length: number }>, pieceLength: number, total: number, signal?: AbortSignal,
  onProgress?: (progress: HashProgress) => void): Promise<Buffer> {
  if (signal?.aborted === true) throw new ZentorrentError('ABORTED', 'torrent creation aborted')
  const pieceCount = Math.ceil(total / pieceLength)
  const pieces = Buffer.alloc(pieceCount * 20)
  let hashed = 0
  let index = 0
  let hash = createHash('sha1')
  let filled = 0
  for (const file of files) {
    if (file.length === 0) continue
    let read = 0
    try {
      const stream = createReadStream(file.full, { start: 0, end: file.length - 1, highWaterMark: READ_CHUNK, signal })
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        read += chunk.length
        let offset = 0
        while (offset < chunk.length) {
          const n = Math.min(chunk.length - offset, pieceLength - filled)
          hash.update(chunk.subarray(offset, offset + n))
          filled += n
          offset += n
          if (filled === pieceLength) {
            hash.digest().copy(pieces, index++ * 20)
            hash = createHash('sha1')
            filled = 0
          }
        }
        hashed += chunk.length
        onProgress?.({ hashed, total, pieces: index, pieceCount })
      }
    } catch (err) {
      if ((err as Error | undefined)?.name === 'AbortError') throw new ZentorrentError('ABORTED', 'torrent creation aborted', { cause: err })
      if (isZentorrentError(err)) throw err
      throw fromFsError(err, file.full)
    }
    if (read !== file.length) {
      throw new ZentorrentError('IO_ERROR', `${file.full} changed size while being hashed (${file.length} bytes listed, ${read} read)`)
    }
  }
  if (filled > 0) {
    hash.digest().copy(pieces, index++ * 20)
    onProgress?.({ hashed, total, pieces: index, pieceCount })
  }
  return pieces
}
