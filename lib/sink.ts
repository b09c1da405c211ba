/**
 * The file-writing sink: verified pieces in, pieces in the store (object-mode Writable). Each piece is written
 * through the PieceStore (lib/store/) and reported into the ledger (`markWritten`), up to `maxWrites` pieces at
 * once; while that many are in flight the write callback is held, the stream's buffer fills and `write()` returns
 * false, which is the backpressure the verifier and the scheduler obey. 'piece-written' is a fact for displays,
 * emitted once the piece is stored (pieces written at once may finish in any order).
 *
 * Why more than one: a piece write is a round trip to the piece worker (lib/piece-worker.ts), which also hashes.
 * With one write at a time the worker idles between a write's answer and the main thread's next message (the main
 * thread is busy with the sockets), and the pipeline runs at the round trip's pace: 256 KiB pieces downloaded 16 %
 * slower, 16 KiB pieces 17 % (bench/download.ts, CHANGELOG). The ledger counts pieces being written as held, so
 * the scheduler's held-bytes budget bounds them with everything else between the socket and the disk.
 */
import { Writable } from 'node:stream'
import type { PieceStore } from './store/piece-store.js'
import type { PieceLedger } from './ledger.js'
import type { VerifiedPiece } from './verify.js'

export interface SinkOptions {
  ledger: PieceLedger
  /** Verified pieces buffered before `write()` returns false. */
  highWaterMark?: number
  /** Pieces written at once (see above)... */
  maxWrites?: number
  /** ...or more, while the bytes being written are fewer than this (small pieces: one piece is one message). */
  maxWriteBytes?: number
}

export const SINK_DEFAULTS = { highWaterMark: 2, maxWrites: 4, maxWriteBytes: 1024 * 1024 } as const

export interface SinkEvents {
  'piece-written': [index: number]
}

export interface Sink {
  on: (<K extends keyof SinkEvents>(event: K, listener: (...args: SinkEvents[K]) => void) => this) & Writable['on']
  once: (<K extends keyof SinkEvents>(event: K, listener: (...args: SinkEvents[K]) => void) => this) & Writable['once']
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Sink extends Writable {
  readonly #store: PieceStore
  readonly #ledger: PieceLedger
  readonly #maxWrites: number
  readonly #maxWriteBytes: number
  #writing = 0
  #writingBytes = 0
  /** The write callback held while `maxWrites` pieces are being written; `_final`'s, while any are. */
  #held: ((err?: Error | null) => void) | null = null
  #finished: ((err?: Error | null) => void) | null = null
  #failed: Error | null = null

  constructor (store: PieceStore, opts: SinkOptions) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? SINK_DEFAULTS.highWaterMark })
    this.#store = store
    this.#ledger = opts.ledger
    this.#maxWrites = Math.max(1, opts.maxWrites ?? SINK_DEFAULTS.maxWrites)
    this.#maxWriteBytes = opts.maxWriteBytes ?? SINK_DEFAULTS.maxWriteBytes
  }

  /** Room for another write: fewer than `maxWrites` pieces, or fewer than `maxWriteBytes` bytes, in flight. */
  #room (): boolean {
    return this.#writing < this.#maxWrites || this.#writingBytes < this.#maxWriteBytes
  }

  override _write (piece: VerifiedPiece, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.#failed !== null) {
      piece.release?.()
      callback(this.#failed)
      return
    }
    const bytes = piece.data.length
    this.#writing++
    this.#writingBytes += bytes
    this.#write(piece, bytes)
    if (this.#room()) callback()
    else this.#held = callback
  }

  override _final (callback: (err?: Error | null) => void): void {
    if (this.#writing === 0) callback(this.#failed)
    else this.#finished = callback
  }

  /** A write finished: release a held callback; the first error fails the stream (through a held callback if any). */
  #settled (bytes: number, err: Error | null): void {
    this.#writing--
    this.#writingBytes -= bytes
    if (err !== null && this.#failed === null) {
      this.#failed = err
      if (this.#held === null && this.#finished === null) this.destroy(err)
    }
    if (this.#held !== null && (this.#room() || this.#failed !== null)) {
      const held = this.#held
      this.#held = null
      held(this.#failed)
    }
    if (this.#finished !== null && (this.#writing === 0 || this.#failed !== null)) {
      const finished = this.#finished
      this.#finished = null
      finished(this.#failed)
    }
  }

  /** One piece to the store; then its buffer back, the ledger told, 'piece-written' (a chain, not an async function:
   * with 16 KiB pieces each promise per piece counts, bench/profile.ts). */
  #write (piece: VerifiedPiece, bytes: number): void {
    let writing: Promise<void>
    try {
      writing = this.#store.writePiece(piece.index, piece.data)
    } catch (err) {
      writing = Promise.reject(err)
    }
    writing.then(() => {
      piece.release?.()
      try {
        this.#ledger.markWritten(piece.index)
        this.emit('piece-written', piece.index)
      } catch (err) {
        this.#settled(bytes, err as Error)
        return
      }
      this.#settled(bytes, null)
    }, (err: Error) => {
      piece.release?.()
      this.#settled(bytes, err)
    })
  }
}

export function createSink (store: PieceStore, opts: SinkOptions): Sink {
  return new Sink(store, opts)
}
