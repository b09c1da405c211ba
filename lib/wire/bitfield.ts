/**
 * A fixed-length set of piece indices, stored as BEP 3 sends it: byte 0's high bit is piece 0
 * ("the high bit in the first byte corresponds to piece index 0"), spare bits at the end are zero.
 * The count of set bits is kept incrementally so `count()` and `hasAll()` are O(1).
 */
import { ZentorrentError } from '../errors.js'

const POPCOUNT = new Uint8Array(256)
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]

export class BitField {
  /** Number of pieces (bits); the buffer has ceil(length / 8) bytes. */
  readonly length: number
  readonly #bits: Buffer
  #count = 0

  constructor (length: number) {
    if (!Number.isSafeInteger(length) || length < 0) throw new ZentorrentError('BAD_ARGUMENT', `bit field length must be a non-negative integer, got ${length}`)
    this.length = length
    this.#bits = Buffer.alloc(BitField.byteLength(length))
  }

  static byteLength (length: number): number {
    return (length + 7) >>> 3
  }

  /**
   * A bit field from received bytes (copied). With `length`, the byte count must be exactly ceil(length/8)
   * and spare bits must be zero (BEP 3: "Clients should drop the connection if they receive bitfields that
   * are not of the correct size, or if the bitfield has any of the spare bits set"): BAD_BITFIELD otherwise.
   * Without `length`, every bit of the buffer counts.
   */
  static fromBuffer (buf: Uint8Array, length: number = buf.length * 8): BitField {
    const expected = BitField.byteLength(length)
    if (buf.length !== expected) {
      throw new ZentorrentError('BAD_BITFIELD', `bitfield has ${buf.length} bytes, expected ${expected} for ${length} pieces`)
    }
    const spare = expected * 8 - length
    if (spare > 0 && (buf[expected - 1] & ((1 << spare) - 1)) !== 0) {
      throw new ZentorrentError('BAD_BITFIELD', `bitfield has spare bits set beyond piece ${length - 1}`)
    }
    const bf = new BitField(length)
    bf.#bits.set(buf)
    let count = 0
    for (let i = 0; i < buf.length; i++) count += POPCOUNT[buf[i]]
    bf.#count = count
    return bf
  }

  /** A bit field with every piece set. */
  static full (length: number): BitField {
    const bf = new BitField(length)
    bf.setAll()
    return bf
  }

  #check (index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new ZentorrentError('INDEX_OUT_OF_RANGE', `piece ${index} is outside 0..${this.length - 1}`)
    }
  }

  get (index: number): boolean {
    if (index < 0 || index >= this.length) return false
    return (this.#bits[index >>> 3] & (0x80 >>> (index & 7))) !== 0
  }

  set (index: number, value = true): void {
    this.#check(index)
    const byte = index >>> 3
    const mask = 0x80 >>> (index & 7)
    const was = (this.#bits[byte] & mask) !== 0
    if (was === value) return
    if (value) {
      this.#bits[byte] |= mask
      this.#count++
    } else {
      this.#bits[byte] &= ~mask
      this.#count--
    }
  }

  setAll (): void {
    this.#bits.fill(0xff)
    const spare = this.#bits.length * 8 - this.length
    if (spare > 0) this.#bits[this.#bits.length - 1] = (0xff << spare) & 0xff
    this.#count = this.length
  }

  clear (): void {
    this.#bits.fill(0)
    this.#count = 0
  }

  /** Number of set bits. */
  count (): number {
    return this.#count
  }

  hasAll (): boolean {
    return this.#count === this.length
  }

  hasNone (): boolean {
    return this.#count === 0
  }

  /** A copy of the bits, ready to send in a `bitfield` message. */
  toBuffer (): Buffer {
    return Buffer.from(this.#bits)
  }

  /** A copy with `length` bits: kept bits stay, new ones are clear (used when the piece count is learned late). */
  resize (length: number): BitField {
    const bf = new BitField(length)
    for (let i = 0, n = Math.min(length, this.length); i < n; i++) if (this.get(i)) bf.set(i)
    return bf
  }

  /** Indices of the set bits, ascending. */
  * [Symbol.iterator] (): IterableIterator<number> {
    for (let i = 0; i < this.length; i++) if (this.get(i)) yield i
  }
}
