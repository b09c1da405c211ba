/**
 * The order of the unstarted pieces, kept as the ledger changes, so that choosing a new piece costs about
 * O(log pieces) instead of a scan of every piece (a scan per piece opened made a 1 GiB torrent of 16 KiB pieces,
 * 65,536 of them, take 160 s: 65,536 scans of 65,536 pieces).
 *
 * Each piece has a value (the picker's: smaller is picked first, Infinity for a piece that is not a candidate at
 * all); equal values are broken by the lower index, as a scan in index order keeping the first best would. Pieces
 * are grouped in buckets of BUCKET consecutive indexes; a tournament tree over the buckets holds, at every node, the
 * least value below it and the piece holding it. A change marks its bucket dirty (a bitfield marks thousands at
 * once); dirty buckets are recomputed and their paths to the root updated before the next query, all of them by
 * one rebuild when most are dirty.
 *
 * `best(accept)` is a branch-and-bound walk down the tree: subtrees whose least value cannot beat the best
 * accepted piece found so far are skipped, the better child first. When the best piece overall is accepted (a
 * seed has every piece) it costs one path; a peer that has few of the best pieces costs a walk over the pieces
 * better than the one it gets.
 *
 * Memory: two numbers per tree node, about 0.8 bytes per piece, plus one byte per bucket.
 */

/** Consecutive pieces per bucket (a leaf of the tree). */
export const BUCKET = 32

export class PieceOrder {
  readonly #count: number
  readonly #buckets: number
  /** Leaves of the tree: the buckets, padded to a power of two. */
  readonly #size: number
  /** Per tree node (1 is the root, leaves at #size + bucket): the least value below it. */
  readonly #min: Float64Array
  /** The piece holding that value (the lowest index on ties), -1 for none. */
  readonly #arg: Int32Array
  readonly #dirty: Uint8Array
  #dirtyList: number[] = []
  #allDirty = true
  readonly #value: (index: number) => number

  constructor (count: number, value: (index: number) => number) {
    this.#count = count
    this.#value = value
    this.#buckets = Math.max(1, Math.ceil(count / BUCKET))
    let size = 1
    while (size < this.#buckets) size *= 2
    this.#size = size
    this.#min = new Float64Array(2 * size).fill(Infinity)
    this.#arg = new Int32Array(2 * size).fill(-1)
    this.#dirty = new Uint8Array(this.#buckets)
  }

  /** Piece `index`'s value may have changed. */
  changed (index: number): void {
    if (this.#allDirty || index < 0 || index >= this.#count) return
    const bucket = (index / BUCKET) | 0
    if (this.#dirty[bucket] === 1) return
    this.#dirty[bucket] = 1
    this.#dirtyList.push(bucket)
    if (this.#dirtyList.length > this.#buckets / 4) this.#allDirty = true
  }

  /** The piece of least value that `accept` takes (lowest index on ties), or -1. */
  best (accept: (index: number) => boolean): number {
    this.#flush()
    const min = this.#min
    const arg = this.#arg
    let best = -1
    let bestValue = Infinity
    const stack = [1]
    while (stack.length > 0) {
      const node = stack.pop()!
      const m = min[node]!
      if (m === Infinity || m > bestValue || (m === bestValue && arg[node]! > best)) continue
      if (node >= this.#size) {
        const first = (node - this.#size) * BUCKET
        const end = Math.min(this.#count, first + BUCKET)
        for (let i = first; i < end; i++) {
          const v = this.#value(i)
          if (v === Infinity || v > bestValue || (v === bestValue && i > best)) continue
          if (accept(i)) { best = i; bestValue = v }
        }
        continue
      }
      const left = 2 * node
      const right = left + 1
      // the better child is popped first
      if (better(min, arg, left, right)) stack.push(right, left)
      else stack.push(left, right)
    }
    return best
  }

  #flush (): void {
    if (this.#allDirty) {
      for (let b = 0; b < this.#buckets; b++) this.#leaf(b)
      for (let node = this.#size - 1; node >= 1; node--) this.#combine(node)
      this.#allDirty = false
      this.#dirty.fill(0)
      this.#dirtyList = []
      return
    }
    for (const bucket of this.#dirtyList) {
      this.#dirty[bucket] = 0
      this.#leaf(bucket)
      for (let node = (this.#size + bucket) >> 1; node >= 1; node >>= 1) this.#combine(node)
    }
    this.#dirtyList = []
  }

  #leaf (bucket: number): void {
    let least = Infinity
    let at = -1
    const first = bucket * BUCKET
    const end = Math.min(this.#count, first + BUCKET)
    for (let i = first; i < end; i++) {
      const v = this.#value(i)
      if (v < least) { least = v; at = i }
    }
    const node = this.#size + bucket
    this.#min[node] = least
    this.#arg[node] = at
  }

  #combine (node: number): void {
    const left = 2 * node
    const from = better(this.#min, this.#arg, left, left + 1) ? left : left + 1
    this.#min[node] = this.#min[from]!
    this.#arg[node] = this.#arg[from]!
  }
}

/** Whether node `a` holds a better least value than node `b` (or the same at a lower index, or `b` none). */
function better (min: Float64Array, arg: Int32Array, a: number, b: number): boolean {
  const ma = min[a]!
  const mb = min[b]!
  if (ma !== mb) return ma < mb
  const pa = arg[a]!
  const pb = arg[b]!
  return pb < 0 || (pa >= 0 && pa < pb)
}
