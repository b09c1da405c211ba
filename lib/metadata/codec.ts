/**
 * The BEP 9 `ut_metadata` message codec (pure). Each message is the payload of a BEP 10 extended message:
 *
 *   request  d8:msg_typei0e5:piecei<n>ee
 *   data     d8:msg_typei1e5:piecei<n>e10:total_sizei<size>ee <the piece's raw bytes>
 *   reject   d8:msg_typei2e5:piecei<n>ee
 *
 * The metadata (the bencoded info dictionary) is cut into pieces of METADATA_PIECE_LENGTH bytes, the last one
 * shorter. Decoding refuses, with BAD_METADATA_MESSAGE, whatever a well-behaved peer never sends: a payload that is
 * not a bencoded dictionary (or one nested deeper than a message needs), a missing or non-integer `msg_type` or
 * `piece`, a negative one, a data message without `total_size` or without bytes. Bytes after the dictionary of a
 * request or reject are ignored (harmless; BEP 9 is silent). A `msg_type` we do not
 * know decodes to null: BEP 9 says an unrecognised message type MUST be ignored. Whether a piece index or length
 * fits the metadata is the receiver's check (it knows the size): see `checkMetadataSize`, `metadataPieceLength`.
 */
import bencode from 'bencode'
import { scanBencode } from '../bencode-scan.js'
import { ZentorrentError } from '../errors.js'

/** BEP 9: "The metadata is handled in blocks of 16KiB (16384 Bytes)." */
export const METADATA_PIECE_LENGTH = 16384
/**
 * The largest metadata we fetch or accept: 16 MiB (1024 pieces). A .torrent's info dictionary is about 20 bytes
 * per piece plus the file list: 16 MiB holds 800,000 pieces, or some 100,000 files. libtorrent's default
 * `max_metadata_size` is 3 MiB; larger torrents exist, so we allow more but not without bound, since the whole
 * dictionary is held in memory while it is assembled.
 */
export const MAX_METADATA_SIZE = 16 * 1024 * 1024
/** The dictionary of a message nests no deeper than 1; 4 leaves room for extension keys and refuses the rest. */
const MAX_DEPTH = 4

export const MetadataMessageType = { request: 0, data: 1, reject: 2 } as const

export type MetadataMessage =
  | { readonly type: 'request', readonly piece: number }
  | { readonly type: 'data', readonly piece: number, readonly totalSize: number, readonly data: Buffer }
  | { readonly type: 'reject', readonly piece: number }

/** Number of pieces of metadata of `size` bytes. */
export function metadataPieceCount (size: number): number {
  return Math.ceil(size / METADATA_PIECE_LENGTH)
}

/** Length of piece `piece` of metadata of `size` bytes (the last one is shorter); 0 when out of range. */
export function metadataPieceLength (size: number, piece: number): number {
  if (!Number.isSafeInteger(piece) || piece < 0) return 0
  return Math.max(0, Math.min(METADATA_PIECE_LENGTH, size - piece * METADATA_PIECE_LENGTH))
}

/**
 * A `metadata_size` a peer advertised (BEP 9, in its extended handshake), checked: a positive integer no larger
 * than `max`. BAD_METADATA_SIZE otherwise (0 is "no metadata", which a peer says by leaving the key out).
 */
export function checkMetadataSize (size: unknown, max: number = MAX_METADATA_SIZE): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size)) throw new ZentorrentError('BAD_METADATA_SIZE', `metadata_size ${String(size)} is not an integer`)
  if (size <= 0) throw new ZentorrentError('BAD_METADATA_SIZE', `metadata_size ${size} is not positive`)
  if (size > max) throw new ZentorrentError('BAD_METADATA_SIZE', `metadata_size ${size} is larger than the ${max} bytes we accept`)
  return size
}

function toBuffer (u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

/** One message as the payload of an extended message (for data: the dictionary followed by the bytes). */
export function encodeMetadataMessage (msg: MetadataMessage): Buffer {
  switch (msg.type) {
    case 'request': return toBuffer(bencode.encode({ msg_type: MetadataMessageType.request, piece: msg.piece }))
    case 'reject': return toBuffer(bencode.encode({ msg_type: MetadataMessageType.reject, piece: msg.piece }))
    case 'data': {
      const dict = toBuffer(bencode.encode({ msg_type: MetadataMessageType.data, piece: msg.piece, total_size: msg.totalSize }))
      return Buffer.concat([dict, msg.data])
    }
  }
}

function bad (why: string, cause?: unknown): ZentorrentError {
  return new ZentorrentError('BAD_METADATA_MESSAGE', `ut_metadata message ${why}`, cause === undefined ? undefined : { cause })
}

function uint (dict: Record<string, unknown>, key: string): number {
  const value = dict[key]
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw bad(`has no integer ${key}`)
  if (value < 0) throw bad(`has a negative ${key} (${value})`)
  return value
}

/**
 * Decode one ut_metadata payload. The `data` of a data message is a view of `payload` (no copy). Null for a
 * message type BEP 9 does not define (ignored). Throws BAD_METADATA_MESSAGE.
 */
export function decodeMetadataMessage (payload: Buffer): MetadataMessage | null {
  let end: number
  try {
    const scan = scanBencode(payload, { maxDepth: MAX_DEPTH })
    if (scan.type !== 'dict') throw bad('is not a bencoded dictionary')
    end = scan.end
  } catch (err) {
    if (err instanceof ZentorrentError && err.code === 'BAD_METADATA_MESSAGE') throw err
    throw bad('is not valid bencode', err)
  }
  const dict = bencode.decode(payload.subarray(0, end)) as Record<string, unknown>
  const type = uint(dict, 'msg_type')
  if (type !== MetadataMessageType.request && type !== MetadataMessageType.data && type !== MetadataMessageType.reject) return null
  const piece = uint(dict, 'piece')
  if (type === MetadataMessageType.data) {
    const totalSize = uint(dict, 'total_size')
    if (end === payload.length) throw bad(`data for piece ${piece} carries no bytes`)
    return { type: 'data', piece, totalSize, data: payload.subarray(end) }
  }
  return type === MetadataMessageType.request ? { type: 'request', piece } : { type: 'reject', piece }
}
