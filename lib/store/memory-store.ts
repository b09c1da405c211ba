/**
 * A PieceStore in memory: each written piece kept as its own buffer (a copy: the caller's buffer goes back to its
 * pool). For tests, and for scripts that want a torrent's bytes without touching a disk.
 */
import type { PieceStore } from './piece-store.js'
import { createGeometry, type GeometrySource, type PieceGeometry } from '../geometry.js'
import { ZentorrentError } from '../errors.js'

export class MemoryStore implements PieceStore {
  readonly geometry: PieceGeometry
  readonly #pieces: Map<number, Buffer> = new Map()
  #closed = false

  constructor (source: GeometrySource) {
    this.geometry = createGeometry(source)
  }

  /** Pieces stored. */
  get size (): number { return this.#pieces.size }

  async open (): Promise<void> {}

  async present (): Promise<(index: number) => boolean> {
    return (index) => this.#pieces.has(index)
  }

  async read (index: number, offset: number, length: number): Promise<Buffer> {
    const piece = this.#pieces.get(index)
    if (piece === undefined || offset < 0 || offset + length > piece.length) {
      throw new ZentorrentError('IO_ERROR', `piece ${index} [${offset}, ${offset + length}) is not stored`)
    }
    return Buffer.from(piece.subarray(offset, offset + length))
  }

  async writePiece (index: number, data: Buffer): Promise<void> {
    if (this.#closed) throw new ZentorrentError('IO_ERROR', 'the store is closed')
    if (data.length !== this.geometry.pieceSize(index)) {
      throw new ZentorrentError('BAD_ARGUMENT', `piece ${index} is ${this.geometry.pieceSize(index)} bytes, not ${data.length}`)
    }
    this.#pieces.set(index, Buffer.from(data))
  }

  async close (): Promise<void> { this.#closed = true }
}
