/**
 * A read-ahead cache for uploads (libtorrent's disk cache, in small). Peers request a piece block by block, 16 KiB
 * at a time, usually every block of it in a row; reading each block from disk cost one file-system call each, and
 * on this project's machines each call costs far more than its bytes (a thread-pool hand-off: measured at ~0.4 ms of
 * the main thread per 16 KiB read in the swarm benchmark). So a block request reads the whole aligned unit around it
 * (a piece, or `unitLength` of a larger piece) once, and the following requests are served from memory.
 *
 * Bounded: at most `maxBytes` of units are kept, least recently used dropped first. A block handed out is a copy,
 * so a block waiting in a slow peer's socket never pins a whole unit. Reads of the same unit at once share one disk
 * read. A failed read is not cached. Only pieces on disk are ever read (the uploader checks), and their bytes never
 * change, so nothing needs invalidating.
 */
import type { PieceStore } from './store/piece-store.js'
import type { PieceGeometry } from './geometry.js'

export interface ReadCacheOptions {
  /** Bytes read at once around a request: whole pieces up to this size, aligned windows of larger ones. */
  unitLength?: number
  /** Bytes of units kept at most. */
  maxBytes?: number
}

export const READ_CACHE_DEFAULTS = { unitLength: 1024 * 1024, maxBytes: 8 * 1024 * 1024 } as const

export class ReadCache {
  readonly #store: PieceStore
  readonly #geometry: PieceGeometry
  readonly #unit: number
  readonly #maxBytes: number
  /** Units by key, in use order (a Map iterates in insertion order: re-inserted on use, oldest first). */
  readonly #units: Map<number, Promise<Buffer>> = new Map()
  readonly #sizes: Map<number, number> = new Map()
  #bytes = 0
  /** Disk reads done (for tests and benchmarks). */
  reads = 0

  constructor (store: PieceStore, geometry: PieceGeometry, opts: ReadCacheOptions = {}) {
    this.#store = store
    this.#geometry = geometry
    this.#unit = Math.min(geometry.pieceLength, opts.unitLength ?? READ_CACHE_DEFAULTS.unitLength)
    this.#maxBytes = opts.maxBytes ?? READ_CACHE_DEFAULTS.maxBytes
  }

  /** Bytes of units held. */
  get bytes (): number { return this.#bytes }

  /** `length` bytes of piece `index` from `offset`, as a new buffer. */
  async read (index: number, offset: number, length: number): Promise<Buffer> {
    const pieceLength = this.#geometry.pieceSize(index)
    const first = Math.floor(offset / this.#unit)
    const start = first * this.#unit
    // a block across a unit boundary (only with odd block sizes) is read directly
    if (offset + length > start + this.#unit || offset + length > pieceLength) return await this.#store.read(index, offset, length)
    const unitsPerPiece = Math.ceil(this.#geometry.pieceLength / this.#unit)
    const key = index * unitsPerPiece + first
    let unit = this.#units.get(key)
    if (unit === undefined) {
      const size = Math.min(this.#unit, pieceLength - start)
      unit = this.#store.read(index, start, size)
      this.reads++
      this.#units.set(key, unit)
      this.#sizes.set(key, size)
      this.#bytes += size
      unit.catch(() => this.#drop(key, unit!))
      this.#evict(key)
    } else {
      this.#units.delete(key) // most recently used: to the end
      this.#units.set(key, unit)
    }
    const data = await unit
    const out = Buffer.allocUnsafe(length)
    data.copy(out, 0, offset - start, offset - start + length)
    return out
  }

  #drop (key: number, unit: Promise<Buffer>): void {
    if (this.#units.get(key) !== unit) return
    this.#units.delete(key)
    this.#bytes -= this.#sizes.get(key) ?? 0
    this.#sizes.delete(key)
  }

  #evict (keep: number): void {
    for (const [key, unit] of this.#units) {
      if (this.#bytes <= this.#maxBytes) return
      if (key !== keep) this.#drop(key, unit)
    }
  }
}
