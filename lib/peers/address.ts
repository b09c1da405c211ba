/**
 * Peer addresses, the one vocabulary every peer source speaks (trackers, DHT, PEX, LSD, `--peer`, magnet `x.pe`,
 * incoming connections). Pure functions:
 *
 * - `normalizeHost` / `normalizeAddress`: one spelling per address, so the peer book deduplicates. IPv4 stays
 *   dotted decimal (leading zeros and other spellings `net.isIP` refuses are refused); IPv4-mapped IPv6
 *   (`::ffff:1.2.3.4`, `::ffff:102:304`) becomes the IPv4 it maps — a dual-stack socket reports an IPv4 peer that
 *   way, and a tracker may too; other IPv6 takes its RFC 5952 form (lower case, longest zero run as `::`);
 *   brackets are dropped; a zone (`fe80::1%eth0`) is refused (it means nothing to another host). Host names are
 *   lower-cased and kept (the user's `--peer localhost:6881`); sources that only ever give IP literals (compact
 *   formats) never produce one.
 * - `peerKey`: `host:port`, `[v6]:port` — the same text the swarm uses as a connection id.
 * - `classifyHost`: which kind of address (loopback, private, multicast …), for the filters of PEX, LSD and the
 *   DHT's network guard. Ranges from RFC 6890 (special-purpose registries) and RFC 4291 / 4193 for IPv6.
 * - `parseHostPort` / `parseHostPortList`: `HOST:PORT`, `[V6]:PORT`, comma-separated, for CLI options.
 * - compact entries (4+2 and 16+2 bytes, BEP 23 / BEP 7 / BEP 11) in both directions.
 */
import { isIP } from 'node:net'
import { ZentorrentError } from '../errors.js'

export interface PeerAddress {
  readonly host: string
  readonly port: number
}

export type HostKind =
  | 'unspecified' // 0.0.0.0/8, ::
  | 'loopback' // 127.0.0.0/8, ::1
  | 'private' // 10/8, 172.16/12, 192.168/16, 100.64/10 (shared), fc00::/7 (unique local)
  | 'link-local' // 169.254/16, fe80::/10
  | 'multicast' // 224/4, ff00::/8
  | 'broadcast' // 255.255.255.255
  | 'reserved' // 240/4, documentation and benchmarking ranges, 2001:db8::/32
  | 'public'
  | 'hostname'

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/

/** The canonical spelling of a host, or null when it is no valid address or host name. */
export function normalizeHost (host: string): string | null {
  let text = host.trim()
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1)
  const family = isIP(text)
  if (family === 4) return text
  if (family === 6) {
    if (text.includes('%')) return null
    const bytes = parseIPv6(text)
    if (isMappedIPv4(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
    return formatIPv6(bytes)
  }
  const lower = text.toLowerCase()
  // Something that looks numeric but is not a valid IPv4 (`01.2.3.4`, `1.2.3`, `256.1.1.1`) is refused rather than
  // handed to a resolver that would read it as octal or as a short form.
  // A last label that is all digits or hex (`0x7f.1`) is what inet_aton reads as a number: no host name has one.
  if (/^[0-9.]+$/.test(lower) || /(^|\.)(0x[0-9a-f]*|[0-9]+)\.?$/.test(lower)) return null
  return HOSTNAME.test(lower) ? lower : null
}

function isMappedIPv4 (bytes: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}

/** The canonical form of an address, or null when the host is invalid or the port is not 1..65535. */
export function normalizeAddress (address: PeerAddress): PeerAddress | null {
  const { port } = address
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null
  const host = normalizeHost(address.host)
  return host === null ? null : { host, port }
}

/** `host:port`, with brackets around an IPv6 host. Give it a normalised address to get a deduplicating key. */
export function peerKey (address: PeerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
}

/** The key of an address as given, normalised when it can be (`::ffff:1.2.3.4:5` is `1.2.3.4:5`). */
export function addressKey (address: PeerAddress): string {
  return peerKey(normalizeAddress(address) ?? address)
}

/** The host part of a key made by `peerKey`. */
export function hostOfKey (key: string): string {
  return key.startsWith('[') ? key.slice(1, key.indexOf(']')) : key.slice(0, key.lastIndexOf(':'))
}

export function ipFamily (host: string): 0 | 4 | 6 {
  return isIP(host) as 0 | 4 | 6
}

/** The kind of a normalised host (see `normalizeHost`). */
export function classifyHost (host: string): HostKind {
  const family = isIP(host)
  if (family === 4) {
    const [a, b, c] = host.split('.').map(Number) as [number, number, number, number]
    if (host === '255.255.255.255') return 'broadcast'
    if (a === 0) return 'unspecified'
    if (a === 127) return 'loopback'
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) return 'private'
    if (a === 169 && b === 254) return 'link-local'
    if (a >= 224 && a <= 239) return 'multicast'
    if (a >= 240) return 'reserved'
    if ((a === 192 && b === 0 && (c === 2 || c === 0)) || (a === 198 && b === 51 && c === 100) ||
      (a === 203 && b === 0 && c === 113) || (a === 198 && (b === 18 || b === 19))) return 'reserved'
    return 'public'
  }
  if (family === 6) {
    const bytes = parseIPv6(host)
    if (bytes.every((x) => x === 0)) return 'unspecified'
    if (bytes.subarray(0, 15).every((x) => x === 0) && bytes[15] === 1) return 'loopback'
    if (isMappedIPv4(bytes)) return classifyHost(`${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`)
    if (bytes[0] === 0xff) return 'multicast'
    if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) return 'link-local'
    if ((bytes[0]! & 0xfe) === 0xfc) return 'private'
    if (bytes[0] === 0x20 && bytes[1] === 0x01 && bytes[2] === 0x0d && bytes[3] === 0xb8) return 'reserved'
    return 'public'
  }
  return 'hostname'
}

/** Loopback, private or link-local: an address that does not leave the local network. */
export function isLocalHost (host: string): boolean {
  const kind = classifyHost(host)
  return kind === 'loopback' || kind === 'private' || kind === 'link-local'
}

/** Addresses nobody can be dialled at: unspecified, multicast, broadcast, reserved. */
export function isUndialable (host: string): boolean {
  const kind = classifyHost(host)
  return kind === 'unspecified' || kind === 'multicast' || kind === 'broadcast' || kind === 'reserved'
}

/**
 * `HOST:PORT` or `[V6]:PORT` (a bare IPv6 without brackets is ambiguous and refused). `defaultPort` is used when
 * the text has no port. Throws BAD_ARGUMENT with the offending text.
 */
export function parseHostPort (text: string, defaultPort?: number): PeerAddress {
  const trimmed = text.trim()
  let host: string
  let portText: string | undefined
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed)
  if (bracketed !== null) {
    host = bracketed[1]!
    portText = bracketed[2]
  } else {
    const colon = trimmed.lastIndexOf(':')
    if (colon >= 0 && trimmed.indexOf(':') !== colon) {
      throw new ZentorrentError('BAD_ARGUMENT', `${JSON.stringify(text)}: write an IPv6 address in brackets, as [::1]:6881`)
    }
    host = colon >= 0 ? trimmed.slice(0, colon) : trimmed
    portText = colon >= 0 ? trimmed.slice(colon + 1) : undefined
  }
  const port = portText === undefined ? defaultPort : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN
  if (port === undefined) throw new ZentorrentError('BAD_ARGUMENT', `${JSON.stringify(text)}: expected HOST:PORT`)
  const address = normalizeAddress({ host, port })
  if (address === null) throw new ZentorrentError('BAD_ARGUMENT', `${JSON.stringify(text)} is not a valid HOST:PORT`)
  return address
}

/** A comma-separated list of HOST:PORT (empty items ignored). */
export function parseHostPortList (text: string, defaultPort?: number): PeerAddress[] {
  return text.split(',').filter((item) => item.trim() !== '').map((item) => parseHostPort(item, defaultPort))
}

export const COMPACT_LENGTH = { 4: 6, 6: 18 } as const

/** One compact entry (6 bytes for IPv4, 18 for IPv6); the host must be an IP literal. */
export function encodeCompact (address: PeerAddress): Buffer {
  const family = isIP(address.host)
  if (family === 4) {
    const out = Buffer.alloc(6)
    address.host.split('.').forEach((part, i) => { out[i] = Number(part) })
    out.writeUInt16BE(address.port, 4)
    return out
  }
  if (family === 6) {
    const out = Buffer.alloc(18)
    parseIPv6(address.host).copy(out, 0)
    out.writeUInt16BE(address.port, 16)
    return out
  }
  throw new ZentorrentError('BAD_ARGUMENT', `cannot encode ${address.host} compactly: not an IP address`)
}

/**
 * Decode up to `limit` compact entries of `family` (a trailing partial entry is ignored: callers that must refuse
 * it check the length first). Entries with port 0 are kept as `port: 0` so a caller can count them as bogus;
 * the host comes out normalised (an IPv4-mapped IPv6 entry becomes IPv4).
 */
export function decodeCompact (bytes: Uint8Array, family: 4 | 6, limit: number): Array<{ host: string, port: number }> {
  const size = COMPACT_LENGTH[family]
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const out: Array<{ host: string, port: number }> = []
  for (let offset = 0; offset + size <= view.length && out.length < limit; offset += size) {
    const port = view.readUInt16BE(offset + size - 2)
    const host = family === 4
      ? `${view[offset]}.${view[offset + 1]}.${view[offset + 2]}.${view[offset + 3]}`
      : normalizeHost(formatIPv6(view.subarray(offset, offset + 16)))!
    out.push({ host, port })
  }
  return out
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
