/**
 * The terminal display: a status line redrawn in place, tracker warnings under it, an optional availability map
 * (`--availability`) and an optional table of peers (`--peers`), and the summary printed on exit. Display only: it
 * renders a plain `DisplayFacts` object (or, for today's download wiring, a `TorrentStats`) and never touches a
 * session; `lib/cli/facts.ts` builds the facts from a running session.
 *
 * Layout (`layoutLine`): a line is a list of fields, each with variants from long to short; while the line is
 * wider than the terminal, a step of the state's drop order shortens one field (its next variant) or drops it.
 * Fields are whole or absent, so a number is never cut, and no line is longer than the width (the terminal's
 * columns - 1: writing the last column makes some terminals wrap). The bar is elastic: it shrinks from BAR_MAX to
 * BAR_MIN before any field is dropped and takes whatever room is left after. While downloading the drop order is
 * DOWNLOAD_DROP_ORDER: the name, the endgame mark, the piece count, the "eta" label, the peers' per-source
 * detail, the upload rate, the byte counts, the bar, the peer count, the ETA, the download rate; the percentage
 * stays. Below MAP_MIN_WIDTH columns the availability map is not drawn.
 *
 * Redrawing: after each draw the cursor is parked at the start of the display's first line, and each draw begins
 * with "clear to the end of the screen". So whatever the terminal does meanwhile — echo `^C` at the cursor,
 * reflow lines after a resize — `finish()` clears every line it drew and nothing stale is left.
 *
 * Availability map: the pieces in groups, one column a group, two rows. `done`: the share of the group's pieces
 * verified (COMPLETION_SHADES). `peers`: the mean number of connected peers holding the group's pieces, rounded,
 * at least 1 when any peer holds any of them, 9 for 9 or more. (The old one-row map showed a group as had only
 * when all of it was done: 21 % of the map at 85 % complete.)
 */
import { safeText } from './safe-text.js'
import type { TorrentStats } from '../torrent.js'

export type TorrentState = 'metadata' | 'checking' | 'downloading' | 'seeding' | 'stalled'
export type PeerSource = 'tracker' | 'dht' | 'pex' | 'lsd' | 'incoming' | 'manual'

export interface PeerCounts {
  /** Peers we are connected to. */
  connected: number
  /** Addresses known: connected, connecting, or waiting to be tried. */
  known: number
  /** Connected peers by the source that found them; sources left out are not shown. */
  bySource?: Partial<Record<PeerSource, number>>
}

/** Everything the status line and the summary show, as the session (or whoever runs the torrent) knows it. */
export interface DisplayFacts {
  /** The torrent's name; '' while unknown (a magnet before its metadata). */
  name: string
  /** Bytes wanted (the selected files); null while unknown. */
  size: number | null
  state: TorrentState
  /** Bytes of the wanted ones verified on disk. */
  have: number
  piecesHave: number
  piecesWanted: number
  /** Bytes per second, payload only. */
  downloadRate: number
  uploadRate: number
  /** Payload bytes received and sent since this run started. */
  downloaded: number
  uploaded: number
  /** Uploaded ÷ size (what --seed-ratio compares). */
  ratio: number
  /** Seconds until complete at the current rate; null while unknown. */
  eta: number | null
  peers: PeerCounts
  endgame?: boolean
  /** State 'checking': resume data being hashed. */
  checking?: { checked: number, total: number, valid: number }
  /** State 'stalled': seconds until the peer sources are asked again (null: unknown). */
  retryIn?: number | null
  /** State 'stalled': who is being asked, e.g. ['trackers', 'DHT'] (default ['trackers']). */
  asking?: readonly string[]
  /** Tracker warnings and errors, one sentence each, newest last (the last MAX_WARNING_LINES are shown). */
  warnings: readonly string[]
}

/** One connected peer, for the `--peers` table. */
export interface PeerFacts {
  /** `1.2.3.4:6881` or `[::1]:6881`. */
  address: string
  /** Client name and version ('' when unknown). */
  client: string
  amInterested: boolean
  amChoking: boolean
  peerInterested: boolean
  peerChoking: boolean
  /** It connected to us. */
  incoming: boolean
  encrypted?: boolean
  source?: PeerSource
  downloadRate: number
  uploadRate: number
  /** The share of the torrent it has, 0 to 1. */
  progress: number
}

/** How a run ended, for the summary line and the `stopped` JSON event. */
export interface RunEnd {
  reason: 'done' | 'seeded' | 'interrupted' | 'failed'
  /** Seconds since the run started. */
  elapsed: number
}

export const DISPLAY_DEFAULTS = {
  /** The bar's inner width when there is room, and the least it shrinks to before it is dropped. */
  barMax: 40,
  barMin: 10,
  /** Narrower than this (in columns), no availability map. */
  mapMinWidth: 30,
  /** Tracker warnings shown under the status line. */
  maxWarningLines: 2,
  /** Rows of the peers table (fastest first); the rest are counted in one line. */
  maxPeerRows: 10
} as const

/** The availability map's completion shades: none, under 1/3, under 2/3, under all, all. */
export const COMPLETION_SHADES = ['·', '░', '▒', '▓', '█'] as const

export const STATUS_LEGEND = `While downloading, one line:
  NAME [bar] % HAVE/SIZE ↓RATE ↑RATE eta MM:SS peers C/K (SRC) pieces H/W
  peers 3/12: connected to 3 peers, 12 addresses known (connected, being
  tried or waiting); (SRC) says where the connected ones came from: tracker,
  dht, pex, incoming, manual (--peer).
While seeding: seeding NAME ↑RATE uploaded TOTAL ratio R peers C/K
  (ratio: uploaded ÷ size, what --seed-ratio compares).
"no peers yet — asking trackers again in 25 s": nobody to download from yet.
Tracker warnings appear on a line of their own under the status.
A narrow terminal drops, in this order: the name, "endgame", the piece count,
the "eta" label, the peers' sources, the upload rate, the byte counts, the bar
(which shrinks first), the peer count, the ETA, the download rate. Numbers are
never cut.`

export const AVAILABILITY_LEGEND = `--availability adds a map of the torrent, one column per group of pieces:
  done   how much of the group is verified:
         · none, ░ under a third, ▒ under two thirds, ▓ more, █ all
  peers  how many connected peers hold the group's pieces, on average:
         0 to 8, 9 for 9 or more (at least 1 where any peer holds any of them)`

export const PEER_TABLE_LEGEND = `--peers lists the connected peers, fastest first: address, client, flags,
↓ and ↑ rates, the share of the torrent each has. Flags:
  D we download from it       d we want to, it chokes us
  U we upload to it           u it wants to, we choke it
  K it unchokes us, we want nothing from it
  ? we unchoke it, it wants nothing
  I it connected to us        E encrypted
  H from the DHT   X from PEX   L from local discovery`

// --- numbers ------------------------------------------------------------------------------------------------

export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

export function formatRate (bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`
}

/** mm:ss, h:mm:ss from an hour, --:-- when unknown. */
export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const mm = String(m).padStart(2, '0')
  const ss = String(sec).padStart(2, '0')
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`
}

/** An elapsed time in words: 4.2 s, 3 min 05 s, 2 h 07 min. */
export function formatElapsed (seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  const s = Math.round(seconds)
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

/** One decimal, rounded down: 99.96 % is not yet 100.0 %. */
export function formatPercent (percent: number): string {
  return `${(Math.floor(percent * 10) / 10).toFixed(1)}%`
}

function percentOf (part: number, whole: number | null): number {
  return whole === null || whole === 0 ? (whole === 0 ? 100 : 0) : Math.min(100, part / whole * 100)
}

// --- layout -------------------------------------------------------------------------------------------------

/** A field of a line: its variants from long to short (each whole); `bar` marks the elastic progress bar. */
export interface Field {
  key: string
  variants: readonly string[]
  /** A progress bar of this fraction, drawn as wide as the room allows (variants unused). */
  bar?: number
  /** Columns the field's first variant may take as its numbers change (the bar leaves room for them: it does not
   * jitter as a rate goes from 9.9 to 10.0). */
  reserve?: number
}

/**
 * The fields laid out in `width` columns: each step of `dropOrder` (a field's key) shortens that field or drops
 * it, until the line fits; the bar shrinks first and then takes the room left. Fields never named in `dropOrder`
 * stay; if those alone do not fit, as many of them as fit, whole, from the left.
 */
export function layoutLine (fields: readonly Field[], dropOrder: readonly string[], width: number, opts: { barMax?: number, barMin?: number } = {}): string {
  const barMax = opts.barMax ?? DISPLAY_DEFAULTS.barMax
  const barMin = opts.barMin ?? DISPLAY_DEFAULTS.barMin
  const chosen = new Map<string, number>(fields.map((f) => [f.key, 0]))
  const textOf = (f: Field, barWidth: number): string | null => {
    const variant = chosen.get(f.key)!
    if (f.bar !== undefined) return variant === 0 ? drawBar(f.bar, barWidth) : null
    return f.variants[variant] ?? null
  }
  const render = (barWidth: number): string[] => fields.map((f) => textOf(f, barWidth)).filter((t): t is string => t !== null && t !== '')
  const length = (parts: readonly string[]): number => parts.reduce((sum, p) => sum + [...p].length, 0) + Math.max(0, parts.length - 1)
  for (const key of dropOrder) {
    if (length(render(barMin)) <= width) break
    if (chosen.has(key)) chosen.set(key, chosen.get(key)! + 1)
  }
  let parts = render(barMin)
  const spare = width - length(parts)
  if (spare >= 0) {
    const reserved = fields.reduce((sum, f) => {
      const text = chosen.get(f.key) === 0 && f.reserve !== undefined ? textOf(f, barMin) : null
      return text === null ? sum : sum + Math.max(0, f.reserve! - [...text].length)
    }, 0)
    return render(barMin + Math.max(0, Math.min(barMax - barMin, spare - reserved))).join(' ')
  }
  const kept: string[] = []
  for (const part of parts) {
    if (length([...kept, part]) > width) break
    kept.push(part)
  }
  parts = kept
  return parts.join(' ')
}

function drawBar (fraction: number, inner: number): string {
  const filled = Math.max(0, Math.min(inner, Math.floor(fraction * inner)))
  return `[${'#'.repeat(filled)}${'-'.repeat(inner - filled)}]`
}

/** `text` cut to `width` by whole words, with '…' when something was left out. */
export function fitWords (text: string, width: number): string {
  if ([...text].length <= width) return text
  const words = text.split(' ')
  let out = ''
  for (const word of words) {
    const next = out === '' ? word : `${out} ${word}`
    if ([...next].length + 1 > width) break
    out = next
  }
  return out === '' ? '' : `${out}…`
}

// --- the status line ----------------------------------------------------------------------------------------

export const DOWNLOAD_DROP_ORDER = ['name', 'endgame', 'pieces', 'eta', 'peers', 'up', 'bytes', 'bar', 'peers', 'eta', 'down'] as const
export const STALLED_DROP_ORDER = ['name', 'pieces', 'peers', 'waiting', 'bytes', 'waiting', 'bar', 'peers'] as const
export const SEEDING_DROP_ORDER = ['name', 'peers', 'peers', 'up', 'ratio', 'uploaded'] as const
export const CHECKING_DROP_ORDER = ['name', 'valid', 'pieces', 'bar'] as const
export const METADATA_DROP_ORDER = ['name', 'peers', 'peers', 'state'] as const

/** The widest a changing number's field gets (for `Field.reserve`): 100.0%, 1023.9 KiB, ↓1023.9 KiB/s, eta 00:00. */
const RESERVE = { percent: 6, size: 10, rate: 13, eta: 9 } as const

function peersField (peers: PeerCounts): Field {
  const short = `peers ${peers.connected}/${peers.known}`
  const sources = Object.entries(peers.bySource ?? {}).filter(([, n]) => n !== undefined && n > 0)
  // Always two variants, so each step of a drop order naming 'peers' does one thing: drop the detail, then the count.
  const detail = sources.length === 0 ? short : `${short} (${sources.map(([source, n]) => `${source} ${n}`).join(', ')})`
  return { key: 'peers', variants: [detail, short] }
}

/** The status line for `facts`, at most `width` columns. A `TorrentStats` is converted by `factsFromStats`. */
export function statusLine (input: DisplayFacts | TorrentStats, width = 100): string {
  const facts = isFacts(input) ? input : factsFromStats(input)
  const name: Field = { key: 'name', variants: facts.name === '' ? [] : [safeText(facts.name)] }
  const percent = percentOf(facts.have, facts.size)
  const progress = [
    { key: 'bar', variants: [], bar: percent / 100 },
    { key: 'percent', variants: [formatPercent(percent)], reserve: RESERVE.percent },
    { key: 'bytes', variants: facts.size === null ? [] : [`${formatBytes(facts.have)}/${formatBytes(facts.size)}`], reserve: facts.size === null ? 0 : RESERVE.size + 1 + formatBytes(facts.size).length }
  ]
  const pieces: Field = { key: 'pieces', variants: [`pieces ${facts.piecesHave}/${facts.piecesWanted}`] }
  switch (facts.state) {
    case 'metadata':
      return layoutLine([
        { key: 'state', variants: ['fetching metadata', 'metadata'] },
        name,
        peersField(facts.peers)
      ], METADATA_DROP_ORDER, width)
    case 'checking': {
      const c = facts.checking ?? { checked: 0, total: 0, valid: 0 }
      return layoutLine([
        { key: 'state', variants: ['checking'] },
        name,
        { key: 'bar', variants: [], bar: c.total === 0 ? 1 : c.checked / c.total },
        { key: 'percent', variants: [formatPercent(percentOf(c.checked, c.total))] },
        { key: 'pieces', variants: [`${c.checked}/${c.total} pieces`] },
        { key: 'valid', variants: [`${c.valid} valid`] }
      ], CHECKING_DROP_ORDER, width)
    }
    case 'seeding':
      return layoutLine([
        { key: 'state', variants: ['seeding'] },
        name,
        { key: 'up', variants: [`↑${formatRate(facts.uploadRate)}`] },
        { key: 'uploaded', variants: [`uploaded ${formatBytes(facts.uploaded)}`, `↑${formatBytes(facts.uploaded)}`] },
        { key: 'ratio', variants: [`ratio ${facts.ratio.toFixed(2)}`] },
        peersField(facts.peers)
      ], SEEDING_DROP_ORDER, width)
    case 'stalled': {
      const asking = (facts.asking ?? ['trackers']).join('/')
      const retry = facts.retryIn === undefined || facts.retryIn === null ? null : Math.max(0, Math.ceil(facts.retryIn))
      return layoutLine([
        name,
        ...progress,
        { key: 'waiting', variants: retry === null
          ? [`no peers yet — asking ${asking}`, `no peers yet, asking ${asking}`, 'no peers yet']
          : [`no peers yet — asking ${asking} again in ${retry} s`, `no peers yet, retry in ${retry} s`, 'no peers yet'] },
        peersField(facts.peers),
        pieces
      ], STALLED_DROP_ORDER, width)
    }
    case 'downloading': {
      const eta = facts.eta === null ? '--:--' : formatDuration(facts.eta)
      return layoutLine([
        name,
        ...progress,
        { key: 'down', variants: [`↓${formatRate(facts.downloadRate)}`], reserve: RESERVE.rate },
        { key: 'up', variants: [`↑${formatRate(facts.uploadRate)}`], reserve: RESERVE.rate },
        { key: 'eta', variants: [`eta ${eta}`, eta], reserve: RESERVE.eta },
        peersField(facts.peers),
        pieces,
        { key: 'endgame', variants: facts.endgame === true ? ['endgame'] : [] }
      ], DOWNLOAD_DROP_ORDER, width)
    }
  }
}

function isFacts (input: DisplayFacts | TorrentStats): input is DisplayFacts {
  return 'state' in input
}

/**
 * Facts from today's `TorrentStats` alone (no name, no sources, no warnings): `done` reads as seeding, since a
 * download that is not seeding stops drawing once done. `extra` fills in what the caller knows besides.
 */
export function factsFromStats (stats: TorrentStats, extra: Partial<DisplayFacts> = {}): DisplayFacts {
  const remaining = stats.bytesWanted - stats.bytesHave
  return {
    name: '',
    size: stats.bytesWanted,
    state: stats.done ? 'seeding' : 'downloading',
    have: stats.bytesHave,
    piecesHave: stats.piecesHave,
    piecesWanted: stats.piecesWanted,
    downloadRate: stats.downloadRate,
    uploadRate: stats.uploadRate,
    downloaded: stats.downloaded,
    uploaded: stats.uploaded,
    ratio: stats.uploaded / Math.max(1, stats.bytesWanted),
    eta: stats.done ? 0 : stats.downloadRate > 0 ? remaining / stats.downloadRate : null,
    peers: { connected: stats.peersConnected, known: stats.peersKnown },
    endgame: stats.endgame && !stats.done,
    warnings: [],
    ...extra
  }
}

// --- the availability map -----------------------------------------------------------------------------------

/**
 * The two rows of the availability map in `cells` columns (fewer when there are fewer pieces): `done`, a
 * completion shade per group, and `peers`, the group's mean availability as a digit.
 */
export function availabilityMap (availability: Uint16Array, have: (index: number) => boolean, cells: number): { done: string, peers: string } {
  const n = availability.length
  const count = Math.max(1, Math.min(cells, n))
  let done = ''
  let peers = ''
  for (let c = 0; c < count; c++) {
    const start = Math.floor(c * n / count)
    const end = Math.max(start + 1, Math.floor((c + 1) * n / count))
    let had = 0
    let sum = 0
    for (let i = start; i < end; i++) {
      if (have(i)) had++
      sum += availability[i] ?? 0
    }
    const size = end - start
    done += completionShade(had, size)
    const mean = sum / size
    peers += mean === 0 ? '0' : String(Math.min(9, Math.max(1, Math.round(mean))))
  }
  return { done, peers }
}

function completionShade (had: number, size: number): string {
  if (had === 0) return COMPLETION_SHADES[0]
  if (had === size) return COMPLETION_SHADES[4]
  const fraction = had / size
  return fraction < 1 / 3 ? COMPLETION_SHADES[1] : fraction < 2 / 3 ? COMPLETION_SHADES[2] : COMPLETION_SHADES[3]
}

/** The map's lines for a terminal `width` columns wide; none below DISPLAY_DEFAULTS.mapMinWidth. */
export function availabilityLines (availability: Uint16Array, have: (index: number) => boolean, width: number): string[] {
  if (width < DISPLAY_DEFAULTS.mapMinWidth || availability.length === 0) return []
  const rows = availabilityMap(availability, have, width - 8)
  return [`done  |${rows.done}|`, `peers |${rows.peers}|`]
}

// --- the peers table ----------------------------------------------------------------------------------------

/** A peer's flags, qBittorrent's letters (see PEER_TABLE_LEGEND). */
export function peerFlags (peer: PeerFacts): string {
  let flags = ''
  if (peer.amInterested) flags += peer.peerChoking ? 'd' : 'D'
  else if (!peer.peerChoking) flags += 'K'
  if (peer.peerInterested) flags += peer.amChoking ? 'u' : 'U'
  else if (!peer.amChoking) flags += '?'
  if (peer.incoming) flags += 'I'
  if (peer.encrypted === true) flags += 'E'
  if (peer.source === 'dht') flags += 'H'
  if (peer.source === 'pex') flags += 'X'
  if (peer.source === 'lsd') flags += 'L'
  return flags
}

/** Columns of the peers table, dropped from the end of this list first when the terminal is narrow. */
const PEER_COLUMN_DROP_ORDER = ['client', 'flags', 'up', 'have', 'down'] as const

/**
 * The `--peers` table: a header and one row per peer, fastest download first, at most `maxRows` rows (then a
 * line counting the rest); columns dropped (PEER_COLUMN_DROP_ORDER) until the rows fit `width`. Pure.
 */
export function peerTable (peers: readonly PeerFacts[], width: number, maxRows: number = DISPLAY_DEFAULTS.maxPeerRows): string[] {
  if (peers.length === 0) return []
  const sorted = [...peers].sort((a, b) => b.downloadRate - a.downloadRate || b.uploadRate - a.uploadRate || a.address.localeCompare(b.address))
  const shown = sorted.slice(0, maxRows)
  type Column = { key: string, title: string, right: boolean, cell: (p: PeerFacts) => string }
  const all: Column[] = [
    { key: 'address', title: 'peer', right: false, cell: (p) => p.address },
    { key: 'client', title: 'client', right: false, cell: (p) => p.client === '' ? '?' : p.client },
    { key: 'flags', title: 'flags', right: false, cell: peerFlags },
    { key: 'down', title: '↓', right: true, cell: (p) => formatRate(p.downloadRate) },
    { key: 'up', title: '↑', right: true, cell: (p) => formatRate(p.uploadRate) },
    { key: 'have', title: 'has', right: true, cell: (p) => `${Math.floor(p.progress * 100)}%` }
  ]
  const build = (columns: Column[]): string[] => {
    const cells = shown.map((p) => columns.map((c) => c.cell(p)))
    const widths = columns.map((c, i) => Math.max([...c.title].length, ...cells.map((row) => [...row[i]!].length)))
    const line = (row: string[]): string => row.map((cell, i) => {
      const pad = ' '.repeat(widths[i]! - [...cell].length)
      return columns[i]!.right ? pad + cell : cell + pad
    }).join('  ').trimEnd()
    return [line(columns.map((c) => c.title)), ...cells.map(line)]
  }
  let columns = all
  let rows = build(columns)
  for (const key of PEER_COLUMN_DROP_ORDER) {
    if (rows.every((r) => [...r].length <= width)) break
    columns = columns.filter((c) => c.key !== key)
    rows = build(columns)
  }
  if (!rows.every((r) => [...r].length <= width)) {
    return [`${peers.length} peers (too narrow for the table)`, `${peers.length} peers`].filter((l) => [...l].length <= width).slice(0, 1)
  }
  if (sorted.length > shown.length) rows.push(fitWords(`… and ${sorted.length - shown.length} more`, width))
  return rows
}

// --- the summary --------------------------------------------------------------------------------------------

export const RESUME_HINT = 'run the same command again to resume'

/** The final line: what was done, how long it took, the average rate, the upload, and how to resume. */
export function summaryLine (facts: DisplayFacts, end: RunEnd, width = Infinity): string {
  const complete = facts.size !== null && facts.have >= facts.size
  const what = end.reason === 'done' ? 'done' : end.reason === 'seeded' ? 'done seeding' : end.reason === 'interrupted' ? 'interrupted' : 'stopped'
  const average = end.elapsed > 0 ? facts.downloaded / end.elapsed : 0
  const percent = percentOf(facts.have, facts.size)
  const parts: Field[] = [
    { key: 'what', variants: [`${what}${facts.name === '' ? '' : `: ${safeText(facts.name)}`}`, what] },
    { key: 'have', variants: [facts.size === null ? 'no metadata yet' : `${formatBytes(facts.have)} of ${formatBytes(facts.size)} (${formatPercent(percent)})`, formatPercent(percent)] },
    { key: 'elapsed', variants: [`in ${formatElapsed(end.elapsed)}`] },
    { key: 'average', variants: [`average ↓${formatRate(average)}`] },
    { key: 'uploaded', variants: [`uploaded ${formatBytes(facts.uploaded)} (ratio ${facts.ratio.toFixed(2)})`, `uploaded ${formatBytes(facts.uploaded)}`] },
    { key: 'hint', variants: complete ? [] : [`— ${RESUME_HINT}`] }
  ]
  return layoutLine(parts, ['what', 'uploaded', 'average', 'uploaded', 'have', 'elapsed'], width)
}

export interface StoppedEvent {
  event: 'stopped'
  reason: RunEnd['reason']
  name: string
  elapsed: number
  size: number | null
  have: number
  percent: number
  downloaded: number
  uploaded: number
  ratio: number
  averageDownloadRate: number
  complete: boolean
  /** Present while incomplete: how to go on. */
  resume?: string
}

/** The `--json` event for the end of a run: the summary's facts, for scripts. */
export function stoppedEvent (facts: DisplayFacts, end: RunEnd): StoppedEvent {
  const complete = facts.size !== null && facts.have >= facts.size
  return {
    event: 'stopped',
    reason: end.reason,
    name: facts.name,
    elapsed: end.elapsed,
    size: facts.size,
    have: facts.have,
    percent: percentOf(facts.have, facts.size),
    downloaded: facts.downloaded,
    uploaded: facts.uploaded,
    ratio: facts.ratio,
    averageDownloadRate: end.elapsed > 0 ? facts.downloaded / end.elapsed : 0,
    complete,
    ...(complete ? {} : { resume: RESUME_HINT })
  }
}

// --- the live display ---------------------------------------------------------------------------------------

export interface ProgressOptions {
  stream: NodeJS.WriteStream
  /** `--availability`: how many connected peers have each piece, and which pieces we have. */
  availability?: () => { values: Uint16Array, have: (i: number) => boolean } | null
  /** `--peers`: the connected peers. */
  peers?: () => readonly PeerFacts[] | null
  maxPeerRows?: number
}

/** Redraws the status line, warnings, map and peers table in place on a terminal. */
export class TerminalProgress {
  readonly #stream: NodeJS.WriteStream
  readonly #availability: ProgressOptions['availability']
  readonly #peers: ProgressOptions['peers']
  readonly #maxPeerRows: number
  #drawn = false

  constructor (opts: ProgressOptions) {
    this.#stream = opts.stream
    this.#availability = opts.availability
    this.#peers = opts.peers
    this.#maxPeerRows = opts.maxPeerRows ?? DISPLAY_DEFAULTS.maxPeerRows
  }

  /** The width lines must fit: the terminal's columns - 1. */
  get width (): number {
    return Math.max(1, (this.#stream.columns ?? 100) - 1)
  }

  /** The lines a draw would write, for a terminal of `columns` (exposed for tests and for scripts). */
  lines (input: DisplayFacts | TorrentStats, note?: string, columns = this.#stream.columns ?? 100): string[] {
    const width = Math.max(1, columns - 1)
    const facts = isFacts(input) ? input : factsFromStats(input)
    const lines = [note !== undefined ? fitWords(safeText(note), width) : statusLine(facts, width)]
    for (const warning of facts.warnings.slice(-DISPLAY_DEFAULTS.maxWarningLines)) lines.push(fitWords(`warning: ${safeText(warning)}`, width))
    const avail = this.#availability?.()
    if (avail !== null && avail !== undefined) lines.push(...availabilityLines(avail.values, avail.have, width))
    const peers = this.#peers?.()
    if (peers !== null && peers !== undefined) lines.push(...peerTable(peers, width, this.#maxPeerRows))
    return lines
  }

  draw (input: DisplayFacts | TorrentStats, note?: string): void {
    this.drawLines(this.lines(input, note))
  }

  /** Replace what is drawn with `lines` (each at most the width: see `layoutLine`, `fitWords`). */
  drawLines (lines: readonly string[]): void {
    // Clear what the last draw left, write, and park the cursor at the first line's start (see the module comment).
    const up = lines.length > 1 ? `\x1b[${lines.length - 1}A` : ''
    this.#stream.write(`\r\x1b[0J${lines.join('\n')}${up}\r`)
    this.#drawn = true
  }

  /** Clear every line drawn; then write `message` (the summary, one line, escaped: see safeText) below, if given. */
  finish (message?: string): void {
    const clear = this.#drawn ? '\r\x1b[0J' : ''
    this.#drawn = false
    this.#stream.write(`${clear}${message === undefined ? '' : safeText(message) + '\n'}`)
  }
}
