/**
 * The hash-verification stage: blocks in, SHA1-checked pieces out (object-mode Transform). It reports every
 * verdict into the ledger (lib/ledger.ts): hashing, verified, invalid; the scheduler and displays read it there.
 *
 * Blocks of a piece may arrive in any order and from several peers; each is copied once into the piece's buffer
 * and, when the piece is whole, it is hashed and compared with the metainfo's hash (BEP 3). Only verified pieces
 * are pushed downstream, so unverified bytes never reach the files or a reader.
 * Why copy: the wire hands us views into the socket's read chunks (64 KiB each); keeping a view keeps its whole
 * chunk alive, so holding blocks until their piece completes pinned up to four times their size. One 16 KiB memcpy
 * per block (≈1 µs) frees the chunk at once; the piece goes to the sink as one buffer.
 * A block whose generation is not the ledger's (its piece was reset since: a failed hash, a banned contributor) or
 * whose piece is no longer assembling is stale and dropped; a second copy of a block already in the buffer is
 * dropped too (the first copy stays).
 *
 * Hashing: with a `hasher` (the piece worker, lib/piece-worker.ts, created by the composition), pieces of at least
 * `offloadMinLength` bytes are hashed on its thread while this stage takes more blocks; smaller pieces are hashed
 * here, where a message would cost more than the hash. The worker reads piece buffers without a copy only from
 * shared memory, so with a hasher the pool's buffers are SharedArrayBuffers.
 * A mismatch is recorded in the ledger with a digest of each block and who sent it (the evidence blame uses);
 * when a piece that failed before verifies, the good blocks' digests go with the verdict.
 *
 * Backpressure: the stage holds its write callback while `maxHashing` pieces are at the hasher, and Node's
 * Transform holds it while the readable side is full; so a slow sink stops this stage, which stops the scheduler
 * pushing, which stops requests.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { createHash } from 'node:crypto'
import { BufferPool } from './buffer-pool.js'
import { PieceState, type BlockEvidence, type LedgerChange, type PieceLedger } from './ledger.js'
import type { PieceGeometry } from './geometry.js'

export interface Block {
  readonly index: number
  readonly offset: number
  readonly data: Buffer
  /** Who sent it (a peer key), the evidence for a bad piece. */
  readonly peer?: string
  /** The piece's generation (ledger) when the block was received; stale blocks are dropped. */
  readonly generation?: number
}

export interface VerifiedPiece {
  readonly index: number
  /** The piece's bytes. */
  readonly data: Buffer
  /** Hand the piece's buffer back for reuse once its bytes are no longer needed (lib/buffer-pool.ts). */
  readonly release?: () => void
}

/** Where hashes come from: Metainfo satisfies it. */
export interface PieceHashes {
  /** Concatenated 20-byte SHA1 hashes. */
  readonly pieces: Buffer
}

/** Hashes off the main thread (lib/piece-worker.ts's PieceWorker); null: this buffer cannot go there. */
export interface PieceHasher {
  sha1: (data: Buffer) => Promise<Buffer> | null
}

export interface VerifierEvents {
  'piece-verified': [index: number]
  'piece-invalid': [info: { index: number, peers: string[] }]
}

export interface VerifierOptions {
  ledger: PieceLedger
  /** Verified pieces held on the readable side before the stage pushes back. */
  readableHighWaterMark?: number
  /** Where large pieces are hashed; none: every piece is hashed on this thread. */
  hasher?: PieceHasher
  /** Pieces this long or longer go to the hasher. */
  offloadMinLength?: number
  /** Pieces at the hasher at once before the stage stops taking blocks... */
  maxHashing?: number
  /** ...unless they are fewer bytes than this (small pieces go to the hasher many to a message). */
  maxHashingBytes?: number
  /** Piece buffers (default: a pool of the torrent's piece length, in shared memory when there is a hasher). */
  pool?: BufferPool
}

export const VERIFIER_DEFAULTS = { readableHighWaterMark: 2, offloadMinLength: 128 * 1024, maxHashing: 4, maxHashingBytes: 1024 * 1024 } as const

interface Assembly {
  readonly data: Buffer
  readonly generation: number
  /** Blocks copied into `data` (the buffer's own fill state: a second copy of a block is not counted twice). */
  readonly present: Uint8Array
  received: number
}

export function hashPiece (buffers: readonly Buffer[]): Buffer {
  const hash = createHash('sha1')
  for (const buffer of buffers) hash.update(buffer)
  return hash.digest()
}

export function expectedHash (hashes: PieceHashes, index: number): Buffer {
  return hashes.pieces.subarray(index * 20, index * 20 + 20)
}

export interface Verifier {
  on: (<K extends keyof VerifierEvents>(event: K, listener: (...args: VerifierEvents[K]) => void) => this) & Transform['on']
  once: (<K extends keyof VerifierEvents>(event: K, listener: (...args: VerifierEvents[K]) => void) => this) & Transform['once']
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Verifier extends Transform {
  readonly #ledger: PieceLedger
  readonly #geometry: PieceGeometry
  readonly #hashes: PieceHashes
  readonly #assemblies: Map<number, Assembly> = new Map()
  readonly #pool: BufferPool
  readonly #hasher: PieceHasher | null
  readonly #maxHashing: number
  readonly #maxHashingBytes: number
  #hashing = 0
  #hashingBytes = 0
  /** A write callback held while the hasher is full; a `_flush` waiting for the last hashes. */
  #held: TransformCallback | null = null
  #flushed: TransformCallback | null = null
  readonly #unsubscribe: () => void

  constructor (hashes: PieceHashes, opts: VerifierOptions) {
    super({
      objectMode: true,
      readableHighWaterMark: opts.readableHighWaterMark ?? VERIFIER_DEFAULTS.readableHighWaterMark,
      writableHighWaterMark: 64
    })
    this.#ledger = opts.ledger
    this.#geometry = opts.ledger.geometry
    this.#hashes = hashes
    const offload = this.#geometry.pieceLength >= (opts.offloadMinLength ?? VERIFIER_DEFAULTS.offloadMinLength)
    this.#hasher = offload ? opts.hasher ?? null : null
    this.#maxHashing = opts.maxHashing ?? VERIFIER_DEFAULTS.maxHashing
    this.#maxHashingBytes = opts.maxHashingBytes ?? VERIFIER_DEFAULTS.maxHashingBytes
    this.#pool = opts.pool ?? new BufferPool(this.#geometry.pieceLength, { shared: opts.hasher !== undefined })
    this.#unsubscribe = this.#ledger.onChange((change) => this.#onLedger(change))
  }

  /** Bytes of piece buffers held for pieces still assembling (for memory accounting). */
  get assemblingBytes (): number { return this.#assemblies.size * this.#geometry.pieceLength }

  #onLedger (change: LedgerChange): void {
    if (change.type === 'reset') this.#discard(change.index)
  }

  #discard (index: number): void {
    const assembly = this.#assemblies.get(index)
    if (assembly === undefined) return
    this.#assemblies.delete(index)
    this.#pool.release(assembly.data)
  }

  override _transform (block: Block, _encoding: BufferEncoding, callback: TransformCallback): void {
    const ledger = this.#ledger
    const { index, offset, data } = block
    if (!Number.isInteger(index) || index < 0 || index >= this.#geometry.pieceCount || ledger.state(index) !== PieceState.Assembling) {
      callback() // stale (the piece was verified, reset or dropped since) or not of this torrent
      return
    }
    const generation = ledger.generation(index)
    if (block.generation !== undefined && block.generation !== generation) {
      callback() // received before its piece was reset
      return
    }
    const size = this.#geometry.pieceSize(index)
    const slot = offset / this.#geometry.blockLength
    if (!Number.isInteger(slot) || data.length !== this.#geometry.blockSize(index, slot) || offset + data.length > size) {
      callback() // not a whole block of this piece: the scheduler passes only blocks it asked for
      return
    }
    let assembly = this.#assemblies.get(index)
    if (assembly !== undefined && assembly.generation !== generation) {
      this.#discard(index)
      assembly = undefined
    }
    if (assembly === undefined) {
      assembly = { data: this.#pool.acquire(), generation, present: new Uint8Array(this.#geometry.blocksIn(index)), received: 0 }
      this.#assemblies.set(index, assembly)
    }
    if (assembly.present[slot] === 1) {
      callback() // a duplicate: the first copy stays
      return
    }
    assembly.present[slot] = 1
    data.copy(assembly.data, offset)
    assembly.received++
    if (assembly.received < this.#geometry.blocksIn(index)) {
      callback()
      return
    }
    this.#assemblies.delete(index)
    this.#check(index, assembly.data, callback)
  }

  /** A whole piece: hash it (here or at the hasher), then settle. */
  #check (index: number, buffer: Buffer, callback: TransformCallback): void {
    const ledger = this.#ledger
    const whole = buffer.subarray(0, this.#geometry.pieceSize(index))
    const deliverers = ledger.deliverers(index) // not copied: the ledger lets go of it at markHashing
    ledger.markHashing(index)
    const hashing = this.#hasher?.sha1(whole) ?? null
    if (hashing === null) {
      const piece = this.#settle(index, buffer, deliverers, hashPiece([whole]))
      callback(null, piece)
      return
    }
    this.#hashing++
    this.#hashingBytes += whole.length
    hashing.then((digest) => digest, () => hashPiece([whole])).then((digest) => {
      this.#hashing--
      this.#hashingBytes -= whole.length
      if (this.destroyed) {
        this.#pool.release(buffer)
      } else {
        const piece = this.#settle(index, buffer, deliverers, digest)
        if (piece !== undefined) this.push(piece)
      }
      this.#release()
    }, (err: Error) => this.destroy(err))
    if (this.#room()) callback()
    else this.#held = callback // resumed when a hash settles
  }

  #room (): boolean {
    return this.#hashing < this.#maxHashing || this.#hashingBytes < this.#maxHashingBytes
  }

  #release (): void {
    if (this.#held !== null && this.#room()) {
      const held = this.#held
      this.#held = null
      held()
    }
    if (this.#hashing === 0 && this.#flushed !== null) {
      const flushed = this.#flushed
      this.#flushed = null
      flushed()
    }
  }

  override _flush (callback: TransformCallback): void {
    if (this.#hashing === 0) callback()
    else this.#flushed = callback // ends once the last hash has settled
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.#unsubscribe()
    for (const index of [...this.#assemblies.keys()]) this.#discard(index)
    callback(err)
  }

  /** A whole piece hashed: the piece to push, or undefined (recorded invalid, buffer back to the pool). */
  #settle (index: number, buffer: Buffer, deliverers: ReadonlyArray<string | null>, digest: Buffer): VerifiedPiece | undefined {
    const ledger = this.#ledger
    const whole = buffer.subarray(0, this.#geometry.pieceSize(index))
    if (ledger.state(index) !== PieceState.Hashing) {
      this.#pool.release(buffer) // dropped meanwhile
      return undefined
    }
    if (digest.equals(expectedHash(this.#hashes, index))) {
      ledger.markVerified(index, ledger.suspect(index) ? this.#blockDigests(index, whole) : undefined)
      this.emit('piece-verified', index)
      return { index, data: whole, release: () => this.#pool.release(buffer) }
    }
    const digests = this.#blockDigests(index, whole)
    const evidence: BlockEvidence[] = []
    deliverers.forEach((peer, block) => { if (peer !== null) evidence.push({ block, peer, digest: digests[block]! }) })
    const peers = ledger.markInvalid(index, evidence)
    this.#pool.release(buffer)
    this.emit('piece-invalid', { index, peers })
    return undefined
  }

  #blockDigests (index: number, whole: Buffer): Buffer[] {
    const out: Buffer[] = []
    const blockLength = this.#geometry.blockLength
    for (let b = 0; b < this.#geometry.blocksIn(index); b++) {
      out.push(createHash('sha1').update(whole.subarray(b * blockLength, (b + 1) * blockLength)).digest())
    }
    return out
  }
}

export function createVerifier (hashes: PieceHashes, opts: VerifierOptions): Verifier {
  return new Verifier(hashes, opts)
}
