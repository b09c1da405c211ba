/**
 * Pure encoders and decoders shared by the tracker clients and the embedded tracker:
 * - compact peers: 4-byte IPv4 + 2-byte port (BEP 23), 16-byte IPv6 + 2-byte port (BEP 7), both big-endian;
 * - percent-encoding of raw bytes for `info_hash` / `peer_id` (BEP 3: "the 20-byte SHA1 ... escaped").
 */
import { isIP } from 'node:net'
import { ZentorrentError } from '../errors.js'
import { COMPACT_LENGTH, decodeCompact, encodeCompact, formatIPv6, parseIPv6 } from '../peers/address.js'

export { formatIPv6, parseIPv6 }
import type { PeerAddress } from './types.js'

export const COMPACT_IPV4_LENGTH = COMPACT_LENGTH[4]
export const COMPACT_IPV6_LENGTH = COMPACT_LENGTH[6]

/**
 * Decode a compact peer string. A length that is not a multiple of the entry size means the reply is corrupt
 * (libtorrent rejects it too), so we throw rather than guess where entries start. At most `limit` peers are
 * returned; the rest are not even looked at, so a tracker cannot make us build a huge array. Port 0 is skipped.
 */
export function decodeCompactPeers (bytes: Uint8Array, family: 4 | 6, limit: number): PeerAddress[] {
  const size = COMPACT_LENGTH[family]
  if (bytes.length % size !== 0) {
    throw new ZentorrentError('TRACKER_BAD_REPLY',
      `compact ${family === 4 ? 'peers' : 'peers6'} length ${bytes.length} is not a multiple of ${size}`)
  }
  const peers: PeerAddress[] = []
  // port-0 entries are skipped; at most `limit` kept, and no more than that looked at beyond the skipped ones
  for (const entry of decodeCompact(bytes, family, Math.min(bytes.length / size, limit + 64))) {
    if (peers.length >= limit) break
    if (entry.port !== 0) peers.push({ ...entry, family: entry.host.includes(':') ? 6 : 4 })
  }
  return peers
}

/** One compact entry for `peer` (6 or 18 bytes, by family). */
export function encodeCompactPeer (peer: PeerAddress): Buffer {
  return encodeCompact(peer)
}



/**
 * Percent-encode raw bytes: every byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~) becomes `%XX`.
 * `encodeURIComponent` cannot be used: it takes text, and an info hash is not UTF-8.
 */
export function percentEncodeBytes (bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) {
    const unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e
    out += unreserved ? String.fromCharCode(byte) : `%${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`
  }
  return out
}

/** The reverse, to bytes (`+` is a space, as in form encoding); a malformed `%` escape is kept literally. */
export function percentDecodeBytes (text: string): Buffer {
  const out: number[] = []
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (ch === 0x25 && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16))
      i += 2
    } else if (ch === 0x2b) {
      out.push(0x20)
    } else {
      for (const byte of Buffer.from(text[i]!, 'utf8')) out.push(byte)
    }
  }
  return Buffer.from(out)
}

/** Convert what bencode 4 gives for a byte string to a Buffer (it returns Uint8Array views). */
export function toBuffer (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
}
