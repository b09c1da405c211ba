/**
 * The peer wire message codec (pure). Every message on the wire after the handshake is
 *
 *   <length: uint32 BE><id: 1 byte><payload: length - 1 bytes>        (length 0 = keep-alive, no id)
 *
 * Ids: BEP 3 (0–9), BEP 6 Fast extension (0x0D–0x11), BEP 10 extension protocol (20).
 * Encoders return a list of buffers so payloads (a piece's block, an extended payload) are never copied:
 * the writer pushes them one after the other (or writev's them).
 */
import bencode from 'bencode'
import { scanBencode } from '../bencode-scan.js'
import { ZentorrentError } from '../errors.js'

export const MessageId = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  // BEP 6
  suggest: 0x0d,
  haveAll: 0x0e,
  haveNone: 0x0f,
  reject: 0x10,
  allowedFast: 0x11,
  // BEP 10
  extended: 20
} as const

/** A block address: piece index, byte offset inside the piece, length in bytes. */
export interface BlockRequest {
  readonly index: number
  readonly offset: number
  readonly length: number
}

export type Message =
  | { readonly type: 'keep-alive' }
  | { readonly type: 'choke' }
  | { readonly type: 'unchoke' }
  | { readonly type: 'interested' }
  | { readonly type: 'not-interested' }
  | { readonly type: 'have', readonly index: number }
  /** Raw bits, MSB first (BEP 3); validated against the piece count by the Wire. */
  | { readonly type: 'bitfield', readonly bitfield: Buffer }
  | ({ readonly type: 'request' } & BlockRequest)
  | { readonly type: 'piece', readonly index: number, readonly offset: number, readonly data: Buffer }
  | ({ readonly type: 'cancel' } & BlockRequest)
  | { readonly type: 'port', readonly port: number }
  | { readonly type: 'suggest', readonly index: number }
  | { readonly type: 'have-all' }
  | { readonly type: 'have-none' }
  | ({ readonly type: 'reject' } & BlockRequest)
  | { readonly type: 'allowed-fast', readonly index: number }
  /** BEP 10: `id` 0 is the extended handshake (a bencoded dict), other ids are what the peer's `m` assigned. */
  | { readonly type: 'extended', readonly id: number, readonly payload: Buffer }

export type MessageType = Message['type']

/**
 * The exact length prefix of each fixed-size message (id byte included). The framing refuses any other
 * length before buffering a byte of the body.
 */
export const FIXED_LENGTH: Readonly<Record<number, number>> = {
  [MessageId.choke]: 1,
  [MessageId.unchoke]: 1,
  [MessageId.interested]: 1,
  [MessageId.notInterested]: 1,
  [MessageId.have]: 5,
  [MessageId.request]: 13,
  [MessageId.cancel]: 13,
  [MessageId.port]: 3,
  [MessageId.suggest]: 5,
  [MessageId.haveAll]: 1,
  [MessageId.haveNone]: 1,
  [MessageId.reject]: 13,
  [MessageId.allowedFast]: 5
}

/** Piece message overhead before the block: id (1) + index (4) + offset (4). */
export const PIECE_HEADER_LENGTH = 9

const KEEP_ALIVE = Buffer.alloc(4)
const SIMPLE: Partial<Record<MessageType, Buffer>> = {}
for (const [type, id] of [
  ['choke', MessageId.choke], ['unchoke', MessageId.unchoke], ['interested', MessageId.interested],
  ['not-interested', MessageId.notInterested], ['have-all', MessageId.haveAll], ['have-none', MessageId.haveNone]
] as const) {
  SIMPLE[type] = Buffer.from([0, 0, 0, 1, id])
}

function header (length: number, id: number, extra: number): Buffer {
  const buf = Buffer.allocUnsafe(5 + extra)
  buf.writeUInt32BE(length, 0)
  buf[4] = id
  return buf
}

function indexMessage (id: number, index: number): Buffer {
  const buf = header(5, id, 4)
  buf.writeUInt32BE(index, 5)
  return buf
}

function blockMessage (id: number, r: BlockRequest): Buffer {
  const buf = header(13, id, 12)
  buf.writeUInt32BE(r.index, 5)
  buf.writeUInt32BE(r.offset, 9)
  buf.writeUInt32BE(r.length, 13)
  return buf
}

/**
 * Encode one message as the buffers to write in order. Fixed messages are one buffer; `piece`, `bitfield`
 * and `extended` are [header, payload] with the payload passed through uncopied.
 */
export function encodeMessage (msg: Message): Buffer[] {
  switch (msg.type) {
    case 'keep-alive': return [KEEP_ALIVE]
    case 'choke': case 'unchoke': case 'interested': case 'not-interested': case 'have-all': case 'have-none':
      return [SIMPLE[msg.type] as Buffer]
    case 'have': return [indexMessage(MessageId.have, msg.index)]
    case 'suggest': return [indexMessage(MessageId.suggest, msg.index)]
    case 'allowed-fast': return [indexMessage(MessageId.allowedFast, msg.index)]
    case 'request': return [blockMessage(MessageId.request, msg)]
    case 'cancel': return [blockMessage(MessageId.cancel, msg)]
    case 'reject': return [blockMessage(MessageId.reject, msg)]
    case 'bitfield': return [header(1 + msg.bitfield.length, MessageId.bitfield, 0), msg.bitfield]
    case 'piece': {
      const buf = header(PIECE_HEADER_LENGTH + msg.data.length, MessageId.piece, 8)
      buf.writeUInt32BE(msg.index, 5)
      buf.writeUInt32BE(msg.offset, 9)
      return [buf, msg.data]
    }
    case 'port': {
      const buf = header(3, MessageId.port, 2)
      buf.writeUInt16BE(msg.port, 5)
      return [buf]
    }
    case 'extended': {
      const buf = header(2 + msg.payload.length, MessageId.extended, 1)
      buf[5] = msg.id
      return [buf, msg.payload]
    }
  }
}

/** Convenience for tests and small messages: one contiguous buffer (copies). */
export function encodeMessageToBuffer (msg: Message): Buffer {
  const parts = encodeMessage(msg)
  return parts.length === 1 ? parts[0] : Buffer.concat(parts)
}

function badLength (name: string, got: number): ZentorrentError {
  return new ZentorrentError('BAD_MESSAGE', `${name} message has a payload of ${got} bytes, which its format does not allow`)
}

/**
 * Decode a message body (`payload`: the bytes after the id). Returns null for an id we do not know
 * (BEP 3 and every client since: ignore unknown messages). The returned buffers are views of `payload`.
 * Throws BAD_MESSAGE when the payload length does not fit the id.
 */
export function decodeMessage (id: number, payload: Buffer): Message | null {
  const fixed = FIXED_LENGTH[id]
  if (fixed !== undefined && payload.length !== fixed - 1) throw badLength(`id ${id}`, payload.length)
  switch (id) {
    case MessageId.choke: return { type: 'choke' }
    case MessageId.unchoke: return { type: 'unchoke' }
    case MessageId.interested: return { type: 'interested' }
    case MessageId.notInterested: return { type: 'not-interested' }
    case MessageId.haveAll: return { type: 'have-all' }
    case MessageId.haveNone: return { type: 'have-none' }
    case MessageId.have: return { type: 'have', index: payload.readUInt32BE(0) }
    case MessageId.suggest: return { type: 'suggest', index: payload.readUInt32BE(0) }
    case MessageId.allowedFast: return { type: 'allowed-fast', index: payload.readUInt32BE(0) }
    case MessageId.request: case MessageId.cancel: case MessageId.reject: return {
      type: id === MessageId.request ? 'request' : id === MessageId.cancel ? 'cancel' : 'reject',
      index: payload.readUInt32BE(0),
      offset: payload.readUInt32BE(4),
      length: payload.readUInt32BE(8)
    }
    case MessageId.port: return { type: 'port', port: payload.readUInt16BE(0) }
    case MessageId.bitfield: return { type: 'bitfield', bitfield: payload }
    case MessageId.piece:
      if (payload.length < PIECE_HEADER_LENGTH - 1) throw badLength('piece', payload.length)
      return { type: 'piece', index: payload.readUInt32BE(0), offset: payload.readUInt32BE(4), data: payload.subarray(8) }
    case MessageId.extended:
      if (payload.length < 1) throw badLength('extended', payload.length)
      return { type: 'extended', id: payload[0], payload: payload.subarray(1) }
    default:
      return null
  }
}

// ---- BEP 10 extended handshake -----------------------------------------------------------------------

/** The BEP 10 extended handshake dictionary (message id 20, extended id 0). All keys optional. */
export interface ExtendedHandshake {
  /** Extension name → the id the sender wants to receive it under (0 = disabled). */
  m?: Record<string, number>
  /** Client name and version, UTF-8. */
  v?: string
  /** The sender's listen port. */
  p?: number
  /** How many outstanding requests the sender accepts (libtorrent's default is 250). */
  reqq?: number
  /** BEP 9: size of the info dictionary. */
  metadata_size?: number
  /** Our address as the sender sees it (4 or 16 bytes). */
  yourip?: Buffer
  /** Keys we do not model are kept as decoded by bencode. */
  [key: string]: unknown
}

export function encodeExtendedHandshake (dict: ExtendedHandshake): Buffer {
  const clean: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(dict)) if (value !== undefined) clean[key] = value
  clean.m = dict.m ?? {}
  const u8 = bencode.encode(clean)
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function asUint (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined
}

/**
 * Decode an extended handshake. Throws BAD_MESSAGE when the payload is not a bencoded dictionary;
 * ill-typed known keys are dropped rather than fatal (BEP 10: clients must tolerate unknown and odd keys).
 */
export function decodeExtendedHandshake (payload: Buffer): ExtendedHandshake {
  let raw: unknown
  try {
    // The scan first: bencode.decode loops forever on a negative string length (`d1:m-3:e`) and recurses per level.
    scanBencode(payload, { uniqueKeys: 'none' })
    raw = bencode.decode(payload)
  } catch (err) {
    throw new ZentorrentError('BAD_MESSAGE', 'extended handshake is not valid bencode', { cause: err })
  }
  if (!isRecord(raw)) throw new ZentorrentError('BAD_MESSAGE', 'extended handshake is not a bencoded dictionary')
  const out: ExtendedHandshake = {}
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'm' || key === 'v' || key === 'p' || key === 'reqq' || key === 'metadata_size' || key === 'yourip') continue
    out[key] = value
  }
  const m: Record<string, number> = {}
  if (isRecord(raw.m)) {
    for (const [name, id] of Object.entries(raw.m)) {
      const n = asUint(id)
      if (n !== undefined && n <= 255) m[name] = n
    }
  }
  out.m = m
  if (raw.v instanceof Uint8Array) out.v = Buffer.from(raw.v).toString('utf8')
  const p = asUint(raw.p)
  if (p !== undefined && p > 0 && p < 65536) out.p = p
  const reqq = asUint(raw.reqq)
  if (reqq !== undefined && reqq > 0) out.reqq = reqq
  const size = asUint(raw.metadata_size)
  if (size !== undefined) out.metadata_size = size
  if (raw.yourip instanceof Uint8Array && (raw.yourip.length === 4 || raw.yourip.length === 16)) out.yourip = Buffer.from(raw.yourip)
  return out
}
