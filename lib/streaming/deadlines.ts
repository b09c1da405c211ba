/**
 * Piece deadlines for streaming readers (in the spirit of libtorrent's time-critical pieces, `set_piece_deadline`):
 * each reader of a file says where it is; the pieces just ahead of it get deadlines on the Clock's time, which the
 * picker orders first (lib/scheduler/picker.ts, term 1) and the router sends to the peers that will deliver them in
 * time (./router.ts). Everything else keeps its order (the reader's priority window, then rarest-first).
 *
 * Per reader:
 * - Position: the torrent offset of the next byte the reader hands its consumer, reported with `progress(position,
 *   waiting)` — `waiting` when the reader stands at a piece that is not yet on disk.
 * - Rate: the `bitrate` when the caller knows it (`--bitrate`); otherwise bytes consumed per second over the last
 *   `rateWindow` ms, counting only time the reader was not waiting for a piece (a starved consumer would read faster:
 *   while it waits its observed rate is the download's, not its own), never under `minRate`, and `initialRate`
 *   until at least `minRateSample` ms of consumption were seen.
 * - Schedule: an anchor (T, P) — byte o is due at T + (o − P) / rate. It starts at (created + `startupDelay`, start):
 *   the viewer waits `startupDelay` before playback. On progress to p at time t: when the reader is on or behind
 *   its schedule (t ≥ due(p)), the anchor moves to (t, p): a stall pushes the rest back, as a player that rebuffers
 *   does; when it is ahead (a player filling its buffer), the schedule stands.
 * - Deadlines: the pieces from the reader's position on whose due time falls within `horizon` ms from now, at least
 *   `minPieces` and at most `maxPieces` of them, not yet written, get the due time of their first byte (the first
 *   piece: of the reader's position). A deadline is urgency, not mere order: pieces further ahead are left to the
 *   priority window and rarest-first, so readers at the same place still fetch different pieces and trade (the
 *   sequential order that a deadline on every piece would be starves a swarm; Shah & Pâris, IPCCC 2007). Recomputed
 *   on each progress and every `refreshInterval` ms (time moving brings further pieces inside the horizon).
 * The board (one per ledger): a piece's ledger deadline is the earliest any reader gives it; it is cleared when no
 * reader wants it any more (the reader moved on, ended, or was destroyed — a seek ends the old reader) or the
 * piece is written.
 *
 * The pure parts (RateEstimate, PlaybackSchedule, deadlinesAhead) take the time as an argument; the board takes a
 * Clock (tests: test/helpers/fake-clock.ts).
 */
import { PieceState, type LedgerChange, type PieceLedger } from '../ledger.js'
import type { Cancel, Clock } from '../clock.js'

export interface DeadlineOptions {
  /** ms of the schedule ahead of now whose pieces get deadlines. */
  horizon: number
  /** Pieces ahead of a reader that get deadlines however far their due time (the next one at least). */
  minPieces: number
  /** Pieces ahead of a reader that get deadlines at most. */
  maxPieces: number
  /** ms between recomputations while nothing moves. */
  refreshInterval: number
  /** ms of history in the consumption-rate estimate. */
  rateWindow: number
  /** ms of consumption needed before the estimate replaces `initialRate`. */
  minRateSample: number
  /** Bytes/s assumed before there is an estimate (8 Mbit/s: a high-definition video). */
  initialRate: number
  /** Bytes/s the estimate never falls below (a paused player must not push every deadline to infinity). */
  minRate: number
  /** ms after a reader starts before its first byte is due (the viewer's wait), unless the reader says. */
  startupDelay: number
}

export const DEADLINE_DEFAULTS: Readonly<DeadlineOptions> = Object.freeze({
  horizon: 4000,
  minPieces: 2,
  maxPieces: 32,
  refreshInterval: 250,
  rateWindow: 10_000,
  minRateSample: 1000,
  initialRate: 1024 * 1024,
  minRate: 16 * 1024,
  startupDelay: 0
})

/** What one reader may say about itself (FileReadOptions.deadline). */
export interface ReaderDeadlineOptions {
  /** Bytes/s the consumer plays at, when known (a video's bitrate); otherwise estimated. */
  bitrate?: number
  /** ms from now until the first byte is due. */
  startupDelay?: number
}

// ---- pure parts --------------------------------------------------------------------------------------------------

interface RateSample { at: number, bytes: number, activeMs: number }

/** Consumption rate over a sliding window, time spent waiting for pieces left out. */
export class RateEstimate {
  readonly #window: number
  readonly #minSample: number
  readonly #samples: RateSample[] = []
  #lastAt: number
  #lastPosition: number
  #lastWaiting = false

  constructor (now: number, position: number, opts: Pick<DeadlineOptions, 'rateWindow' | 'minRateSample'>) {
    this.#window = opts.rateWindow
    this.#minSample = opts.minRateSample
    this.#lastAt = now
    this.#lastPosition = position
  }

  /** The reader is at `position` at `now`; `waiting`: it now waits for a piece. */
  record (now: number, position: number, waiting: boolean): void {
    const dt = Math.max(0, now - this.#lastAt)
    const bytes = Math.max(0, position - this.#lastPosition)
    // a backwards move is a new reader's business (a seek makes a new reader), not consumption: counted as none
    this.#samples.push({ at: now, bytes, activeMs: this.#lastWaiting ? 0 : dt })
    this.#lastAt = now
    this.#lastPosition = position
    this.#lastWaiting = waiting
    while (this.#samples.length > 0 && this.#samples[0]!.at < now - this.#window) this.#samples.shift()
  }

  /** Bytes/s, or null while fewer than `minRateSample` ms of consumption were seen in the window. */
  rate (now: number): number | null {
    let bytes = 0
    let active = this.#lastWaiting ? 0 : Math.max(0, now - this.#lastAt) // the interval still open
    for (const s of this.#samples) {
      if (s.at < now - this.#window) continue
      bytes += s.bytes
      active += s.activeMs
    }
    if (active < this.#minSample) return null
    return bytes * 1000 / active
  }
}

/** When each byte is due: an anchor (T, P) and a rate. */
export class PlaybackSchedule {
  #anchorAt: number
  #anchorPosition: number

  constructor (firstDueAt: number, position: number) {
    this.#anchorAt = firstDueAt
    this.#anchorPosition = position
  }

  get anchor (): { at: number, position: number } { return { at: this.#anchorAt, position: this.#anchorPosition } }

  /** ms on the clock when byte `offset` is due at `rate` bytes/s. */
  due (offset: number, rate: number): number {
    return this.#anchorAt + (offset - this.#anchorPosition) * 1000 / rate
  }

  /** The reader reached `position` at `now`: on or behind schedule, the schedule restarts from here. */
  progress (now: number, position: number, rate: number): void {
    if (now >= this.due(position, rate)) {
      this.#anchorAt = now
      this.#anchorPosition = position
    }
  }
}

export interface PieceSpan {
  readonly pieceLength: number
  /** One past the reader's last byte (torrent offset). */
  readonly end: number
}

/**
 * The deadlines for the pieces ahead of `position`: piece → ms. `written` says which pieces need none. Pieces are
 * taken while their due time is within `horizon` of `now` (at least `minPieces`, at most `maxPieces`).
 */
export function deadlinesAhead (
  schedule: PlaybackSchedule, position: number, span: PieceSpan, rate: number, now: number,
  written: (index: number) => boolean, opts: Pick<DeadlineOptions, 'horizon' | 'minPieces' | 'maxPieces'>
): Map<number, number> {
  const out = new Map<number, number>()
  if (position >= span.end) return out
  const first = Math.floor(position / span.pieceLength)
  const last = Math.floor((span.end - 1) / span.pieceLength)
  for (let i = first, n = 0; i <= last && n < opts.maxPieces; i++, n++) {
    const due = schedule.due(Math.max(position, i * span.pieceLength), rate)
    if (n >= opts.minPieces && due > now + opts.horizon) break
    if (!written(i)) out.set(i, due)
  }
  return out
}

// ---- the board ---------------------------------------------------------------------------------------------------

/** What a file reader drives (lib/file-stream.ts's Readahead `progress`). */
export interface DeadlineReader {
  /** The reader is at `position` (torrent offset of its next byte); `waiting`: for a piece not yet on disk. */
  progress: (position: number, waiting: boolean) => void
  release: () => void
  /** The rate the schedule uses now (bytes/s). */
  readonly rate: number
}

class Reader implements DeadlineReader {
  readonly #board: DeadlineBoard
  readonly #opts: DeadlineOptions
  readonly #bitrate: number | null
  readonly #estimate: RateEstimate
  readonly #schedule: PlaybackSchedule
  readonly #span: PieceSpan
  #position: number
  deadlines: Map<number, number> = new Map()
  released = false

  constructor (board: DeadlineBoard, now: number, start: number, end: number, opts: DeadlineOptions, reader: ReaderDeadlineOptions) {
    this.#board = board
    this.#opts = opts
    this.#bitrate = reader.bitrate !== undefined && reader.bitrate > 0 ? reader.bitrate : null
    this.#estimate = new RateEstimate(now, start, opts)
    this.#schedule = new PlaybackSchedule(now + (reader.startupDelay ?? opts.startupDelay), start)
    this.#span = { pieceLength: board.ledger.geometry.pieceLength, end }
    this.#position = start
  }

  get rate (): number { return this.rateAt(this.#board.now()) }

  rateAt (now: number): number {
    if (this.#bitrate !== null) return this.#bitrate
    return Math.max(this.#opts.minRate, this.#estimate.rate(now) ?? this.#opts.initialRate)
  }

  progress (position: number, waiting: boolean): void {
    if (this.released) return
    const now = this.#board.now()
    this.#estimate.record(now, position, waiting)
    this.#position = position
    this.#schedule.progress(now, position, this.rateAt(now))
    this.#board.update(this)
  }

  /** This reader's deadlines now. */
  compute (now: number): Map<number, number> {
    const ledger = this.#board.ledger
    return deadlinesAhead(this.#schedule, this.#position, this.#span, this.rateAt(now), now, (i) => ledger.state(i) >= PieceState.Verified, this.#opts)
  }

  release (): void {
    if (this.released) return
    this.released = true
    this.#board.remove(this)
  }
}

/** The readers' deadlines over one ledger: the earliest wins, each cleared once nobody needs it. */
export class DeadlineBoard {
  readonly ledger: PieceLedger
  readonly #clock: Clock
  readonly #opts: DeadlineOptions
  readonly #readers: Set<Reader> = new Set()
  #timer: Cancel | null = null
  #closed = false
  readonly #unsubscribe: () => void

  constructor (ledger: PieceLedger, clock: Clock, opts: Partial<DeadlineOptions> = {}) {
    this.ledger = ledger
    this.#clock = clock
    this.#opts = { ...DEADLINE_DEFAULTS, ...definedOnly(opts) }
    this.#unsubscribe = ledger.onChange((change) => this.#onLedger(change))
  }

  get options (): Readonly<DeadlineOptions> { return this.#opts }
  get readers (): number { return this.#readers.size }
  now (): number { return this.#clock.now() }

  /** A reader of torrent bytes [start, end). */
  reader (start: number, end: number, opts: ReaderDeadlineOptions = {}): DeadlineReader {
    const reader = new Reader(this, this.#clock.now(), start, end, this.#opts, opts)
    if (this.#closed) { reader.released = true; return reader }
    this.#readers.add(reader)
    this.update(reader)
    this.#arm()
    return reader
  }

  close (): void {
    this.#closed = true
    this.#timer?.()
    this.#timer = null
    for (const reader of [...this.#readers]) reader.release()
    this.#unsubscribe()
  }

  /** @internal a reader moved (or time did): its deadlines are recomputed and the ledger's follow. */
  update (reader: Reader): void {
    if (!this.#readers.has(reader)) return
    const before = reader.deadlines
    reader.deadlines = reader.compute(this.#clock.now())
    this.#apply(new Set([...before.keys(), ...reader.deadlines.keys()]))
  }

  /** @internal */
  remove (reader: Reader): void {
    if (!this.#readers.delete(reader)) return
    const pieces = new Set(reader.deadlines.keys())
    reader.deadlines = new Map()
    this.#apply(pieces)
    if (this.#readers.size === 0) { this.#timer?.(); this.#timer = null }
  }

  /** Each of `pieces` gets the earliest deadline a reader gives it, or none. */
  #apply (pieces: Iterable<number>): void {
    for (const index of pieces) {
      let earliest = Infinity
      for (const r of this.#readers) earliest = Math.min(earliest, r.deadlines.get(index) ?? Infinity)
      if (earliest === Infinity || this.ledger.have(index)) this.ledger.clearDeadline(index)
      else this.ledger.setDeadline(index, earliest)
    }
  }

  #arm (): void {
    if (this.#timer !== null || this.#closed) return
    this.#timer = this.#clock.schedule(() => {
      this.#timer = null
      for (const reader of [...this.#readers]) this.update(reader)
      if (this.#readers.size > 0) this.#arm()
    }, this.#opts.refreshInterval)
  }

  #onLedger (change: LedgerChange): void {
    if (change.type !== 'state' || change.state < PieceState.Verified) return
    if (this.ledger.deadline(change.index) === Infinity) return
    for (const r of this.#readers) r.deadlines.delete(change.index)
    this.ledger.clearDeadline(change.index)
  }
}

function definedOnly<T extends object> (opts: T): Partial<T> {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<T>
}
