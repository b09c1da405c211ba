/**
 * The file-writing sink: verified pieces in, bytes on disk (object-mode Writable).
 * Each piece is written across the files it covers (lib/storage.ts via the piece↔file map), one piece at a
 * time; while a write is in flight the stream's buffer fills and `write()` returns false, which is the
 * backpressure the verifier and the scheduler obey. Emits 'piece-written' once a piece is on disk.
 */
import { Writable } from 'node:stream'
import type { Storage } from './storage.js'
import type { VerifiedPiece } from './verify.js'

export interface SinkOptions {
  /** Verified pieces buffered before `write()` returns false. */
  highWaterMark?: number
}

export const SINK_DEFAULTS = { highWaterMark: 2 } as const

export interface SinkEvents {
  'piece-written': [index: number]
}

export class Sink extends Writable {
  readonly #storage: Storage

  constructor (storage: Storage, opts: SinkOptions = {}) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? SINK_DEFAULTS.highWaterMark })
    this.#storage = storage
  }

  override _write (piece: VerifiedPiece, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#write(piece).then(() => callback(), callback)
  }

  async #write (piece: VerifiedPiece): Promise<void> {
    await this.#storage.writePiece(piece.index, piece.blocks, piece.length)
    piece.release?.()
    this.emit('piece-written', piece.index)
  }
}

export function createSink (storage: Storage, opts?: SinkOptions): Sink {
  return new Sink(storage, opts)
}
