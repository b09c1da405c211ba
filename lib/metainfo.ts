/**
 * Metainfo: the bytes of a .torrent file → a typed, immutable description (BEP 3, 12, 19, 27, 47).
 *
 * The info hash is the SHA1 of the `info` value exactly as it stands in the file (BEP 3): we locate its byte
 * range with our own bounded scanner (lib/bencode-scan.ts) and never re-encode, so a torrent with unsorted keys
 * or unknown fields gets the hash every other client computes.
 *
 * Memory: nothing is decoded into a generic tree. The scanner checks the structure once; the fields we use are
 * then read in place (lib/bencode-scan.ts' readers), so `pieces` and `infoBytes` are views of the input bytes
 * (a 3-million-piece torrent's 60 MB of hashes exist once, as read from the file) and a 100,000-file list costs
 * the TorrentFile records and nothing else. Limits, each refused with TORRENT_TOO_LARGE: MAX_TORRENT_FILE_SIZE,
 * MAX_PIECE_COUNT, MAX_FILE_COUNT (below).
 *
 * Repeated keys inside `info` are refused (DUPLICATE_KEY, see lib/bencode-scan.ts); at the top level the first
 * one counts, as in libtorrent. A BitTorrent v2-only torrent (BEP 52: `meta version` 2, a `file tree`, no v1
 * `pieces`) is refused as such (V2_ONLY); a hybrid one is read through its v1 half.
 */
import { createGeometry } from './geometry.js'
import { createHash } from 'node:crypto'
import { bytesOf, dictEntries, dictValues, integerOf, listItems, scanBencode, textOf, valueAt, type BencodeValue } from './bencode-scan.js'
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

/**
 * Largest .torrent accepted, in bytes. The largest seen in the wild are a few tens of MB (millions of pieces, or
 * 100,000+ files); the file is held in memory whole, since `pieces` and `infoBytes` are views of it.
 */
export const MAX_TORRENT_FILE_SIZE = 64 * 1024 * 1024

/**
 * Most pieces accepted: 3 Mi (63 MB of hashes, so it fits in MAX_TORRENT_FILE_SIZE). Torrents of 3 million
 * pieces exist (libtorrent's defaults refuse them: 2 Mi pieces, 10 MB of metadata). Per-piece state elsewhere is
 * a few bytes a piece (availability, the picker, a 384 KiB bitfield per peer at this count).
 */
export const MAX_PIECE_COUNT = 3 * 1024 * 1024

/**
 * Most files accepted (pad files included). Each costs its TorrentFile record and path strings, about 0.17 KB
 * (measured: 100,000 files take 17 MB, and `zentorrent info` on them peaks at 81 MB resident; at this bound it
 * peaks at 190 MB). The count is taken before any record is built, so a longer list costs nothing but its bytes.
 * Real torrents with the most files hold a few hundred thousand.
 */
export const MAX_FILE_COUNT = 500_000

/** A dictionary read in place: its entries by key (first of two equal keys wins), and the bytes they point into. */
interface Dict {
  readonly bytes: Buffer
  readonly entries: Map<string, BencodeValue>
}

function dictOf (bytes: Buffer, value: BencodeValue | undefined): Dict | undefined {
  return value?.type === 'dict' ? { bytes, entries: dictEntries(bytes, value) } : undefined
}

function get (dict: Dict, key: string): BencodeValue | undefined {
  return dict.entries.get(key)
}

function text (dict: Dict, value: BencodeValue | undefined): string | undefined {
  return value?.type === 'string' ? textOf(dict.bytes, value) : undefined
}

/** An integer field, or undefined when it is absent or not an integer. */
function integer (dict: Dict, key: string): number | undefined {
  const value = get(dict, key)
  return value?.type === 'int' ? integerOf(dict.bytes, value) : undefined
}

/** What a field holds, for error messages: its value when it is a (short) integer, else its type. */
function describe (dict: Dict, key: string): string {
  const value = get(dict, key)
  if (value === undefined) return 'missing'
  if (value.type === 'int') return String(integerOf(dict.bytes, value))
  return `a ${value.type}`
}

/** `key.utf-8` when it is a string, else `key` (the `.utf-8` variants some tools add for non-UTF-8 names). */
function preferUtf8 (dict: Dict, key: string): string | undefined {
  return text(dict, get(dict, `${key}.utf-8`)) ?? text(dict, get(dict, key))
}

/** A list of strings, or undefined if `value` is not exactly that. */
function textList (dict: Dict, value: BencodeValue | undefined): string[] | undefined {
  if (value?.type !== 'list') return undefined
  const out: string[] = []
  for (const item of listItems(dict.bytes, value)) {
    const s = text(dict, item)
    if (s === undefined) return undefined
    out.push(s)
  }
  return out
}

function nonNegativeInteger (value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0
}

function asBuffer (buf: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
}

function checkSize (bytes: Buffer): void {
  if (bytes.length > MAX_TORRENT_FILE_SIZE) {
    throw new ZentorrentError('TORRENT_TOO_LARGE', `the torrent is ${bytes.length} bytes, more than the ${MAX_TORRENT_FILE_SIZE} accepted`)
  }
}

/**
 * Parse the bytes of a .torrent file. Throws ZentorrentError: NOT_BENCODE, TRUNCATED, TOO_DEEP, DUPLICATE_KEY,
 * TORRENT_TOO_LARGE, NO_INFO, V2_ONLY, BAD_PIECE_LENGTH, BAD_PIECES, PIECE_COUNT_MISMATCH, BAD_LENGTH, NO_FILES,
 * BAD_NAME, BAD_PATH, PATH_ESCAPES_ROOT, DUPLICATE_PATH. The result is frozen; its `infoBytes` and `pieces` are
 * views of `buf` (no copies: they may be most of it), so `buf` must not be modified afterwards.
 */
export function parseMetainfo (buf: Buffer | Uint8Array): Metainfo {
  const bytes = asBuffer(buf)
  checkSize(bytes)
  // The scan bounds nesting depth and refuses repeated keys inside info; the readers below trust its checks.
  const scan = scanBencode(bytes, { uniqueKeys: 'info' })
  if (scan.type !== 'dict') throw new ZentorrentError('NOT_BENCODE', 'not a .torrent file: the top level is not a dictionary')
  if (scan.info === null) throw new ZentorrentError('NO_INFO', 'not a .torrent file: there is no info dictionary')
  const top = dictOf(bytes, valueAt(bytes, 0)) as Dict
  return build(top, bytes.subarray(scan.info.start, scan.info.end))
}

/**
 * Parse a bare info dictionary (what ut_metadata, BEP 9, delivers for a magnet link): no trackers, web seeds or
 * comments, which live outside `info`; a repeated key anywhere is DUPLICATE_KEY. Same errors and result as
 * parseMetainfo, and the same views of `infoBytes`.
 */
export function parseInfoDictionary (infoBytes: Buffer | Uint8Array): Metainfo {
  const bytes = asBuffer(infoBytes)
  checkSize(bytes)
  const scan = scanBencode(bytes, { uniqueKeys: 'all' })
  if (scan.type !== 'dict') throw new ZentorrentError('NO_INFO', 'the info value is not a dictionary')
  return build(null, bytes.subarray(0, scan.end))
}

function build (top: Dict | null, infoBytes: Buffer): Metainfo {
  const info = dictOf(infoBytes, valueAt(infoBytes, 0))
  if (info === undefined) throw new ZentorrentError('NO_INFO', 'not a .torrent file: info is not a dictionary')
  const infoHash = createHash('sha1').update(infoBytes).digest()

  const piecesValue = get(info, 'pieces')
  // BEP 52: v2 replaces `pieces` with per-file Merkle roots in `file tree`; a hybrid torrent carries both.
  if (piecesValue === undefined && (integer(info, 'meta version') === 2 || get(info, 'file tree') !== undefined)) {
    throw new ZentorrentError('V2_ONLY', 'this is a BitTorrent v2 torrent (BEP 52) without v1 piece hashes, and v2 is not ' +
      'supported yet: use a v1 or hybrid torrent of the same content')
  }

  const name = preferUtf8(info, 'name')
  if (name === undefined) throw new ZentorrentError('BAD_NAME', 'the torrent has no name')
  checkName(name)

  const pieceLength = integer(info, 'piece length')
  if (pieceLength === undefined || !Number.isSafeInteger(pieceLength) || pieceLength <= 0) {
    throw new ZentorrentError('BAD_PIECE_LENGTH', `piece length must be a positive integer, not ${describe(info, 'piece length')}`)
  }
  if (pieceLength > MAX_PIECE_LENGTH) {
    throw new ZentorrentError('BAD_PIECE_LENGTH', `piece length ${pieceLength} is larger than the ${MAX_PIECE_LENGTH} bytes allowed`)
  }

  if (piecesValue?.type !== 'string') throw new ZentorrentError('BAD_PIECES', 'the torrent has no piece hashes')
  const pieces = bytesOf(infoBytes, piecesValue)
  if (pieces.length % PIECE_HASH_LENGTH !== 0) {
    throw new ZentorrentError('BAD_PIECES', `pieces is ${pieces.length} bytes, not a multiple of ${PIECE_HASH_LENGTH}`)
  }
  const hashCount = pieces.length / PIECE_HASH_LENGTH
  if (hashCount > MAX_PIECE_COUNT) {
    throw new ZentorrentError('TORRENT_TOO_LARGE', `the torrent has ${hashCount} pieces, more than the ${MAX_PIECE_COUNT} accepted`)
  }

  const files = readFiles(info, name)
  const last = files[files.length - 1] as TorrentFile
  const length = last.offset + last.length
  if (!Number.isSafeInteger(length)) throw new ZentorrentError('BAD_LENGTH', 'the total length is too large')
  if (length === 0) throw new ZentorrentError('BAD_LENGTH', 'the torrent holds no data (total length 0)')

  const pieceCount = Math.ceil(length / pieceLength)
  if (hashCount !== pieceCount) {
    throw new ZentorrentError('PIECE_COUNT_MISMATCH',
      `${hashCount} piece hashes for ${length} bytes in pieces of ${pieceLength} (needs ${pieceCount})`)
  }

  const privateValue = integer(info, 'private')
  const creationDate = top === null ? undefined : integer(top, 'creation date')
  const date = creationDate !== undefined && Number.isSafeInteger(creationDate) ? new Date(creationDate * 1000) : undefined
  const comment = top === null ? undefined : preferUtf8(top, 'comment')
  const createdBy = top === null ? undefined : preferUtf8(top, 'created by')

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
    singleFile: get(info, 'files')?.type !== 'list',
    files,
    announce: top === null ? Object.freeze([]) : readTrackers(top),
    urlList: top === null ? Object.freeze([]) : readUrlList(top),
    // BEP 27: private=1; libtorrent treats any non-zero integer as private, and so do we.
    private: privateValue !== undefined && privateValue !== 0,
    ...(comment !== undefined && comment !== '' ? { comment } : {}),
    ...(createdBy !== undefined && createdBy !== '' ? { createdBy } : {}),
    ...(date !== undefined && !Number.isNaN(date.getTime()) ? { creationDate: date } : {})
  }
  return Object.freeze(meta)
}

/** The keys read from each entry of `files`, in this order. */
const FILE_KEYS = ['length', 'path.utf-8', 'path', 'attr'] as const

/**
 * BEP 3 files. `files` wins over `length` when both are present (as in libtorrent). Each file's path is
 * `[name, ...path]` (see TorrentFile.path); BEP 47 pad files have `attr` containing `p`.
 */
function readFiles (info: Dict, name: string): readonly TorrentFile[] {
  const list = get(info, 'files')
  if (list === undefined) {
    const length = integer(info, 'length')
    if (get(info, 'length') === undefined) throw new ZentorrentError('NO_FILES', 'the torrent has neither length nor files')
    if (!nonNegativeInteger(length)) throw new ZentorrentError('BAD_LENGTH', `length must be a non-negative integer, not ${describe(info, 'length')}`)
    return Object.freeze([Object.freeze({ path: Object.freeze([name]), length, offset: 0, pad: false })])
  }
  if (list.type !== 'list' || list.start === list.end) throw new ZentorrentError('NO_FILES', 'the torrent\'s file list is empty')
  // Counted before anything is built (refuse before you buffer).
  let count = 0
  for (const _ of listItems(info.bytes, list)) {
    if (++count > MAX_FILE_COUNT) {
      throw new ZentorrentError('TORRENT_TOO_LARGE', `the torrent has more than the ${MAX_FILE_COUNT} files accepted`)
    }
  }

  const files = new Array<TorrentFile>(count)
  const directoryNames = new Map<string, string>()
  const bytes = info.bytes
  let offset = 0
  let index = 0
  for (const item of listItems(bytes, list)) {
    if (item.type !== 'dict') throw new ZentorrentError('NO_FILES', `file ${index} is not a dictionary`)
    const [lengthValue, pathUtf8, pathValue, attrValue] = dictValues(bytes, item, FILE_KEYS)
    const length = lengthValue?.type === 'int' ? integerOf(bytes, lengthValue) : undefined
    if (!nonNegativeInteger(length)) {
      const shown = lengthValue === undefined ? 'missing' : length !== undefined ? String(length) : `a ${lengthValue.type}`
      throw new ZentorrentError('BAD_LENGTH', `file ${index}: length must be a non-negative integer, not ${shown}`)
    }
    const path = textList(info, pathUtf8) ?? textList(info, pathValue)
    if (path === undefined) throw new ZentorrentError('BAD_PATH', `file ${index} has no path (a list of strings)`)
    checkPath(path)
    const attr = text(info, attrValue)
    // An array of exactly the right size (one grown by push keeps 17 slots: 0.1 KB a file), and one string per
    // distinct directory name, shared by the files below it.
    const full = new Array<string>(path.length + 1)
    full[0] = name
    for (let i = 0; i < path.length; i++) {
      const component = path[i] as string
      full[i + 1] = i < path.length - 1 ? directoryNames.get(component) ?? (directoryNames.set(component, component), component) : component
    }
    files[index++] = Object.freeze({
      path: Object.freeze(full),
      length,
      offset,
      pad: attr !== undefined && attr.includes('p')
    })
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
  if (list?.type === 'list') {
    for (const tierValue of listItems(top.bytes, list)) {
      // A bare string where a tier should be: some tools write that; treat it as a tier of one.
      const items = tierValue.type === 'list' ? [...listItems(top.bytes, tierValue)] : [tierValue]
      const tier: string[] = []
      for (const item of items) {
        const url = text(top, item)?.trim()
        if (url === undefined || url === '' || seen.has(url)) continue
        seen.add(url)
        tier.push(url)
      }
      if (tier.length > 0) tiers.push(Object.freeze(tier))
    }
  }
  if (tiers.length === 0) {
    const announce = text(top, get(top, 'announce'))?.trim()
    if (announce !== undefined && announce !== '') tiers.push(Object.freeze([announce]))
  }
  return Object.freeze(tiers)
}

/** BEP 19: `url-list` is one URL or a list of them. */
function readUrlList (top: Dict): readonly string[] {
  const value = get(top, 'url-list')
  const items = value === undefined ? [] : value.type === 'list' ? [...listItems(top.bytes, value)] : [value]
  const urls: string[] = []
  for (const item of items) {
    const url = text(top, item)?.trim()
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
  return createGeometry(meta).pieceSize(index)
}
