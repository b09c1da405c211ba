/**
 * Metainfo: the bytes of a .torrent file → a typed, immutable description (BEP 3, 12, 19, 27, 47).
 *
 * The info hash is the SHA1 of the `info` value exactly as it stands in the file (BEP 3): we locate its byte
 * range with our own bounded scanner (lib/bencode-scan.ts) and never re-encode, so a torrent with unsorted keys
 * or unknown fields gets the hash every other client computes.
 */
import { createHash } from 'node:crypto'
import bencode from 'bencode'
import { scanBencode } from './bencode-scan.js'
import { ZentorrentError } from './errors.js'
import { checkName, checkPath, checkUnique } from './path-safety.js'

export interface TorrentFile {
  /**
   * Path components below the torrent's root (the download directory), already checked by lib/path-safety.ts.
   * Like libtorrent's file_path: `[name]` for a single-file torrent, `[name, ...path]` for a multi-file one, so
   * `resolveInside(outputDir, file.path)` is where the file goes in both cases.
   */
  readonly path: readonly string[]
  readonly length: number
  /** Byte offset of the file's first byte within the torrent's concatenated data. */
  readonly offset: number
  /** BEP 47 padding file: occupies space in the piece layout but is never written. */
  readonly pad: boolean
}

export interface Metainfo {
  readonly infoHash: Buffer
  readonly infoHashHex: string
  /** The raw bencoded `info` dictionary (what ut_metadata will serve). */
  readonly infoBytes: Buffer
  readonly name: string
  readonly pieceLength: number
  readonly pieceCount: number
  readonly lastPieceLength: number
  /** Concatenated 20-byte SHA1 hashes; use pieceHash(meta, i). */
  readonly pieces: Buffer
  readonly length: number
  /** True when the torrent has `length` (one file) rather than `files`. */
  readonly singleFile: boolean
  readonly files: readonly TorrentFile[]
  /** BEP 12 tiers; without `announce-list`, one tier with `announce`. */
  readonly announce: readonly (readonly string[])[]
  /** BEP 19 web seeds. */
  readonly urlList: readonly string[]
  /** BEP 27. */
  readonly private: boolean
  readonly comment?: string
  readonly createdBy?: string
  readonly creationDate?: Date
}

/** Largest piece length accepted. Real torrents use up to 64 MiB (libtorrent 2 makes 256 MiB at most); a piece is
 * held whole in memory while it is verified, so a torrent asking for more is refused, not trusted. */
export const MAX_PIECE_LENGTH = 256 * 1024 * 1024

/** SHA1 digest size: each piece's hash in `pieces` (BEP 3). */
export const PIECE_HASH_LENGTH = 20

type Bencoded = number | Uint8Array | Bencoded[] | { [key: string]: Bencoded }
type Dict = { [key: string]: Bencoded }

const utf8 = new TextDecoder('utf-8')

function isDict (value: Bencoded | undefined): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}

function get (dict: Dict, key: string): Bencoded | undefined {
  return Object.hasOwn(dict, key) ? dict[key] : undefined
}

function text (value: Bencoded | undefined): string | undefined {
  return value instanceof Uint8Array ? utf8.decode(value) : undefined
}

/** `key.utf-8` when it is a string, else `key` (the `.utf-8` variants some tools add for non-UTF-8 names). */
function preferUtf8 (dict: Dict, key: string): string | undefined {
  return text(get(dict, `${key}.utf-8`)) ?? text(get(dict, key))
}

/** A list of strings, or undefined if `value` is not exactly that. */
function textList (value: Bencoded | undefined): string[] | undefined {
  if (!Array.isArray(value)) return undefined
  const out: string[] = []
  for (const item of value) {
    const s = text(item)
    if (s === undefined) return undefined
    out.push(s)
  }
  return out
}

function nonNegativeInteger (value: Bencoded | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/**
 * Parse the bytes of a .torrent file. Throws ZentorrentError: NOT_BENCODE, TRUNCATED, TOO_DEEP, NO_INFO,
 * BAD_PIECE_LENGTH, BAD_PIECES, PIECE_COUNT_MISMATCH, BAD_LENGTH, NO_FILES, BAD_NAME, BAD_PATH,
 * PATH_ESCAPES_ROOT, DUPLICATE_PATH. The result is frozen.
 */
export function parseMetainfo (buf: Buffer | Uint8Array): Metainfo {
  const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  // The scan bounds nesting depth, so the recursive decoder below cannot overflow the stack.
  const scan = scanBencode(bytes)
  if (scan.type !== 'dict') throw new ZentorrentError('NOT_BENCODE', 'not a .torrent file: the top level is not a dictionary')
  if (scan.info === null) throw new ZentorrentError('NO_INFO', 'not a .torrent file: there is no info dictionary')
  const top = bencode.decode(bytes.subarray(0, scan.end)) as Bencoded
  if (!isDict(top)) throw new ZentorrentError('NOT_BENCODE', 'not a .torrent file: the top level is not a dictionary')
  const infoBytes = Buffer.from(bytes.subarray(scan.info.start, scan.info.end))
  return build(top, infoBytes)
}

/**
 * Parse a bare info dictionary (what ut_metadata, BEP 9, delivers for a magnet link): no trackers, web seeds or
 * comments, which live outside `info`. Same errors and result as parseMetainfo.
 */
export function parseInfoDictionary (infoBytes: Buffer | Uint8Array): Metainfo {
  const bytes = Buffer.from(infoBytes)
  const scan = scanBencode(bytes)
  if (scan.type !== 'dict') throw new ZentorrentError('NO_INFO', 'the info value is not a dictionary')
  return build({ info: bencode.decode(bytes.subarray(0, scan.end)) as Bencoded }, bytes.subarray(0, scan.end))
}

function build (top: Dict, infoBytes: Buffer): Metainfo {
  const info = get(top, 'info')
  if (!isDict(info)) throw new ZentorrentError('NO_INFO', 'not a .torrent file: info is not a dictionary')
  const infoHash = createHash('sha1').update(infoBytes).digest()

  const name = preferUtf8(info, 'name')
  if (name === undefined) throw new ZentorrentError('BAD_NAME', 'the torrent has no name')
  checkName(name)

  const pieceLength = get(info, 'piece length')
  if (typeof pieceLength !== 'number' || !Number.isSafeInteger(pieceLength) || pieceLength <= 0) {
    throw new ZentorrentError('BAD_PIECE_LENGTH', `piece length must be a positive integer, not ${String(pieceLength)}`)
  }
  if (pieceLength > MAX_PIECE_LENGTH) {
    throw new ZentorrentError('BAD_PIECE_LENGTH', `piece length ${pieceLength} is larger than the ${MAX_PIECE_LENGTH} bytes allowed`)
  }

  const piecesValue = get(info, 'pieces')
  if (!(piecesValue instanceof Uint8Array)) throw new ZentorrentError('BAD_PIECES', 'the torrent has no piece hashes')
  if (piecesValue.length % PIECE_HASH_LENGTH !== 0) {
    throw new ZentorrentError('BAD_PIECES', `pieces is ${piecesValue.length} bytes, not a multiple of ${PIECE_HASH_LENGTH}`)
  }
  const pieces = Buffer.from(piecesValue)

  const files = readFiles(info, name)
  const last = files[files.length - 1] as TorrentFile
  const length = last.offset + last.length
  if (!Number.isSafeInteger(length)) throw new ZentorrentError('BAD_LENGTH', 'the total length is too large')
  if (length === 0) throw new ZentorrentError('BAD_LENGTH', 'the torrent holds no data (total length 0)')

  const pieceCount = Math.ceil(length / pieceLength)
  if (pieces.length / PIECE_HASH_LENGTH !== pieceCount) {
    throw new ZentorrentError('PIECE_COUNT_MISMATCH',
      `${pieces.length / PIECE_HASH_LENGTH} piece hashes for ${length} bytes in pieces of ${pieceLength} (needs ${pieceCount})`)
  }

  const privateValue = get(info, 'private')
  const creationDate = get(top, 'creation date')
  const date = typeof creationDate === 'number' && Number.isSafeInteger(creationDate) ? new Date(creationDate * 1000) : undefined
  const comment = preferUtf8(top, 'comment')
  const createdBy = preferUtf8(top, 'created by')

  const meta: Metainfo = {
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    infoBytes,
    name,
    pieceLength,
    pieceCount,
    lastPieceLength: length - (pieceCount - 1) * pieceLength,
    pieces,
    length,
    singleFile: !Array.isArray(get(info, 'files')),
    files,
    announce: readTrackers(top),
    urlList: readUrlList(top),
    // BEP 27: private=1; libtorrent treats any non-zero integer as private, and so do we.
    private: typeof privateValue === 'number' && privateValue !== 0,
    ...(comment !== undefined && comment !== '' ? { comment } : {}),
    ...(createdBy !== undefined && createdBy !== '' ? { createdBy } : {}),
    ...(date !== undefined && !Number.isNaN(date.getTime()) ? { creationDate: date } : {})
  }
  return Object.freeze(meta)
}

/**
 * BEP 3 files. `files` wins over `length` when both are present (as in libtorrent). Each file's path is
 * `[name, ...path]` (see TorrentFile.path); BEP 47 pad files have `attr` containing `p`.
 */
function readFiles (info: Dict, name: string): readonly TorrentFile[] {
  const list = get(info, 'files')
  if (list === undefined) {
    const length = get(info, 'length')
    if (length === undefined) throw new ZentorrentError('NO_FILES', 'the torrent has neither length nor files')
    if (!nonNegativeInteger(length)) throw new ZentorrentError('BAD_LENGTH', `length must be a non-negative integer, not ${String(length)}`)
    return Object.freeze([Object.freeze({ path: Object.freeze([name]), length, offset: 0, pad: false })])
  }
  if (!Array.isArray(list) || list.length === 0) throw new ZentorrentError('NO_FILES', 'the torrent\'s file list is empty')

  const files: TorrentFile[] = []
  let offset = 0
  for (let index = 0; index < list.length; index++) {
    const entry = list[index]
    if (!isDict(entry)) throw new ZentorrentError('NO_FILES', `file ${index} is not a dictionary`)
    const length = get(entry, 'length')
    if (!nonNegativeInteger(length)) {
      throw new ZentorrentError('BAD_LENGTH', `file ${index}: length must be a non-negative integer, not ${String(length)}`)
    }
    const path = textList(get(entry, 'path.utf-8')) ?? textList(get(entry, 'path'))
    if (path === undefined) throw new ZentorrentError('BAD_PATH', `file ${index} has no path (a list of strings)`)
    checkPath(path)
    const attr = text(get(entry, 'attr'))
    files.push(Object.freeze({
      path: Object.freeze([name, ...path]),
      length,
      offset,
      pad: attr !== undefined && attr.includes('p')
    }))
    offset += length
  }
  checkUnique(files)
  return Object.freeze(files)
}

/**
 * BEP 12 tiers from `announce-list`; entries that are not non-empty strings are dropped, then empty tiers, and a
 * URL seen in an earlier tier is dropped (libtorrent does the same). Without a usable list, one tier with
 * `announce` (BEP 3). Shuffling within a tier is the tracker stage's job, so the file's order is kept here.
 */
function readTrackers (top: Dict): readonly (readonly string[])[] {
  const seen = new Set<string>()
  const tiers: (readonly string[])[] = []
  const list = get(top, 'announce-list')
  if (Array.isArray(list)) {
    for (const tierValue of list) {
      // A bare string where a tier should be: some tools write that; treat it as a tier of one.
      const items = Array.isArray(tierValue) ? tierValue : [tierValue]
      const tier: string[] = []
      for (const item of items) {
        const url = text(item)?.trim()
        if (url === undefined || url === '' || seen.has(url)) continue
        seen.add(url)
        tier.push(url)
      }
      if (tier.length > 0) tiers.push(Object.freeze(tier))
    }
  }
  if (tiers.length === 0) {
    const announce = text(get(top, 'announce'))?.trim()
    if (announce !== undefined && announce !== '') tiers.push(Object.freeze([announce]))
  }
  return Object.freeze(tiers)
}

/** BEP 19: `url-list` is one URL or a list of them. */
function readUrlList (top: Dict): readonly string[] {
  const value = get(top, 'url-list')
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value]
  const urls: string[] = []
  for (const item of items) {
    const url = text(item)?.trim()
    if (url !== undefined && url !== '' && !urls.includes(url)) urls.push(url)
  }
  return Object.freeze(urls)
}

function checkIndex (meta: Metainfo, index: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= meta.pieceCount) {
    throw new ZentorrentError('INDEX_OUT_OF_RANGE', `piece ${index} is not in 0..${meta.pieceCount - 1}`)
  }
}

/** The expected SHA1 of piece `index` (a copy: the metainfo stays immutable). */
export function pieceHash (meta: Metainfo, index: number): Buffer {
  checkIndex(meta, index)
  return Buffer.from(meta.pieces.subarray(index * PIECE_HASH_LENGTH, (index + 1) * PIECE_HASH_LENGTH))
}

/** Length in bytes of piece `index`: pieceLength for all but the last. */
export function pieceSize (meta: Metainfo, index: number): number {
  checkIndex(meta, index)
  return index === meta.pieceCount - 1 ? meta.lastPieceLength : meta.pieceLength
}
