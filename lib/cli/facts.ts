/**
 * The display's facts (lib/cli/progress.ts `DisplayFacts`, `PeerFacts`) gathered from a running torrent, so the
 * display never reads a session itself:
 *
 * - `sessionFacts(session, extra)`: the status line's facts from `session.stats()` and the metainfo; the caller
 *   adds what the session does not know (the state when checking or stalled, per-source peer counts, warnings).
 * - `peerFacts(wires, opts)`: one `PeerFacts` per connected wire, for `--peers`.
 * - `clientName(peerId, v)`: a peer's client from its BEP 10 `v` field, else its peer id (BEP 20 conventions).
 * - `TrackerWarnings`: the tracker problems worth showing now — one line per failing tracker, dropped when that
 *   tracker answers again — fed from the announcer's events.
 */
import type { TorrentStats } from '../torrent.js'
import type { Wire } from '../wire/wire.js'
import { factsFromStats, type DisplayFacts, type PeerFacts, type PeerSource } from './progress.js'

/** What `sessionFacts` needs of a torrent (lib/torrent.ts's Torrent has it). */
export interface FactsSource {
  /** The metadata's name, or a magnet's until then. */
  readonly name: string
  stats: () => TorrentStats
}

/** The status facts of a torrent; `extra` overrides (state, warnings, retryIn, peers.bySource …). */
export function sessionFacts (torrent: FactsSource, extra: Partial<DisplayFacts> = {}): DisplayFacts {
  return factsFromStats(torrent.stats(), { name: torrent.name, ...extra })
}

export interface PeerFactsOptions {
  /** Whether the peer with this key connected to us. */
  incoming?: (id: string) => boolean
  /** Where the peer with this key came from. */
  source?: (id: string) => PeerSource | undefined
  /** Whether the connection with this key is encrypted (MSE/PE RC4). */
  encrypted?: (id: string) => boolean
  /** Pieces in the torrent (the share each peer has). */
  pieceCount: number
}

/** `PeerFacts` for each connected wire (`session.wires()`: [address key, wire]). */
export function peerFacts (wires: Iterable<readonly [string, Wire]>, opts: PeerFactsOptions): PeerFacts[] {
  const out: PeerFacts[] = []
  for (const [id, wire] of wires) {
    const source = opts.source?.(id)
    const have = wire.peerHasAll ? opts.pieceCount : wire.peerPieces.count()
    out.push({
      address: id,
      client: clientName(wire.peerId, wire.peerExtended?.v),
      amInterested: wire.amInterested,
      amChoking: wire.amChoking,
      peerInterested: wire.peerInterested,
      peerChoking: wire.peerChoking,
      incoming: opts.incoming?.(id) ?? false,
      encrypted: opts.encrypted?.(id) ?? false,
      ...(source !== undefined ? { source } : {}),
      downloadRate: wire.downloadRate(),
      uploadRate: wire.uploadRate(),
      progress: opts.pieceCount === 0 ? 0 : Math.min(1, have / opts.pieceCount)
    })
  }
  return out
}

/** BEP 20 Azureus-style client codes seen on the wire. */
const CLIENTS: Record<string, string> = {
  LT: 'libtorrent',
  lt: 'rTorrent',
  TR: 'Transmission',
  qB: 'qBittorrent',
  UT: 'µTorrent',
  UM: 'µTorrent Mac',
  BT: 'BitTorrent',
  DE: 'Deluge',
  AZ: 'Vuze',
  WW: 'WebTorrent',
  WD: 'WebTorrent Desktop',
  BC: 'BitComet',
  FD: 'Free Download Manager',
  ZT: 'zentorrent'
}

/** `libtorrent/2.0.8` from the extended handshake, else decoded from the peer id (`-LT2080-` → libtorrent 2.0.8). */
export function clientName (peerId: Buffer | null, v?: unknown): string {
  if (typeof v === 'string' && v.trim() !== '') return v.trim().slice(0, 40)
  if (v instanceof Uint8Array && v.length > 0) return Buffer.from(v).toString('utf8').trim().slice(0, 40)
  if (peerId === null || peerId.length < 8) return ''
  const text = peerId.subarray(0, 8).toString('latin1')
  const azureus = /^-([A-Za-z]{2})([0-9A-Za-z]{4})-$/.exec(text)
  if (azureus !== null) {
    const name = CLIENTS[azureus[1]!] ?? azureus[1]!
    const digits = [...azureus[2]!].map((c) => /\d/.test(c) ? c : String(c.toUpperCase().charCodeAt(0) - 55))
    while (digits.length > 2 && digits.at(-1) === '0') digits.pop()
    return `${name} ${digits.join('.')}`
  }
  // aria2: "A2-1-37-0-" (major-minor-patch)
  const aria2 = /^A2-(\d+)-(\d+)-(\d+)-/.exec(peerId.toString('latin1'))
  if (aria2 !== null) return `aria2 ${aria2[1]}.${aria2[2]}.${aria2[3]}`
  return ''
}

export const TRACKER_WARNINGS_DEFAULTS = {
  /** Problems kept (the display shows the last few). */
  maxWarnings: 8
} as const

/**
 * The tracker problems to show: `error(url, message)` when a tracker fails, `response(url, warning?)` when it
 * answers (its error goes away; a warning in the reply stays until the next answer), `warning(text)` for one
 * without a tracker (e.g. "no usable tracker"). Wire it to the announcer's `tracker-error`, `response` and
 * `warning` events.
 */
export class TrackerWarnings {
  readonly #byUrl = new Map<string, string>()
  readonly #general: string[] = []
  readonly #max: number

  constructor (opts: { maxWarnings?: number } = {}) {
    this.#max = opts.maxWarnings ?? TRACKER_WARNINGS_DEFAULTS.maxWarnings
  }

  error (url: string, message: string): void {
    this.#byUrl.delete(url)
    this.#byUrl.set(url, `tracker ${url}: ${message}`)
    this.#trim()
  }

  response (url: string, warning?: string): void {
    this.#byUrl.delete(url)
    if (warning !== undefined && warning !== '') this.#byUrl.set(url, `tracker ${url} warns: ${warning}`)
  }

  warning (text: string): void {
    if (!this.#general.includes(text)) this.#general.push(text)
    while (this.#general.length > this.#max) this.#general.shift()
  }

  list (): string[] {
    return [...this.#general, ...this.#byUrl.values()].slice(-this.#max)
  }

  #trim (): void {
    while (this.#byUrl.size > this.#max) this.#byUrl.delete(this.#byUrl.keys().next().value!)
  }
}
