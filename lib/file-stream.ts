/**
 * File read streams: any byte range of any file of a torrent, as a Readable of verified bytes, available before
 * the download ends (what torrent-stream and WebTorrent users know as `file.createReadStream({ start, end })`).
 *
 * - Consumer-paced: bytes are read from the store only when the consumer asks (`_read`), at most `chunkLength`
 *   at a time, so memory is one chunk whatever the file's size.
 * - Verified bytes only: a piece is read once the ledger says it is written; until then the stream waits for the
 *   ledger's change.
 * - Priorities follow the reader: the pieces from the read position on (`readahead` bytes' worth, at least two
 *   pieces) are asked for first (`Readahead`, lib/torrent.ts raises their priority); the window moves as the
 *   consumer reads and is released when the stream ends or is destroyed. A range inside a file that is not
 *   selected is fetched just the same (the store keeps such bytes in its part file).
 * - Deadlines: the stream reports its byte position to its Readahead (`progress`, with whether it waits for a piece
 *   not yet on disk), from which the pieces just ahead get deadlines (lib/streaming/deadlines.ts; `deadline` says
 *   the consumer's bitrate and startup delay when known).
 * `start` and `end` are byte offsets within the file, `end` inclusive (as in fs.createReadStream).
 */
import { Readable } from 'node:stream'
import { PieceState, type LedgerChange, type PieceLedger } from './ledger.js'
import type { PieceStore } from './store/piece-store.js'
import type { TorrentFile } from './metainfo.js'
import { ZentorrentError } from './errors.js'
import type { ReaderDeadlineOptions } from './streaming/deadlines.js'

/** Where a reader's next pieces are raised in priority; `move` with the first piece still needed, `release` at the end. */
export interface Readahead {
  move: (firstPiece: number, lastPiece: number) => void
  release: () => void
  /** The torrent offset of the next byte to push; `waiting`: its piece is not on disk yet. */
  progress?: (position: number, waiting: boolean) => void
}

/** What a new reader tells its source, besides its first window. */
export interface ReaderStart {
  /** Torrent offsets: the first byte and one past the last. */
  readonly start: number
  readonly end: number
  readonly deadline?: ReaderDeadlineOptions
}

export interface FileStreamSource {
  readonly ledger: PieceLedger
  readonly store: PieceStore
  /** A new reader's priority window over pieces `first..last`. */
  readahead: (first: number, last: number, reader: ReaderStart) => Readahead
}

export interface FileReadOptions {
  /** First byte (within the file), default 0. */
  start?: number
  /** Last byte (within the file, inclusive), default the file's last byte. */
  end?: number
  /** Bytes ahead of the read position that are fetched first. */
  readahead?: number
  /** Largest chunk pushed at once. */
  chunkLength?: number
  highWaterMark?: number
  /** What the deadlines of the pieces ahead are computed from (the consumer's bitrate, its startup delay). */
  deadline?: ReaderDeadlineOptions
}

export const FILE_STREAM_DEFAULTS = { readahead: 16 * 1024 * 1024, chunkLength: 1024 * 1024, highWaterMark: 1024 * 1024 } as const

export class FileReadStream extends Readable {
  readonly #source: FileStreamSource
  /** Torrent offsets: the next byte to push, and one past the last. */
  #position: number
  readonly #end: number
  readonly #chunk: number
  readonly #windowPieces: number
  readonly #readahead: Readahead | null
  #reading = false
  #busy = false
  /** Standing at a piece not yet on disk (told to the readahead once per wait). */
  #waiting = false
  readonly #unsubscribe: () => void

  constructor (source: FileStreamSource, file: TorrentFile, opts: FileReadOptions = {}) {
    super({ highWaterMark: opts.highWaterMark ?? FILE_STREAM_DEFAULTS.highWaterMark })
    const start = opts.start ?? 0
    const end = opts.end ?? file.length - 1
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || (file.length > 0 && end >= file.length) || end < start - 1) {
      throw new ZentorrentError('BAD_ARGUMENT', `range ${start}-${end} is not inside ${file.path.join('/')} (${file.length} bytes)`)
    }
    this.#source = source
    this.#position = file.offset + start
    this.#end = file.length === 0 ? this.#position : file.offset + end + 1
    this.#chunk = opts.chunkLength ?? FILE_STREAM_DEFAULTS.chunkLength
    const pieceLength = source.ledger.geometry.pieceLength
    this.#windowPieces = Math.max(2, Math.ceil((opts.readahead ?? FILE_STREAM_DEFAULTS.readahead) / pieceLength))
    this.#readahead = this.#position < this.#end
      ? source.readahead(...this.#window(), { start: this.#position, end: this.#end, ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}) })
      : null
    this.#unsubscribe = source.ledger.onChange((change) => this.#onLedger(change))
  }

  #window (): [number, number] {
    const pieceLength = this.#source.ledger.geometry.pieceLength
    const first = Math.floor(this.#position / pieceLength)
    const last = Math.min(Math.floor((this.#end - 1) / pieceLength), first + this.#windowPieces - 1)
    return [first, last]
  }

  #onLedger (change: LedgerChange): void {
    if (change.type === 'state' && change.state === PieceState.Written && this.#reading) this.#pump()
  }

  override _read (): void {
    this.#reading = true
    this.#pump()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.#unsubscribe()
    this.#readahead?.release()
    callback(err)
  }

  #pump (): void {
    if (this.#busy || this.destroyed) return
    if (this.#position >= this.#end) {
      this.#unsubscribe()
      this.#readahead?.release()
      this.push(null)
      return
    }
    const { ledger, store } = this.#source
    const pieceLength = ledger.geometry.pieceLength
    const index = Math.floor(this.#position / pieceLength)
    if (!ledger.written(index)) { // wait for the ledger's 'state' change
      if (!this.#waiting) this.#readahead?.progress?.(this.#position, true)
      this.#waiting = true
      return
    }
    this.#waiting = false
    const offset = this.#position - index * pieceLength
    const length = Math.min(this.#chunk, ledger.geometry.pieceSize(index) - offset, this.#end - this.#position)
    this.#busy = true
    store.read(index, offset, length).then((data) => {
      this.#busy = false
      if (this.destroyed) return
      this.#position += length
      if (this.#position < this.#end) {
        this.#readahead?.move(...this.#window())
        this.#readahead?.progress?.(this.#position, false)
      }
      if (!this.push(data)) this.#reading = false
      else this.#pump()
    }, (err: Error) => { this.destroy(err) })
  }
}
