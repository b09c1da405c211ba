/**
 * The file-writing sink: verified pieces in, pieces in the store (object-mode Writable). Each piece is written
 * through the PieceStore (lib/store/) and reported into the ledger (`markWritten`), one piece at a time; while a
 * write is in flight the stream's buffer fills and `write()` returns false, which is the backpressure the verifier
 * and the scheduler obey. 'piece-written' is a fact for displays, emitted once the piece is stored.
 */
import { Writable } from 'node:stream'
import type { PieceStore } from './store/piece-store.js'
import type { PieceLedger } from './ledger.js'
import type { VerifiedPiece } from './verify.js'

export interface SinkOptions {
  ledger: PieceLedger
  /** Verified pieces buffered before `write()` returns false. */
  highWaterMark?: number
}

export const SINK_DEFAULTS = { highWaterMark: 2 } as const

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

  constructor (store: PieceStore, opts: SinkOptions) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? SINK_DEFAULTS.highWaterMark })
    this.#store = store
    this.#ledger = opts.ledger
  }

  override _write (piece: VerifiedPiece, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#write(piece).then(() => callback(), callback)
  }

  async #write (piece: VerifiedPiece): Promise<void> {
    try {
      await this.#store.writePiece(piece.index, piece.data)
    } finally {
      piece.release?.()
    }
    this.#ledger.markWritten(piece.index)
    this.emit('piece-written', piece.index)
  }
}

export function createSink (store: PieceStore, opts: SinkOptions): Sink {
  return new Sink(store, opts)
}
