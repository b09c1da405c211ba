/**
 * Bytes received but not yet parsed, as a list of chunks: pushing is O(1) and taking n bytes copies only when
 * they span chunks, so a handshake fed one byte at a time costs O(total) and not O(total²). It holds what its
 * owner pushes; the owner bounds that (the handshake parses after every push and needs at most a few hundred
 * bytes, or one 64 KiB initial payload, before it can decide).
 */
export class ByteQueue {
  readonly #chunks: Buffer[] = []
  #length = 0

  get length (): number {
    return this.#length
  }

  push (chunk: Buffer): void {
    if (chunk.length === 0) return
    this.#chunks.push(chunk)
    this.#length += chunk.length
  }

  /** The first `n` bytes (n ≤ length) without removing them: a view when they lie in one chunk, else a copy. */
  peek (n: number): Buffer {
    const first = this.#chunks[0]
    if (n === 0 || first === undefined) return Buffer.alloc(0)
    if (first.length >= n) return first.subarray(0, n)
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    for (const c of this.#chunks) {
      const part = Math.min(c.length, n - filled)
      c.copy(out, filled, 0, part)
      filled += part
      if (filled === n) break
    }
    return out
  }

  /** Drop the first `n` bytes (n ≤ length). */
  skip (n: number): void {
    this.#length -= n
    while (n > 0) {
      const first = this.#chunks[0]!
      if (first.length <= n) {
        this.#chunks.shift()
        n -= first.length
      } else {
        this.#chunks[0] = first.subarray(n)
        n = 0
      }
    }
  }

  /** Remove and return the first `n` bytes (n ≤ length). */
  take (n: number): Buffer {
    const out = this.peek(n)
    this.skip(n)
    return out
  }

  /** Remove and return everything. */
  takeAll (): Buffer {
    return this.take(this.#length)
  }
}
