/**
 * HTTP(S) tracker client: announce (BEP 3, compact peers BEP 23, IPv6 `peers6` BEP 7) and scrape (BEP 48),
 * over undici's `request`.
 *
 * Everything a tracker sends is untrusted: the body is read up to `maxBodyBytes` and refused beyond, redirects
 * are followed by hand up to `maxRedirects` (and only to http/https), the whole exchange — connect, headers,
 * body, every redirect hop — shares one deadline (`timeout`) so a tracker that trickles bytes cannot hold us, and
 * at most `maxPeers` peers are decoded from a reply.
 */
import bencode from 'bencode'
import { scanBencode } from '../bencode-scan.js'
import { boundedGet, HttpGetError } from '../http-get.js'
import { ZentorrentError } from '../errors.js'
import { definedOnly } from '../options.js'
import { decodeCompactPeers, percentEncodeBytes, toBuffer } from './codec.js'
import type { AnnounceRequest, AnnounceResponse, PeerAddress, RequestOptions, ScrapeEntry, ScrapeResponse, TrackerClient } from './types.js'
import { isIP } from 'node:net'

export interface HttpTrackerOptions {
  /** Milliseconds for the whole exchange, redirects included. */
  timeout?: number
  maxRedirects?: number
  maxBodyBytes?: number
  /** Peers kept from one reply at most (also bounded by the request's `numwant`). */
  maxPeers?: number
}

export const HTTP_TRACKER_DEFAULTS: Required<HttpTrackerOptions> = {
  // libtorrent's tracker_completion_timeout is 30 s; 15 s lets the next tracker of a tier get its turn sooner.
  timeout: 15_000,
  // Browsers allow 20; a tracker has no business with more than a couple (http→https, a load balancer).
  maxRedirects: 5,
  // A reply with 1000 IPv6 peers is 18 KB; 2 MiB leaves room for dictionary-model replies and refuses abuse.
  maxBodyBytes: 2 * 1024 * 1024,
  maxPeers: 1000
}

/** BEP 48 convention: the scrape URL replaces a last path segment starting with `announce` by `scrape`; otherwise none. */
export function scrapeUrlFor (announceUrl: string): string | null {
  const queryAt = announceUrl.search(/[?#]/)
  const path = queryAt < 0 ? announceUrl : announceUrl.slice(0, queryAt)
  const rest = queryAt < 0 ? '' : announceUrl.slice(queryAt)
  const slash = path.lastIndexOf('/')
  if (slash < 0 || !path.slice(slash + 1).startsWith('announce')) return null
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]+\//i.test(path.slice(0, slash + 1))) return null
  return `${path.slice(0, slash + 1)}scrape${path.slice(slash + 1 + 'announce'.length)}${rest}`
}

/** The announce URL with the BEP 3 query appended (keeping any query the URL already has, e.g. a passkey). */
export function announceUrlWithQuery (url: string, req: AnnounceRequest, trackerId?: Buffer): string {
  const params = [
    `info_hash=${percentEncodeBytes(req.infoHash)}`,
    `peer_id=${percentEncodeBytes(req.peerId)}`,
    `port=${req.port}`,
    `uploaded=${Math.max(0, Math.floor(req.uploaded))}`,
    `downloaded=${Math.max(0, Math.floor(req.downloaded))}`,
    `left=${Math.max(0, Math.floor(req.left))}`,
    'compact=1'
  ]
  if (req.event !== undefined) params.push(`event=${req.event}`)
  if (req.numwant !== undefined) params.push(`numwant=${req.numwant}`)
  if (req.key !== undefined) params.push(`key=${(req.key >>> 0).toString(16).padStart(8, '0')}`)
  if (trackerId !== undefined) params.push(`trackerid=${percentEncodeBytes(trackerId)}`)
  return appendQuery(url, params)
}

function appendQuery (url: string, params: string[]): string {
  const hash = url.indexOf('#')
  const base = hash < 0 ? url : url.slice(0, hash)
  return base + (base.includes('?') ? '&' : '?') + params.join('&')
}

type Dict = Record<string, unknown>

function isDict (value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}

function text (value: unknown): string | undefined {
  return value instanceof Uint8Array ? toBuffer(value).toString('utf8') : undefined
}

/** A non-negative integer bencode gave exactly: past 2^53 the decoded Number is rounded, so it is no answer. */
function integer (value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

function decodeReply (body: Buffer): Dict {
  let decoded: unknown
  try {
    // The scan bounds nesting (bencode.decode recurses once per level) and checks the structure first.
    scanBencode(body, { uniqueKeys: 'none' })
    decoded = bencode.decode(body) as unknown
  } catch (err) {
    throw new ZentorrentError('TRACKER_BAD_REPLY', `tracker reply is not bencoded (${body.length} bytes)`, { cause: err })
  }
  if (!isDict(decoded)) throw new ZentorrentError('TRACKER_BAD_REPLY', 'tracker reply is not a bencoded dictionary')
  const failure = decoded['failure reason']
  // BEP 3: "If present, then no other keys may be present" — the tracker's text is the whole answer.
  if (failure !== undefined) {
    throw new ZentorrentError('TRACKER_FAILURE', `tracker failure: ${text(failure) ?? String(failure)}`)
  }
  return decoded
}

/** Parse an announce reply (pure; exported for tests). */
export function parseAnnounceReply (body: Buffer, maxPeers: number = HTTP_TRACKER_DEFAULTS.maxPeers): AnnounceResponse & { trackerId?: Buffer } {
  const reply = decodeReply(body)
  const interval = integer(reply.interval)
  if (interval === undefined) throw new ZentorrentError('TRACKER_BAD_REPLY', 'tracker reply has no valid "interval"')
  if (reply.peers === undefined && reply.peers6 === undefined) {
    throw new ZentorrentError('TRACKER_BAD_REPLY', 'tracker reply has no "peers"')
  }
  const peers: PeerAddress[] = []
  if (reply.peers instanceof Uint8Array) {
    peers.push(...decodeCompactPeers(reply.peers, 4, maxPeers))
  } else if (Array.isArray(reply.peers)) {
    peers.push(...dictionaryPeers(reply.peers, maxPeers))
  } else if (reply.peers !== undefined) {
    throw new ZentorrentError('TRACKER_BAD_REPLY', 'tracker reply has "peers" that is neither a string nor a list')
  }
  if (reply.peers6 instanceof Uint8Array) {
    peers.push(...decodeCompactPeers(reply.peers6, 6, maxPeers - peers.length))
  } else if (reply.peers6 !== undefined) {
    throw new ZentorrentError('TRACKER_BAD_REPLY', 'tracker reply has "peers6" that is not a string')
  }
  const result: { -readonly [K in keyof AnnounceResponse]: AnnounceResponse[K] } & { trackerId?: Buffer } = { interval, peers }
  const minInterval = integer(reply['min interval'])
  if (minInterval !== undefined) result.minInterval = minInterval
  const complete = integer(reply.complete)
  if (complete !== undefined) result.complete = complete
  const incomplete = integer(reply.incomplete)
  if (incomplete !== undefined) result.incomplete = incomplete
  const warning = text(reply['warning message'])
  if (warning !== undefined) result.warning = warning
  if (reply['tracker id'] instanceof Uint8Array) result.trackerId = Buffer.from(reply['tracker id'])
  return result
}

/**
 * BEP 3's original model: a list of dictionaries with `ip`, `port`, `peer id`. Entries that are not a literal IP
 * with a valid port are skipped, not fatal (libtorrent does the same); a host name is skipped too, so a tracker
 * cannot make us resolve names of its choosing.
 */
function dictionaryPeers (list: unknown[], limit: number): PeerAddress[] {
  const peers: PeerAddress[] = []
  for (const entry of list) {
    if (peers.length >= limit) break
    if (!isDict(entry)) continue
    const host = text(entry.ip)
    const port = integer(entry.port)
    if (host === undefined || port === undefined || port === 0 || port > 65535) continue
    const family = isIP(host)
    if (family === 4 || family === 6) peers.push({ host, port, family })
  }
  return peers
}

/** Parse a scrape reply (pure; exported for tests). */
export function parseScrapeReply (body: Buffer): ScrapeResponse {
  const reply = decodeReply(body)
  if (!isDict(reply.files)) throw new ZentorrentError('TRACKER_BAD_REPLY', 'scrape reply has no "files" dictionary')
  const result: ScrapeResponse = new Map()
  for (const [key, value] of Object.entries(reply.files)) {
    if (!isDict(value)) continue
    const hex = infoHashKeyToHex(key)
    if (hex === undefined) continue
    result.set(hex, {
      complete: integer(value.complete) ?? 0,
      incomplete: integer(value.incomplete) ?? 0,
      downloaded: integer(value.downloaded) ?? 0
    })
  }
  return result
}

/**
 * bencode 4 turns a dictionary key into a UTF-8 string when it is valid UTF-8 and into hex otherwise, so a
 * 20-byte binary info hash arrives either as 40 hex digits or as ≤ 20 characters whose UTF-8 bytes are the hash.
 */
function infoHashKeyToHex (key: string): string | undefined {
  if (/^[0-9a-f]{40}$/.test(key)) return key
  const bytes = Buffer.from(key, 'utf8')
  return bytes.length === 20 ? bytes.toString('hex') : undefined
}

interface FetchOptions extends Required<Pick<HttpTrackerOptions, 'timeout' | 'maxRedirects' | 'maxBodyBytes'>> {
  signal?: AbortSignal
}

/** GET `url`, following redirects, within one deadline; resolve the body of a 2xx reply (lib/http-get.ts). */
export async function fetchTrackerBody (url: string, options: FetchOptions): Promise<Buffer> {
  parseHttpUrl(url)
  try {
    const got = await boundedGet(url, {
      timeout: options.timeout,
      maxRedirects: options.maxRedirects,
      maxBytes: options.maxBodyBytes,
      ...(options.signal !== undefined ? { signal: options.signal } : {})
    })
    return got.body
  } catch (err) {
    if (!(err instanceof HttpGetError)) throw err
    switch (err.reason) {
      case 'status': throw new ZentorrentError('TRACKER_HTTP_STATUS', `tracker answered HTTP ${String(err.detail)}`, { cause: err })
      case 'no-location': throw new ZentorrentError('TRACKER_HTTP_STATUS', `tracker answered HTTP ${String(err.detail)} without a Location`, { cause: err })
      case 'redirects': throw new ZentorrentError('TRACKER_HTTP_STATUS', `tracker redirected more than ${options.maxRedirects} times`, { cause: err })
      case 'bad-url': throw new ZentorrentError('TRACKER_UNSUPPORTED', `not an HTTP tracker URL: ${String(err.detail)}`, { cause: err })
      case 'too-large': throw new ZentorrentError('TRACKER_BAD_REPLY', err.detail !== undefined
        ? `tracker reply of ${String(err.detail)} bytes exceeds the ${options.maxBodyBytes}-byte limit`
        : `tracker reply exceeds the ${options.maxBodyBytes}-byte limit`, { cause: err })
      case 'timeout': throw new ZentorrentError('TRACKER_TIMEOUT', `tracker did not answer within ${options.timeout} ms`, { cause: err })
      case 'aborted': throw new ZentorrentError('ABORTED', 'tracker request aborted', { cause: err })
      case 'unreachable': throw new ZentorrentError('TRACKER_UNREACHABLE', `cannot reach tracker: ${err.message}`, { cause: err })
    }
  }
}

function parseHttpUrl (url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (err) {
    throw new ZentorrentError('TRACKER_UNSUPPORTED', `not a valid tracker URL: ${url}`, { cause: err })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ZentorrentError('TRACKER_UNSUPPORTED', `not an HTTP tracker URL: ${url}`)
  }
  return parsed
}


/** An HTTP tracker; remembers the BEP 3 `tracker id` to send it back on later announces. */
export class HttpTracker implements TrackerClient {
  readonly url: string
  readonly #options: Required<HttpTrackerOptions>
  #trackerId: Buffer | undefined

  constructor (url: string, options: HttpTrackerOptions = {}) {
    parseHttpUrl(url)
    this.url = url
    this.#options = { ...HTTP_TRACKER_DEFAULTS, ...definedOnly(options) }
  }

  async announce (req: AnnounceRequest, options: RequestOptions = {}): Promise<AnnounceResponse> {
    const target = announceUrlWithQuery(this.url, req, this.#trackerId)
    const body = await fetchTrackerBody(target, { ...this.#options, ...signalOf(options) })
    const limit = Math.min(this.#options.maxPeers, req.numwant ?? Infinity)
    const { trackerId, ...reply } = parseAnnounceReply(body, limit)
    if (trackerId !== undefined) this.#trackerId = trackerId
    return reply
  }

  async scrape (infoHashes: readonly Buffer[], options: RequestOptions = {}): Promise<ScrapeResponse> {
    const scrapeUrl = scrapeUrlFor(this.url)
    if (scrapeUrl === null) throw new ZentorrentError('TRACKER_UNSUPPORTED', `tracker ${this.url} has no scrape URL (BEP 48 convention)`)
    const target = appendQuery(scrapeUrl, infoHashes.map((h) => `info_hash=${percentEncodeBytes(h)}`))
    return parseScrapeReply(await fetchTrackerBody(target, { ...this.#options, ...signalOf(options) }))
  }

  close (): void {}
}

function signalOf (options: RequestOptions): { signal?: AbortSignal } {
  return options.signal === undefined ? {} : { signal: options.signal }
}
