/**
 * Progress display: a live status line on a terminal (percent, bytes, rates, ETA, peers, pieces), an optional
 * availability map (how many peers hold each piece, one character per group of pieces), or one JSON object a
 * line for scripts. Display only: it reads `SessionStats`, it never changes the session. Notes and messages may name
 * the torrent, so they pass through safeText (the escapes the display writes itself are added after).
 */
import type { SessionStats } from '../session.js'
import { safeText } from './safe-text.js'

export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

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

export function statusLine (stats: SessionStats, width = 100): string {
  const fraction = stats.bytesWanted === 0 ? 1 : stats.bytesHave / stats.bytesWanted
  const percent = (fraction * 100).toFixed(1).padStart(5)
  const eta = stats.downloadRate > 0 ? (stats.bytesWanted - stats.bytesHave) / stats.downloadRate : Infinity
  const barWidth = Math.max(10, Math.min(30, width - 90))
  const filled = Math.round(fraction * barWidth)
  const bar = '#'.repeat(filled) + '-'.repeat(barWidth - filled)
  const line = `[${bar}] ${percent}% ${formatBytes(stats.bytesHave)}/${formatBytes(stats.bytesWanted)}` +
    ` ↓${formatBytes(stats.downloadRate)}/s ↑${formatBytes(stats.uploadRate)}/s` +
    ` eta ${stats.done ? '00:00' : formatDuration(eta)}` +
    ` peers ${stats.peersConnected}/${stats.peersKnown}` +
    ` pieces ${stats.piecesHave}/${stats.piecesWanted}${stats.endgame && !stats.done ? ' endgame' : ''}`
  return line.length > width ? line.slice(0, width) : line
}

/**
 * The availability map: pieces in `cells` groups; each cell shows the least available piece of its group
 * (0 peers ' ', 1 '.', 2 ':', 3-4 '-', 5-8 '=', more '#'); pieces we have are shown as '█'.
 */
export function availabilityMap (availability: Uint16Array, have: (index: number) => boolean, cells: number): string {
  const n = availability.length
  const count = Math.max(1, Math.min(cells, n))
  let out = ''
  for (let c = 0; c < count; c++) {
    const start = Math.floor(c * n / count)
    const end = Math.max(start + 1, Math.floor((c + 1) * n / count))
    let min = Infinity
    let all = true
    for (let i = start; i < end; i++) {
      if (!have(i)) { all = false; min = Math.min(min, availability[i]!) }
    }
    out += all ? '█' : min === 0 ? ' ' : min === 1 ? '.' : min === 2 ? ':' : min <= 4 ? '-' : min <= 8 ? '=' : '#'
  }
  return out
}

export interface ProgressOptions {
  stream: NodeJS.WriteStream
  availability?: () => { values: Uint16Array, have: (i: number) => boolean } | null
}

/** Redraws the status (and map) in place on a terminal. */
export class TerminalProgress {
  readonly #stream: NodeJS.WriteStream
  readonly #availability: ProgressOptions['availability']
  #lines = 0

  constructor (opts: ProgressOptions) {
    this.#stream = opts.stream
    this.#availability = opts.availability
  }

  draw (stats: SessionStats, note?: string): void {
    const width = Math.max(40, (this.#stream.columns ?? 100) - 1)
    // A note longer than the terminal would wrap, and the redraw would move up too few lines.
    const lines = [note !== undefined ? safeText(note).slice(0, width) : statusLine(stats, width)]
    const avail = this.#availability?.()
    if (avail !== null && avail !== undefined) {
      lines.push(`availability |${availabilityMap(avail.values, avail.have, width - 15)}|`)
    }
    let out = ''
    if (this.#lines > 1) out += `\x1b[${this.#lines - 1}A`
    out += lines.map((l) => `\r\x1b[2K${l}`).join('\n')
    this.#lines = lines.length
    this.#stream.write(out)
  }

  finish (message: string): void {
    if (this.#lines > 1) this.#stream.write(`\x1b[${this.#lines - 1}A`)
    this.#stream.write(`\r\x1b[0J${safeText(message)}\n`)
    this.#lines = 0
  }
}
