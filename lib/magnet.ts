/**
 * Magnet links (BEP 9, BEP 53) and bare info hashes: parse and format (pure).
 *
 *   magnet:?xt=urn:btih:<info hash>&dn=<name>&tr=<tracker>&…&x.pe=<host:port>&ws=<web seed>&so=<files>
 *
 * What each parameter becomes:
 * - `xt` (also `xt.1`, `xt.2`, … as some writers number them): `urn:btih:` with the v1 info hash as 40 hex or 32
 *   base32 characters (RFC 4648 alphabet, either case, no padding), and/or `urn:btmh:` with the v2 info hash as a
 *   hex multihash (BEP 52: `1220` = sha2-256, 32 bytes, then the digest). A btmh is parsed and handed on typed;
 *   whether a v2-only link can be used is the caller's decision (V2_ONLY there). `xt` values of other URN kinds
 *   (sha1, ed2k …) are ignored. Two different btih values name two torrents: BAD_INFO_HASH.
 * - `dn`: the display name, a hint until the metadata arrives (control characters are replaced by U+FFFD: it is
 *   printed on a terminal). Bytes that are not UTF-8 are replaced too: a bad hint is no reason to refuse a link.
 * - every `tr`: BEP 12 rules as libtorrent applies them to magnets: one tier per tracker, in order; an empty value
 *   or a URL seen before is dropped. Schemes are not judged here: lib/tracker/tiers.ts skips (and reports) the ones
 *   we do not speak, as for a .torrent's announce-list.
 * - every `x.pe` (BEP 9): a peer as `host:port` or `[ipv6]:port`; host an IPv4 literal or a DNS name. A bad one
 *   is BAD_PEER_ADDRESS: the user (or the link's author) named that peer on purpose.
 * - every `ws` (BEP 19 web seeds, as the BEP 9 draft and libtorrent name them): http(s) URLs; others are ignored and
 *   listed in `ignored`.
 * - `so` (BEP 53 select-only): `0,2,4-6`, file indexes and inclusive ranges; kept as sorted, merged ranges (a link
 *   may say `0-4294967295`: the indexes are expanded only against a real file count, by `selectOnlyIndexes`).
 * - anything else (`xl`, `kt`, `xs`, `as`, `ix`, unknown keys) is ignored.
 *
 * Syntax is strict where being lenient would hide a mistake: the link must start with `magnet:?` (any case); a `%`
 * not followed by two hex digits is BAD_MAGNET; a hash of the wrong length or alphabet is BAD_INFO_HASH (the
 * `magnet-uri` package reads 39 hex characters as base32 of its first 32, and any 40 characters as hex). Values are
 * `application/x-www-form-urlencoded`: `+` is a space, as libtorrent and aria2 decode them.
 */
import { isIP } from 'node:net'
import { ZentorrentError } from './errors.js'
import type { Metainfo } from './metainfo.js'

/** A v2 info hash (BEP 52) as a `urn:btmh:` multihash carries it. */
export interface InfoHashV2 {
  /** The only multihash function BEP 52 uses. */
  readonly algorithm: 'sha2-256'
  /** The 32-byte SHA-256 digest: the v2 info hash. */
  readonly digest: Buffer
}

/** A peer named in a link (`x.pe`); the shape lib/swarm.ts dials. */
export interface MagnetPeer {
  /** IPv4 or IPv6 literal (without brackets), or a DNS name. */
  readonly host: string
  readonly port: number
}

/** An inclusive range of file indexes (BEP 53). */
export interface IndexRange {
  readonly first: number
  readonly last: number
}

export interface MagnetLink {
  /** The v1 info hash (20 bytes); absent for a v2-only link. */
  readonly infoHash?: Buffer
  readonly infoHashV2?: InfoHashV2
  /** `dn`, when given (a hint: the metadata's name wins). */
  readonly name?: string
  /** BEP 12 tiers, one tracker each. */
  readonly trackers: readonly (readonly string[])[]
  readonly peers: readonly MagnetPeer[]
  readonly webSeeds: readonly string[]
  /** BEP 53 `so`, sorted and merged; absent when the link selects nothing (= everything). */
  readonly selectOnly?: readonly IndexRange[]
  /** What was left out, one line each, for the caller to show as warnings. */
  readonly ignored: readonly string[]
}

/** The fields formatMagnet writes. */
export interface MagnetFields {
  readonly infoHash: Buffer
  readonly infoHashV2?: InfoHashV2
  readonly name?: string
  readonly trackers?: readonly (readonly string[])[]
  readonly peers?: readonly MagnetPeer[]
  readonly webSeeds?: readonly string[]
  readonly selectOnly?: readonly IndexRange[]
}

/** The largest file index `so` may name: file lists are far shorter; this keeps every index a small integer. */
export const MAX_SELECT_INDEX = 0x7fffffff
/** A link is text a user pasted; anything longer than this is not a magnet link but an attack on the parser. */
export const MAX_MAGNET_LENGTH = 64 * 1024

const MAGNET_PREFIX = /^magnet:\?/i
const HEX40 = /^[0-9a-f]{40}$/i
const BASE32_32 = /^[a-z2-7]{32}$/i
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
/** BEP 52 multihash prefix: function 0x12 (sha2-256), length 0x20 (32 bytes). */
const BTMH_SHA256_PREFIX = '1220'
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g

/** True when `text` starts like a magnet link (the caller then parses it and reports its errors). */
export function isMagnetUri (text: string): boolean {
  return MAGNET_PREFIX.test(text)
}

/** A bare v1 info hash: 40 hex or 32 base32 characters → 20 bytes. BAD_INFO_HASH otherwise. */
export function parseInfoHash (text: string): Buffer {
  const s = text.trim()
  if (HEX40.test(s)) return Buffer.from(s, 'hex')
  if (BASE32_32.test(s)) return base32Decode(s)
  if (/^[0-9a-f]+$/i.test(s)) {
    throw new ZentorrentError('BAD_INFO_HASH', `info hash "${clip(s)}" has ${s.length} hex characters; a v1 info hash has 40 (or 32 in base32)`)
  }
  if (s.length === 32) throw new ZentorrentError('BAD_INFO_HASH', `info hash "${clip(s)}" is not base32 (letters A-Z and digits 2-7)`)
  if (s.length === 40) throw new ZentorrentError('BAD_INFO_HASH', `info hash "${clip(s)}" is not hexadecimal`)
  throw new ZentorrentError('BAD_INFO_HASH', `"${clip(s)}" is not an info hash (40 hex or 32 base32 characters)`)
}

/** True when `text` is a bare v1 info hash (40 hex or 32 base32 characters). */
export function isInfoHash (text: string): boolean {
  const s = text.trim()
  return HEX40.test(s) || BASE32_32.test(s)
}

/** RFC 4648 base32 of exactly 32 characters (160 bits) → 20 bytes. The caller has checked the alphabet. */
function base32Decode (s: string): Buffer {
  const out = Buffer.alloc(20)
  let bits = 0
  let value = 0
  let at = 0
  for (const ch of s.toLowerCase()) {
    value = (value << 5) | BASE32_ALPHABET.indexOf(ch)
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[at++] = (value >>> bits) & 0xff
    }
  }
  return out
}

/** 20 bytes → 32 base32 characters (upper case, as BEP 9 shows them). */
export function base32Encode (bytes: Buffer): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += BASE32_ALPHABET[(value >>> bits) & 31]
    }
    value &= 0xff
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31]
  return out.toUpperCase()
}

function clip (s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

/**
 * Percent-decode a form-encoded value into bytes: `+` is a space, `%XX` a byte. A `%` without two hex digits
 * after it is BAD_MAGNET.
 */
function percentDecode (key: string, value: string): Buffer {
  const bytes: number[] = []
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i)
    if (ch === 0x25) {
      const hex = value.slice(i + 1, i + 3)
      if (!/^[0-9a-f]{2}$/i.test(hex)) throw new ZentorrentError('BAD_MAGNET', `magnet link: ${key} has a "%" not followed by two hex digits`)
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (ch === 0x2b) {
      bytes.push(0x20)
    } else {
      // The rest of the value is text; keep its UTF-8 bytes so a mix of raw and escaped UTF-8 decodes whole.
      const end = value.slice(i).search(/[%+]/)
      const chunk = end < 0 ? value.slice(i) : value.slice(i, i + end)
      for (const b of Buffer.from(chunk, 'utf8')) bytes.push(b)
      i += chunk.length - 1
    }
  }
  return Buffer.from(bytes)
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const lenientUtf8 = new TextDecoder('utf-8')

function decodeText (key: string, value: string): string {
  try {
    return strictUtf8.decode(percentDecode(key, value))
  } catch (err) {
    if (err instanceof ZentorrentError) throw err
    throw new ZentorrentError('BAD_MAGNET', `magnet link: ${key} is not UTF-8 text`, { cause: err })
  }
}

/** `xt` → a v1 hash, a v2 hash, or null for URN kinds we do not use. */
function parseExactTopic (value: string): { v1?: Buffer, v2?: InfoHashV2 } | null {
  const m = /^urn:([a-z0-9]+):(.*)$/i.exec(value)
  if (m === null) throw new ZentorrentError('BAD_INFO_HASH', `magnet link: xt "${clip(value)}" is not a URN (urn:btih:…)`)
  const kind = (m[1] as string).toLowerCase()
  const hash = m[2] as string
  if (kind === 'btih') {
    if (hash === '') throw new ZentorrentError('BAD_INFO_HASH', 'magnet link: xt=urn:btih: has no info hash after it')
    return { v1: parseInfoHash(hash) }
  }
  if (kind === 'btmh') return { v2: parseMultihash(hash) }
  return null
}

/** BEP 52: `urn:btmh:` + hex multihash; only sha2-256 (`1220` + 64 hex) is a BitTorrent v2 info hash. */
function parseMultihash (hex: string): InfoHashV2 {
  if (!/^[0-9a-f]*$/i.test(hex) || hex.length % 2 !== 0) {
    throw new ZentorrentError('BAD_INFO_HASH', `magnet link: btmh "${clip(hex)}" is not a hex multihash`)
  }
  if (!hex.toLowerCase().startsWith(BTMH_SHA256_PREFIX)) {
    throw new ZentorrentError('BAD_INFO_HASH', `magnet link: btmh "${clip(hex)}" is not a sha2-256 multihash (it must start with 1220)`)
  }
  if (hex.length !== BTMH_SHA256_PREFIX.length + 64) {
    throw new ZentorrentError('BAD_INFO_HASH', `magnet link: btmh has ${hex.length / 2 - 2} digest bytes; sha2-256 has 32`)
  }
  return { algorithm: 'sha2-256', digest: Buffer.from(hex.slice(BTMH_SHA256_PREFIX.length), 'hex') }
}

/** `host:port`, `[v6]:port`: the forms BEP 9 gives for `x.pe`. */
export function parsePeerAddress (text: string): MagnetPeer {
  const bad = (why: string): ZentorrentError => new ZentorrentError('BAD_PEER_ADDRESS', `peer address "${clip(text)}" ${why}`)
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') throw bad('must be [IPv6]:port')
    host = text.slice(1, close)
    portText = text.slice(close + 2)
    if (isIP(host) !== 6) throw bad('has no IPv6 address between the brackets')
  } else {
    const colon = text.lastIndexOf(':')
    if (colon < 0) throw bad('has no port (host:port)')
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (host.includes(':')) throw bad('is an IPv6 address without brackets ([IPv6]:port)')
    if (host === '') throw bad('has no host')
    if (isIP(host) !== 4) {
      if (/^[0-9.]+$/.test(host)) throw bad('is not a valid IPv4 address')
      if (host.length > 253 || !host.split('.').every((label) => DNS_LABEL.test(label))) throw bad('is not an IP address or a host name')
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad('has no valid port')
  const port = Number(portText)
  if (port < 1 || port > 65535) throw bad('has a port outside 1-65535')
  return { host, port }
}

/** BEP 53: `0,2,4-6` → sorted, merged inclusive ranges. BAD_SELECT_ONLY for anything else. */
export function parseSelectOnly (text: string): IndexRange[] {
  const bad = (why: string): ZentorrentError => new ZentorrentError('BAD_SELECT_ONLY', `select-only (so) "${clip(text)}" ${why}`)
  const ranges: IndexRange[] = []
  for (const item of text.split(',')) {
    const m = /^([0-9]{1,10})(?:-([0-9]{1,10}))?$/.exec(item)
    if (m === null) throw bad(item === '' ? 'has an empty entry' : `has "${clip(item)}", which is neither an index nor a range a-b`)
    const first = Number(m[1])
    const last = m[2] === undefined ? first : Number(m[2])
    if (last > MAX_SELECT_INDEX) throw bad(`names file ${last}, beyond ${MAX_SELECT_INDEX}`)
    if (first > last) throw bad(`has the range ${first}-${last}, which ends before it starts`)
    ranges.push({ first, last })
  }
  return mergeRanges(ranges)
}

function mergeRanges (ranges: IndexRange[]): IndexRange[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first)
  const out: IndexRange[] = []
  for (const r of sorted) {
    const prev = out[out.length - 1]
    if (prev !== undefined && r.first <= prev.last + 1) out[out.length - 1] = { first: prev.first, last: Math.max(prev.last, r.last) }
    else out.push(r)
  }
  return out
}

/** Ranges → `0,2,4-6`. */
export function formatSelectOnly (ranges: readonly IndexRange[]): string {
  return ranges.map((r) => r.first === r.last ? String(r.first) : `${r.first}-${r.last}`).join(',')
}

/**
 * The file indexes `so` selects among `fileCount` files, ascending. Indexes past the end are dropped (BEP 53 does
 * not say; libtorrent ignores them too); the caller decides what an empty result means.
 */
export function selectOnlyIndexes (ranges: readonly IndexRange[], fileCount: number): number[] {
  const out: number[] = []
  for (const r of ranges) {
    for (let i = r.first; i <= r.last && i < fileCount; i++) out.push(i)
  }
  return out
}

/**
 * Parse a magnet link. Throws ZentorrentError: BAD_MAGNET (not a magnet link, bad escapes), NO_INFO_HASH (no btih
 * or btmh), BAD_INFO_HASH, BAD_PEER_ADDRESS, BAD_SELECT_ONLY.
 */
export function parseMagnet (uri: string): MagnetLink {
  if (uri.length > MAX_MAGNET_LENGTH) throw new ZentorrentError('BAD_MAGNET', `magnet link is ${uri.length} characters long, more than the ${MAX_MAGNET_LENGTH} accepted`)
  if (!MAGNET_PREFIX.test(uri)) throw new ZentorrentError('BAD_MAGNET', `"${clip(uri)}" is not a magnet link (magnet:?xt=urn:btih:…)`)
  const query = uri.slice('magnet:?'.length).replace(/#.*$/s, '')

  let infoHash: Buffer | undefined
  let infoHashV2: InfoHashV2 | undefined
  let name: string | undefined
  const trackers: string[][] = []
  const seenTrackers = new Set<string>()
  const peers: MagnetPeer[] = []
  const seenPeers = new Set<string>()
  const webSeeds: string[] = []
  const select: IndexRange[] = []
  let hasSelect = false
  const ignored: string[] = []

  for (const param of query.split('&')) {
    if (param === '') continue
    const eq = param.indexOf('=')
    const key = eq < 0 ? param : param.slice(0, eq)
    const raw = eq < 0 ? '' : param.slice(eq + 1)
    if (/^xt(\.[0-9]+)?$/.test(key)) {
      const topic = parseExactTopic(decodeText(key, raw))
      if (topic === null) {
        ignored.push(`xt "${clip(decodeText(key, raw))}" is not a BitTorrent info hash`)
        continue
      }
      if (topic.v1 !== undefined) {
        if (infoHash !== undefined && !infoHash.equals(topic.v1)) {
          throw new ZentorrentError('BAD_INFO_HASH', `magnet link names two torrents (${infoHash.toString('hex')} and ${topic.v1.toString('hex')})`)
        }
        infoHash = topic.v1
      }
      if (topic.v2 !== undefined) {
        if (infoHashV2 !== undefined && !infoHashV2.digest.equals(topic.v2.digest)) {
          throw new ZentorrentError('BAD_INFO_HASH', 'magnet link names two different v2 info hashes')
        }
        infoHashV2 = topic.v2
      }
    } else if (key === 'dn') {
      name = lenientUtf8.decode(percentDecode(key, raw)).replace(CONTROL, '\uFFFD')
    } else if (key === 'tr') {
      const url = decodeText(key, raw).trim()
      if (url === '' || seenTrackers.has(url)) continue
      seenTrackers.add(url)
      trackers.push([url])
    } else if (key === 'x.pe') {
      const peer = parsePeerAddress(decodeText(key, raw).trim())
      const id = `${peer.host}|${peer.port}`
      if (seenPeers.has(id)) continue
      seenPeers.add(id)
      peers.push(peer)
    } else if (key === 'ws') {
      const url = decodeText(key, raw).trim()
      if (!isHttpUrl(url)) {
        ignored.push(`web seed "${clip(url)}" is not an http(s) URL`)
        continue
      }
      if (!webSeeds.includes(url)) webSeeds.push(url)
    } else if (key === 'so') {
      hasSelect = true
      select.push(...parseSelectOnly(decodeText(key, raw)))
    }
  }
  if (infoHash === undefined && infoHashV2 === undefined) {
    throw new ZentorrentError('NO_INFO_HASH', 'magnet link has no info hash (xt=urn:btih:…)')
  }
  return Object.freeze({
    ...(infoHash !== undefined ? { infoHash } : {}),
    ...(infoHashV2 !== undefined ? { infoHashV2 } : {}),
    ...(name !== undefined && name !== '' ? { name } : {}),
    trackers: Object.freeze(trackers.map((tier) => Object.freeze(tier))),
    peers: Object.freeze(peers),
    webSeeds: Object.freeze(webSeeds),
    ...(hasSelect ? { selectOnly: Object.freeze(mergeRanges(select)) } : {}),
    ignored: Object.freeze(ignored)
  })
}

function isHttpUrl (text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

/** Form-encode: what encodeURIComponent leaves alone, plus nothing else (libtorrent escapes the same set). */
function encode (text: string): string {
  return encodeURIComponent(text)
}

function formatPeer (peer: MagnetPeer): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`
}

/**
 * A magnet link: `xt` (btih in lower-case hex, then btmh when known), `dn`, one `tr` per tracker in tier order,
 * `ws`, `x.pe`, `so`. Parsing the result gives the same fields back (trackers flattened to one tier each).
 */
export function formatMagnet (fields: MagnetFields): string {
  if (fields.infoHash.length !== 20) throw new ZentorrentError('BAD_ARGUMENT', `info hash must be 20 bytes, got ${fields.infoHash.length}`)
  const parts = [`xt=urn:btih:${fields.infoHash.toString('hex')}`]
  if (fields.infoHashV2 !== undefined) parts.push(`xt=urn:btmh:${BTMH_SHA256_PREFIX}${fields.infoHashV2.digest.toString('hex')}`)
  if (fields.name !== undefined && fields.name !== '') parts.push(`dn=${encode(fields.name)}`)
  const seen = new Set<string>()
  for (const tier of fields.trackers ?? []) {
    for (const url of tier) {
      if (seen.has(url)) continue
      seen.add(url)
      parts.push(`tr=${encode(url)}`)
    }
  }
  for (const url of fields.webSeeds ?? []) parts.push(`ws=${encode(url)}`)
  // Unescaped: libtorrent reads x.pe without percent-decoding it (an IP literal, a host name, ':' and '[]' are
  // safe in a query anyway).
  for (const peer of fields.peers ?? []) parts.push(`x.pe=${formatPeer(peer)}`)
  if (fields.selectOnly !== undefined && fields.selectOnly.length > 0) parts.push(`so=${formatSelectOnly(fields.selectOnly)}`)
  return `magnet:?${parts.join('&')}`
}

/** The magnet link of a torrent (what `zentorrent info --magnet` prints): hash, name, trackers, web seeds. */
export function magnetOf (meta: Metainfo): string {
  return formatMagnet({ infoHash: meta.infoHash, name: meta.name, trackers: meta.announce, webSeeds: meta.urlList })
}
