/**
 * What the user typed to name a torrent → one typed description of it. The CLI and the library accept the same
 * four forms, tried in this order:
 *
 * 1. a magnet link (`magnet:?…`, lib/magnet.ts) → metadata-less;
 * 2. an `http://` or `https://` URL of a .torrent → fetched (undici `request`, lazily imported as for HTTP
 *    trackers) and parsed: the answer must be 2xx and at most `maxBytes`, every redirect hop (at most
 *    `maxRedirects`, http/https only) shares one deadline (`timeout`), and a body that is not bencode is a clear
 *    error, not a parse failure deep inside;
 * 3. a path to a .torrent file (a `file:` URL too) → read and parsed; a directory is NOT_A_FILE;
 * 4. a bare info hash (40 hex or 32 base32 characters), when no file of that name exists → metadata-less.
 *
 * The result is either `{ kind: 'metainfo', meta }` or `{ kind: 'magnet', infoHash, name? }`; both carry the
 * same `sources` (tracker tiers, peers, web seeds, BEP 53 select-only), so the session starts the same way and
 * only the magnet kind needs a MetadataFetcher first. `withMetadata` turns the second into the first once the
 * metadata has arrived, keeping the link's trackers and web seeds (a fetched info dictionary carries none).
 */
import { readFile, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { ZentorrentError, fromFsError, isZentorrentError } from './errors.js'
import {
  isInfoHash, isMagnetUri, parseInfoHash, parseMagnet, type IndexRange, type InfoHashV2, type MagnetPeer
} from './magnet.js'
import { parseMetainfo, type Metainfo } from './metainfo.js'
import { boundedGet, HttpGetError } from './http-get.js'

/** What besides the metainfo tells us where the torrent is: the same for every kind of input. */
export interface TorrentSources {
  /** BEP 12 tiers (a .torrent's announce-list, or one tier per magnet `tr`). */
  readonly trackers: readonly (readonly string[])[]
  /** Peers to dial at once (magnet `x.pe`). */
  readonly peers: readonly MagnetPeer[]
  /** BEP 19 web seeds (`url-list`, magnet `ws`). */
  readonly webSeeds: readonly string[]
  /** BEP 53 files to download; absent means all (or what the user's own selection says). */
  readonly selectOnly?: readonly IndexRange[]
}

export type TorrentInput =
  | ({
    readonly kind: 'metainfo'
    /** How it was named; 'magnet' and 'info-hash' once `withMetadata` completed a metadata-less input. */
    readonly source: 'file' | 'url' | 'magnet' | 'info-hash'
    /** The path or URL as given. */
    readonly location: string
    readonly meta: Metainfo
  } & TorrentSources)
  | ({
    readonly kind: 'magnet'
    readonly source: 'magnet' | 'info-hash'
    readonly location: string
    readonly infoHash: Buffer
    readonly infoHashHex: string
    readonly infoHashV2?: InfoHashV2
    /** The link's `dn`, a hint until the metadata names the torrent. */
    readonly name?: string
    /** What the magnet parser left out, for warnings. */
    readonly ignored: readonly string[]
  } & TorrentSources)

export interface TorrentInputOptions {
  /** Largest .torrent accepted from a URL or a file. Default 16 MiB for URLs; files: MAX_TORRENT_FILE_SIZE. */
  maxBytes?: number
  /** Milliseconds for a URL's whole exchange, redirects included. */
  timeout?: number
  maxRedirects?: number
  signal?: AbortSignal
}

export const TORRENT_INPUT_DEFAULTS = {
  // The largest .torrent files in the wild are a few MB (100,000+ files); 16 MiB refuses abuse, not torrents.
  maxBytes: 16 * 1024 * 1024,
  timeout: 30_000,
  // As for HTTP trackers: http→https and a load balancer, not a chain.
  maxRedirects: 5
} as const

/** Refuse before reading: the largest .torrent seen in the wild is a few tens of MB (100,000+ files). */
export const MAX_TORRENT_FILE_SIZE = 64 * 1024 * 1024

const HTTP_URL = /^https?:\/\//i
const FILE_URL = /^file:/i
const OTHER_URL = /^[a-z][a-z0-9+.-]*:\/\//i

/** Resolve what the user typed (see the module comment for the order). */
export async function resolveTorrentInput (text: string, opts: TorrentInputOptions = {}): Promise<TorrentInput> {
  const input = text.trim()
  if (input === '') throw new ZentorrentError('BAD_ARGUMENT', 'no torrent given (a .torrent file, a magnet link, a URL or an info hash)')
  if (isMagnetUri(input)) return fromMagnet(input)
  if (HTTP_URL.test(input)) {
    const bytes = await fetchTorrentFile(input, opts)
    return fromMetainfo('url', input, parseAs(input, bytes))
  }
  if (FILE_URL.test(input)) {
    let path: string
    try {
      path = fileURLToPath(input)
    } catch (err) {
      throw new ZentorrentError('BAD_ARGUMENT', `${input} is not a usable file: URL`, { cause: err })
    }
    return fromMetainfo('file', input, await readTorrentFile(path, opts))
  }
  if (OTHER_URL.test(input)) {
    throw new ZentorrentError('BAD_ARGUMENT', `cannot fetch a torrent from ${input}: only http://, https:// and file: URLs are supported`)
  }
  if (isInfoHash(input) && !(await exists(input))) {
    const infoHash = parseInfoHash(input)
    return {
      kind: 'magnet', source: 'info-hash', location: input, infoHash, infoHashHex: infoHash.toString('hex'),
      trackers: [], peers: [], webSeeds: [], ignored: []
    }
  }
  return fromMetainfo('file', input, await readTorrentFile(input, opts))
}

function fromMagnet (uri: string): TorrentInput {
  const link = parseMagnet(uri)
  if (link.infoHash === undefined) {
    throw new ZentorrentError('V2_ONLY', 'this magnet link names only a BitTorrent v2 info hash (urn:btmh), and zentorrent speaks v1 only')
  }
  return {
    kind: 'magnet',
    source: 'magnet',
    location: uri,
    infoHash: link.infoHash,
    infoHashHex: link.infoHash.toString('hex'),
    ...(link.infoHashV2 !== undefined ? { infoHashV2: link.infoHashV2 } : {}),
    ...(link.name !== undefined ? { name: link.name } : {}),
    trackers: link.trackers,
    peers: link.peers,
    webSeeds: link.webSeeds,
    ...(link.selectOnly !== undefined ? { selectOnly: link.selectOnly } : {}),
    ignored: link.ignored
  }
}

function fromMetainfo (source: 'file' | 'url', location: string, meta: Metainfo): TorrentInput {
  return { kind: 'metainfo', source, location, meta, trackers: meta.announce, peers: [], webSeeds: meta.urlList }
}

/**
 * The metadata-less input completed by the metadata fetched for it: a Metainfo whose trackers and web seeds are
 * the link's first, then any the metadata has (BEP 12: a URL is kept at its first place). METADATA_MISMATCH if
 * the metadata is another torrent's.
 */
export function withMetadata (input: TorrentInput, meta: Metainfo): TorrentInput & { kind: 'metainfo' } {
  if (input.kind === 'metainfo') return input
  if (!meta.infoHash.equals(input.infoHash)) {
    throw new ZentorrentError('METADATA_MISMATCH', `the metadata is for ${meta.infoHashHex}, not ${input.infoHashHex}`)
  }
  const seen = new Set<string>()
  const trackers: string[][] = []
  for (const tier of [...input.trackers, ...meta.announce]) {
    const kept: string[] = []
    for (const url of tier) {
      if (seen.has(url)) continue
      seen.add(url)
      kept.push(url)
    }
    if (kept.length > 0) trackers.push(kept)
  }
  const webSeeds = [...new Set([...input.webSeeds, ...meta.urlList])]
  const completed: Metainfo = Object.freeze({
    ...meta,
    announce: Object.freeze(trackers.map((tier) => Object.freeze(tier))),
    urlList: Object.freeze(webSeeds)
  })
  return {
    kind: 'metainfo',
    source: input.source,
    location: input.location,
    meta: completed,
    trackers: completed.announce,
    peers: input.peers,
    webSeeds: completed.urlList,
    ...(input.selectOnly !== undefined ? { selectOnly: input.selectOnly } : {})
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

function parseAs (where: string, bytes: Buffer): Metainfo {
  try {
    return parseMetainfo(bytes)
  } catch (err) {
    if (err instanceof ZentorrentError) throw new ZentorrentError(err.code, `${where}: ${err.message}`, { cause: err })
    throw err
  }
}

function isDirectory (path: string): string {
  return `${path} is a directory; give the .torrent file (to seed a directory: zentorrent seed FILE.torrent ${path})`
}

/** Read and parse a .torrent file; missing, a directory, oversized or malformed are each a typed error. */
export async function readTorrentFile (path: string, opts: Pick<TorrentInputOptions, 'maxBytes'> = {}): Promise<Metainfo> {
  const max = opts.maxBytes ?? MAX_TORRENT_FILE_SIZE
  let info
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ZentorrentError('NOT_FOUND', `no such file: ${path}`, { cause: err })
    }
    throw fromFsError(err, path)
  }
  if (info.isDirectory()) throw new ZentorrentError('NOT_A_FILE', isDirectory(path))
  if (info.size > max) {
    throw new ZentorrentError('NOT_BENCODE', `${path} is ${info.size} bytes, too large to be a .torrent (at most ${max})`)
  }
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new ZentorrentError('NOT_A_FILE', isDirectory(path), { cause: err })
    throw fromFsError(err, path)
  }
  return parseAs(path, bytes)
}

// ---- http(s) --------------------------------------------------------------------------------------------

/**
 * GET a .torrent: redirects followed by hand (at most `maxRedirects`, to http/https only), one deadline for the
 * whole exchange, the body refused past `maxBytes` (by Content-Length first, then as it arrives). Throws
 * FETCH_HTTP_STATUS, FETCH_REDIRECTS, FETCH_TOO_LARGE, FETCH_TIMEOUT, FETCH_UNREACHABLE, ABORTED, NOT_BENCODE (a
 * body that does not even start like bencode: an HTML page, a login form).
 */
export async function fetchTorrentFile (url: string, opts: TorrentInputOptions = {}): Promise<Buffer> {
  const timeout = opts.timeout ?? TORRENT_INPUT_DEFAULTS.timeout
  const maxRedirects = opts.maxRedirects ?? TORRENT_INPUT_DEFAULTS.maxRedirects
  const maxBytes = opts.maxBytes ?? TORRENT_INPUT_DEFAULTS.maxBytes
  try {
    new URL(url) // eslint-disable-line no-new -- a URL that does not parse is the user's typo, not a redirect
  } catch (err) {
    throw new ZentorrentError('BAD_ARGUMENT', `${url} is not a valid URL`, { cause: err })
  }
  let got
  try {
    got = await boundedGet(url, { timeout, maxRedirects, maxBytes, ...(opts.signal !== undefined ? { signal: opts.signal } : {}), headers: { accept: 'application/x-bittorrent, */*' } })
  } catch (err) {
    if (!(err instanceof HttpGetError)) throw err
    switch (err.reason) {
      case 'status': throw new ZentorrentError('FETCH_HTTP_STATUS', `${url}: the server answered HTTP ${String(err.detail)}`, { cause: err })
      case 'no-location': throw new ZentorrentError('FETCH_HTTP_STATUS', `${url}: HTTP ${String(err.detail)} without a Location to follow`, { cause: err })
      case 'redirects': throw new ZentorrentError('FETCH_REDIRECTS', `${url}: redirected more than ${maxRedirects} times`, { cause: err })
      case 'bad-url': throw new ZentorrentError('FETCH_REDIRECTS', `${url}: redirected to ${String(err.detail)}, which is not http(s)`, { cause: err })
      case 'too-large': throw new ZentorrentError('FETCH_TOO_LARGE', err.detail !== undefined
        ? `${url}: the answer is ${String(err.detail)} bytes, more than the ${maxBytes} accepted for a .torrent`
        : `${url}: the answer is more than the ${maxBytes} bytes accepted for a .torrent`, { cause: err })
      case 'timeout': throw new ZentorrentError('FETCH_TIMEOUT', `${url}: no complete answer within ${timeout} ms`, { cause: err })
      case 'aborted': throw new ZentorrentError('ABORTED', `fetching ${url} aborted`, { cause: err })
      case 'unreachable': throw new ZentorrentError('FETCH_UNREACHABLE', `cannot fetch ${url}: ${err.message}`, { cause: err })
    }
  }
  const body = got.body
  if (body.length === 0 || body[0] !== 0x64 /* d */) {
    throw new ZentorrentError('NOT_BENCODE',
      `${url}: the answer is not a .torrent (${body.length} bytes${got.contentType !== undefined ? ` of ${got.contentType}` : ''})`)
  }
  return body
}
