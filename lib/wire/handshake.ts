/**
 * The BEP 3 handshake (pure): 68 bytes, sent once by each side before any message.
 *
 *   <pstrlen=19><pstr="BitTorrent protocol"><reserved: 8 bytes><info_hash: 20><peer_id: 20>
 *
 * Reserved bits we set and read: BEP 10 extension protocol (reserved[5] & 0x10), BEP 6 Fast extension
 * (reserved[7] & 0x04) and BEP 5 DHT (reserved[7] & 0x01, only when we run a DHT node). Other reserved bits are kept in `reserved` and otherwise ignored (BEP 3: "all
 * current implementations send all zeroes"; BEP 4 lists the known ones).
 */
import { randomBytes } from 'node:crypto'
import { ZentorrentError } from '../errors.js'

export const PROTOCOL = 'BitTorrent protocol'
const PROTOCOL_BYTES = Buffer.from(PROTOCOL, 'latin1')
export const HANDSHAKE_LENGTH = 68
/** Byte index and mask of the BEP 10 bit. */
const EXTENDED_BYTE = 5
const EXTENDED_MASK = 0x10
/** Byte index and mask of the BEP 6 bit. */
const FAST_BYTE = 7
const FAST_MASK = 0x04
/** BEP 5: the peer runs a DHT node (it sends a `port` message). */
const DHT_BYTE = 7
const DHT_MASK = 0x01

export interface Handshake {
  readonly infoHash: Buffer
  readonly peerId: Buffer
  /** BEP 10 extension protocol supported. */
  readonly extended: boolean
  /** BEP 6 Fast extension supported. */
  readonly fast: boolean
  /** BEP 5: runs a DHT node. */
  readonly dht: boolean
  /** The 8 reserved bytes as received (for diagnostics; BEP 4). */
  readonly reserved: Buffer
}

export interface HandshakeInput {
  readonly infoHash: Buffer
  readonly peerId: Buffer
  readonly extended?: boolean
  readonly fast?: boolean
  readonly dht?: boolean
}

export function encodeHandshake (input: HandshakeInput): Buffer {
  if (input.infoHash.length !== 20) throw new ZentorrentError('BAD_ARGUMENT', `info hash must be 20 bytes, got ${input.infoHash.length}`)
  if (input.peerId.length !== 20) throw new ZentorrentError('BAD_ARGUMENT', `peer id must be 20 bytes, got ${input.peerId.length}`)
  const buf = Buffer.alloc(HANDSHAKE_LENGTH)
  buf[0] = PROTOCOL_BYTES.length
  PROTOCOL_BYTES.copy(buf, 1)
  if (input.extended ?? true) buf[20 + EXTENDED_BYTE] |= EXTENDED_MASK
  if (input.fast ?? true) buf[20 + FAST_BYTE] |= FAST_MASK
  if (input.dht === true) buf[20 + DHT_BYTE] |= DHT_MASK
  input.infoHash.copy(buf, 28)
  input.peerId.copy(buf, 48)
  return buf
}

/** True when the first byte can start a BitTorrent handshake: lets a parser refuse junk after one byte. */
export function isHandshakeStart (firstByte: number): boolean {
  return firstByte === PROTOCOL_BYTES.length
}

/**
 * Decode exactly 68 bytes. The result's buffers are copies, so the caller may reuse `buf`.
 * Throws BAD_HANDSHAKE for a wrong length or protocol string.
 */
export function decodeHandshake (buf: Buffer): Handshake {
  if (buf.length !== HANDSHAKE_LENGTH) {
    throw new ZentorrentError('BAD_HANDSHAKE', `handshake must be ${HANDSHAKE_LENGTH} bytes, got ${buf.length}`)
  }
  if (!isHandshakeStart(buf[0]) || !buf.subarray(1, 20).equals(PROTOCOL_BYTES)) {
    const shown = JSON.stringify(buf.subarray(0, 20).toString('latin1'))
    throw new ZentorrentError('BAD_HANDSHAKE', `peer did not speak the BitTorrent protocol (handshake starts ${shown})`)
  }
  const reserved = Buffer.from(buf.subarray(20, 28))
  return {
    infoHash: Buffer.from(buf.subarray(28, 48)),
    peerId: Buffer.from(buf.subarray(48, 68)),
    extended: (reserved[EXTENDED_BYTE] & EXTENDED_MASK) !== 0,
    fast: (reserved[FAST_BYTE] & FAST_MASK) !== 0,
    dht: (reserved[DHT_BYTE] & DHT_MASK) !== 0,
    reserved
  }
}

/** Azureus-style client prefix (BEP 20): "-ZT0100-" = zentorrent 0.1.0.0. */
export const PEER_ID_PREFIX = '-ZT0100-'

/** A fresh peer id: the client prefix and 12 random bytes. `random` is injectable for exact tests. */
export function generatePeerId (random: (n: number) => Buffer = randomBytes): Buffer {
  return Buffer.concat([Buffer.from(PEER_ID_PREFIX, 'latin1'), random(12)])
}
