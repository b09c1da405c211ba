/**
 * Bytes per second over a short sliding window, from a clock passed in (so tests are exact).
 * The window is `buckets` slots of `bucketMs`; old slots are recycled, so memory is constant.
 * Until a full window has passed since the first byte, the rate is over the time elapsed (at least one
 * bucket), so a young connection is not under-reported.
 */
export const RATE_DEFAULTS = { bucketMs: 500, buckets: 10 } as const

export class RateMeter {
  readonly #now: () => number
  readonly #bucketMs: number
  readonly #slots: number
  readonly #ids: Float64Array
  readonly #bytes: Float64Array
  #start = -1

  constructor (now: () => number, opts: { bucketMs?: number, buckets?: number } = {}) {
    this.#now = now
    this.#bucketMs = opts.bucketMs ?? RATE_DEFAULTS.bucketMs
    this.#slots = opts.buckets ?? RATE_DEFAULTS.buckets
    this.#ids = new Float64Array(this.#slots).fill(-1)
    this.#bytes = new Float64Array(this.#slots)
  }

  add (bytes: number): void {
    const t = this.#now()
    if (this.#start < 0) this.#start = t
    const id = Math.floor(t / this.#bucketMs)
    const slot = id % this.#slots
    if (this.#ids[slot] !== id) {
      this.#ids[slot] = id
      this.#bytes[slot] = 0
    }
    this.#bytes[slot] += bytes
  }

  /** Bytes per second. */
  rate (): number {
    if (this.#start < 0) return 0
    const t = this.#now()
    const id = Math.floor(t / this.#bucketMs)
    let sum = 0
    for (let i = 0; i < this.#slots; i++) {
      if (this.#ids[i] > id - this.#slots && this.#ids[i] <= id) sum += this.#bytes[i]
    }
    const windowMs = this.#slots * this.#bucketMs
    const spanMs = Math.max(this.#bucketMs, Math.min(windowMs, t - this.#start))
    return sum * 1000 / spanMs
  }
}
