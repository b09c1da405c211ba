/**
 * A pool of piece-sized buffers (libtorrent's disk buffer pool, in small). Every piece passes through one buffer
 * from the verifier to the disk; reusing them instead of allocating a fresh one per piece keeps the process's
 * memory flat: freed Buffers are returned to the system only when V8 collects their wrappers, so a new buffer a
 * piece made resident memory drift up by tens of MiB between collections.
 *
 * Ownership: `acquire` hands a buffer out; whoever holds it last calls `release` exactly once (the sink, after the
 * write). A consumer that keeps the bytes simply never releases; the buffer is then collected as usual.
 */
export const BUFFER_POOL_DEFAULTS = { maxFree: 16, maxFreeBytes: 8 * 1024 * 1024, slabBytes: 1024 * 1024, shared: false } as const

export interface BufferPoolOptions {
  /** Free buffers kept for reuse, at least... */
  maxFree?: number
  /** ...or as many as fit in this many bytes (small pieces: 512 of 16 KiB, the scheduler's held-bytes budget). */
  maxFreeBytes?: number
  /**
   * Buffers at most half this size are cut from one allocation of this size (a slab), all of it handed to the free
   * list: one SharedArrayBuffer per MiB, not per 16 KiB piece, for the collector to track and for a message to the
   * piece worker to carry. A slab lives while any of its buffers does.
   */
  slabBytes?: number
  /** Back the buffers with SharedArrayBuffers, so a worker thread can read them without a copy. */
  shared?: boolean
}

export class BufferPool {
  readonly size: number
  readonly #free: Buffer[] = []
  readonly #isFree: Set<Buffer> = new Set()
  readonly #maxFree: number
  readonly #perSlab: number
  readonly #shared: boolean

  constructor (size: number, opts: BufferPoolOptions = {}) {
    this.size = size
    const maxFreeBytes = opts.maxFreeBytes ?? BUFFER_POOL_DEFAULTS.maxFreeBytes
    this.#maxFree = Math.max(opts.maxFree ?? BUFFER_POOL_DEFAULTS.maxFree, size > 0 ? Math.floor(maxFreeBytes / size) : 0)
    const slabBytes = opts.slabBytes ?? BUFFER_POOL_DEFAULTS.slabBytes
    this.#perSlab = size > 0 && size * 2 <= slabBytes ? Math.max(1, Math.min(this.#maxFree, Math.floor(slabBytes / size))) : 1
    this.#shared = opts.shared ?? BUFFER_POOL_DEFAULTS.shared
  }

  get freeCount (): number { return this.#free.length }

  acquire (): Buffer {
    if (this.#free.length === 0) this.#allocate()
    const buffer = this.#free.pop()!
    this.#isFree.delete(buffer)
    return buffer
  }

  release (buffer: Buffer): void {
    if (buffer.length !== this.size || this.#free.length >= this.#maxFree || this.#isFree.has(buffer)) return
    this.#free.push(buffer)
    this.#isFree.add(buffer)
  }

  #allocate (): void {
    const n = this.#perSlab
    const bytes = this.size * n
    const slab = this.#shared ? Buffer.from(new SharedArrayBuffer(bytes)) : Buffer.allocUnsafeSlow(bytes)
    for (let i = n - 1; i >= 0; i--) {
      const buffer = slab.subarray(i * this.size, (i + 1) * this.size)
      this.#free.push(buffer)
      this.#isFree.add(buffer)
    }
  }
}
