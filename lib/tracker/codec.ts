/**
 * Pure encoders and decoders shared by the tracker clients and the embedded tracker:
 * - compact peers: 4-byte IPv4 + 2-byte port (BEP 23), 16-byte IPv6 + 2-byte port (BEP 7), both big-endian;
 * - percent-encoding of raw bytes for `info_hash` / `peer_id` (BEP 3: "the 20-byte SHA1 ... escaped").
 */
import { isIP } from 'node:net'
import { ZentorrentError } from '../errors.js'
import type { PeerAddress } from './types.js'

export const COMPACT_IPV4_LENGTH = 6
export const COMPACT_IPV6_LENGTH = 18

/**
 * Decode a compact peer string. A length that is not a multiple of the entry size means the reply is corrupt
 * (libtorrent rejects it too), so we throw rather than guess where entries start. At most `limit` peers are
 * returned; the rest are not even looked at, so a tracker cannot make us build a huge array. Port 0 is skipped.
 */
export function decodeCompactPeers (bytes: Uint8Array, family: 4 | 6, limit: number): PeerAddress[] {
  const size = family === 4 ? COMPACT_IPV4_LENGTH : COMPACT_IPV6_LENGTH
  if (bytes.length % size !== 0) {
    throw new ZentorrentError('TRACKER_BAD_REPLY',
      `compact ${family === 4 ? 'peers' : 'peers6'} length ${bytes.length} is not a multiple of ${size}`)
  }
  const peers: PeerAddress[] = []
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  for (let offset = 0; offset < view.length && peers.length < limit; offset += size) {
    const port = view.readUInt16BE(offset + size - 2)
    if (port === 0) continue
    const host = family === 4
      ? `${view[offset]}.${view[offset + 1]}.${view[offset + 2]}.${view[offset + 3]}`
      : formatIPv6(view.subarray(offset, offset + 16))
    peers.push({ host, port, family })
  }
  return peers
}

/** One compact entry for `peer` (6 or 18 bytes, by family). */
export function encodeCompactPeer (peer: PeerAddress): Buffer {
  if (peer.family === 4) {
    const out = Buffer.alloc(COMPACT_IPV4_LENGTH)
    peer.host.split('.').forEach((part, i) => { out[i] = Number(part) })
    out.writeUInt16BE(peer.port, 4)
    return out
  }
  const out = Buffer.alloc(COMPACT_IPV6_LENGTH)
  parseIPv6(peer.host).copy(out, 0)
  out.writeUInt16BE(peer.port, 16)
  return out
}

/** RFC 5952 text form of 16 bytes: lower-case hex, leading zeros dropped, the longest run (≥ 2) of zero groups as `::`. */
export function formatIPv6 (bytes: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!)
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/** 16 bytes of an IPv6 literal (accepts `::` and an embedded dotted IPv4 tail). */
export function parseIPv6 (text: string): Buffer {
  if (isIP(text) !== 6) throw new ZentorrentError('BAD_ARGUMENT', `not an IPv6 address: ${text}`)
  let groups: string[]
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  let source = text
  if (dotted !== null) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number]
    source = text.slice(0, -dotted[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = source.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  if (tail === undefined) {
    groups = headGroups
  } else {
    const tailGroups = tail === '' ? [] : tail.split(':')
    groups = [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
  }
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
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
