/**
 * A pool of piece-sized buffers (libtorrent's disk buffer pool, in small). Every piece passes through one buffer
 * from the verifier to the disk; reusing them instead of allocating a fresh one per piece keeps the process's
 * memory flat: freed Buffers are returned to the system only when V8 collects their wrappers, so a new buffer a
 * piece made resident memory drift up by tens of MiB between collections.
 *
 * Ownership: `acquire` hands a buffer out; whoever holds it last calls `release` exactly once (the sink, after the
 * write). A consumer that keeps the bytes simply never releases; the buffer is then collected as usual.
 */
export const BUFFER_POOL_DEFAULTS = { maxFree: 16, shared: false } as const

export class BufferPool {
  readonly size: number
  readonly #free: Buffer[] = []
  readonly #maxFree: number
  readonly #shared: boolean

  /** `shared`: back each buffer with a SharedArrayBuffer, so a worker thread can read it without a copy. */
  constructor (size: number, opts: { maxFree?: number, shared?: boolean } = {}) {
    this.size = size
    this.#maxFree = opts.maxFree ?? BUFFER_POOL_DEFAULTS.maxFree
    this.#shared = opts.shared ?? BUFFER_POOL_DEFAULTS.shared
  }

  get freeCount (): number { return this.#free.length }

  acquire (): Buffer {
    return this.#free.pop() ?? (this.#shared ? Buffer.from(new SharedArrayBuffer(this.size)) : Buffer.allocUnsafeSlow(this.size))
  }

  release (buffer: Buffer): void {
    if (buffer.length === this.size && this.#free.length < this.#maxFree && !this.#free.includes(buffer)) this.#free.push(buffer)
  }
}
