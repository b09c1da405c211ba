/**
 * The hash-verification stage: blocks in, SHA1-checked pieces out (object-mode Transform).
 *
 * Blocks of a piece may arrive in any order and from several peers; each is copied once into the piece's buffer
 * and, when the piece is whole, it is hashed and compared with the metainfo's hash (BEP 3).
 * Why copy: the wire hands us views into the socket's read chunks (64 KiB each); keeping a view keeps its whole
 * chunk alive, so holding blocks until their piece completes pinned up to four times their size and let memory
 * drift with GC timing. One 16 KiB memcpy per block (≈1 µs) frees the chunk at once; the piece buffer goes to
 * the sink as one buffer (one writev span per file).
 * Only verified pieces are pushed downstream, so unverified bytes never reach the files or stdout.
 * Hashing: pieces of at least `offloadMinLength` bytes are hashed on a worker thread (lib/piece-worker.ts), in
 * place (the pool's buffers are SharedArrayBuffers), while this stage goes on taking blocks; smaller pieces are
 * hashed here, where a message to the worker would cost more than the hash. A piece being hashed counts in
 * `bufferedBytes` (the scheduler's budget), takes no duplicate blocks, and the stage does not end before it settles.
 * A mismatch is reported as a fact ('piece-invalid', with the peers that contributed) and the blocks dropped;
 * the scheduler decides whom to blame.
 *
 * Backpressure: a Transform holds its callback while its readable side is full, so a slow sink stops this stage,
 * which stops the scheduler pushing, which stops requests.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { createHash } from 'node:crypto'
import { BufferPool } from './buffer-pool.js'
import { sharedPieceWorker, type PieceWorker } from './piece-worker.js'

export interface Block {
  readonly index: number
  readonly offset: number
  readonly data: Buffer
  /** Who sent it (a peer key), to blame for a bad piece. */
  readonly peer?: string
}

export interface VerifiedPiece {
  readonly index: number
  /** The piece's bytes as consecutive buffers, in order. */
  readonly blocks: readonly Buffer[]
  readonly length: number
  /** Hand the piece's buffer back for reuse once its bytes are no longer needed (lib/buffer-pool.ts). */
  readonly release?: () => void
}

export interface PieceGeometry {
  readonly pieceCount: number
  readonly pieceLength: number
  readonly lastPieceLength: number
  /** Concatenated 20-byte SHA1 hashes. */
  readonly pieces: Buffer
}

export interface VerifierEvents {
  'piece-verified': [index: number]
  'piece-invalid': [info: { index: number, peers: string[] }]
}

export interface VerifierOptions {
  /** Verified pieces held on the readable side before the stage pushes back. */
  readableHighWaterMark?: number
  /** Where large pieces are hashed (default: the process's piece worker); null hashes every piece here. */
  pieceWorker?: PieceWorker | null
  /** Pieces this long or longer go to the hash worker. */
  offloadMinLength?: number
}

export const VERIFIER_DEFAULTS = { readableHighWaterMark: 2, offloadMinLength: 128 * 1024 } as const

/** Per-piece state in `#state`. */
const enum PieceState { Open = 0, Verified = 1, Hashing = 2 }

interface Assembly {
  /** The piece's bytes: each block is copied in once as it arrives (see the note on memory above). */
  readonly data: Buffer
  readonly present: Uint8Array
  received: number
  bytes: number
  readonly peers: Set<string>
}

export function pieceLengthOf (geometry: PieceGeometry, index: number): number {
  return index === geometry.pieceCount - 1 ? geometry.lastPieceLength : geometry.pieceLength
}

export function hashPiece (buffers: readonly Buffer[]): Buffer {
  const hash = createHash('sha1')
  for (const buffer of buffers) hash.update(buffer)
  return hash.digest()
}

export function expectedHash (geometry: PieceGeometry, index: number): Buffer {
  return geometry.pieces.subarray(index * 20, index * 20 + 20)
}

export class Verifier extends Transform {
  readonly #geometry: PieceGeometry
  readonly #blockLength: number
  readonly #assemblies: Map<number, Assembly> = new Map()
  readonly #pool: BufferPool
  /**
   * Pieces already pushed, or whole and being hashed (PieceState). An endgame copy of a block can arrive after its
   * piece was verified; without this it would open a new assembly that is never completed (its bytes counted in
   * bufferedBytes forever) or, for a one-block piece, verify and push the piece a second time. One byte per
   * piece, like the hashes we hold anyway.
   */
  readonly #state: Uint8Array
  #bufferedBytes = 0
  readonly #worker: PieceWorker | null
  /** Pieces at the hash worker, and the callback of a `_flush` waiting for them. */
  #hashing = 0
  #hashingBytes = 0
  #flushed: TransformCallback | null = null

  constructor (geometry: PieceGeometry, opts: VerifierOptions & { blockLength?: number } = {}) {
    super({
      objectMode: true,
      readableHighWaterMark: opts.readableHighWaterMark ?? VERIFIER_DEFAULTS.readableHighWaterMark,
      writableHighWaterMark: 64
    })
    this.#geometry = geometry
    this.#blockLength = opts.blockLength ?? 16384
    const offload = geometry.pieceLength >= (opts.offloadMinLength ?? VERIFIER_DEFAULTS.offloadMinLength)
    this.#worker = offload ? (opts.pieceWorker === undefined ? sharedPieceWorker() : opts.pieceWorker) : null
    // shared memory whatever the piece size: the storage's writes go through the worker too (lib/piece-worker.ts)
    this.#pool = new BufferPool(geometry.pieceLength, { shared: true })
    this.#state = new Uint8Array(geometry.pieceCount)
  }

  /** Bytes held in partly assembled pieces and pieces being hashed (for memory accounting). */
  get bufferedBytes (): number { return this.#bufferedBytes }

  /** Bytes of whole pieces at the hash worker: held until their verdict, released without more input. */
  get hashingBytes (): number { return this.#hashingBytes }

  /** Forget a piece's blocks (the scheduler gave the piece up). */
  discard (index: number): void {
    const assembly = this.#assemblies.get(index)
    if (assembly === undefined) return
    this.#bufferedBytes -= assembly.bytes
    this.#assemblies.delete(index)
    this.#pool.release(assembly.data)
  }

  override _transform (block: Block, _encoding: BufferEncoding, callback: TransformCallback): void {
    const geometry = this.#geometry
    const { index, offset, data } = block
    const size = index >= 0 && index < geometry.pieceCount ? pieceLengthOf(geometry, index) : 0
    if (size === 0 || offset % this.#blockLength !== 0 || offset + data.length > size) {
      callback() // not a block of this torrent: the wire validates ranges, so this is only a stray; drop it
      return
    }
    if (this.#state[index] !== PieceState.Open) {
      callback() // a late duplicate of a piece already verified and pushed, or being hashed
      return
    }
    let assembly = this.#assemblies.get(index)
    if (data.length !== Math.min(this.#blockLength, size - offset)) {
      callback() // not a whole block: the scheduler only passes blocks it asked for, so this is a stray
      return
    }
    if (assembly === undefined) {
      const blocks = Math.ceil(size / this.#blockLength)
      assembly = { data: this.#pool.acquire(), present: new Uint8Array(blocks), received: 0, bytes: 0, peers: new Set() }
      this.#assemblies.set(index, assembly)
    }
    const slot = offset / this.#blockLength
    if (assembly.present[slot] === 1) {
      callback() // a duplicate (endgame): the first copy stays
      return
    }
    data.copy(assembly.data, offset)
    assembly.present[slot] = 1
    assembly.received++
    assembly.bytes += data.length
    this.#bufferedBytes += data.length
    if (block.peer !== undefined) assembly.peers.add(block.peer)
    if (assembly.received < assembly.present.length) {
      callback()
      return
    }
    this.#assemblies.delete(index)
    const whole = assembly.data.subarray(0, size)
    const hashing = this.#worker !== null && assembly.bytes === size ? this.#worker.sha1(whole) : null
    if (hashing === null) {
      this.#bufferedBytes -= assembly.bytes
      const ok = assembly.bytes === size && hashPiece([whole]).equals(expectedHash(geometry, index))
      callback(null, this.#settle(index, assembly, ok))
      return
    }
    // To the worker; this stage takes more blocks meanwhile. The bytes stay counted until the hash settles.
    this.#state[index] = PieceState.Hashing
    this.#hashing++
    this.#hashingBytes += assembly.bytes
    hashing.then((digest) => digest.equals(expectedHash(geometry, index)), () => hashPiece([whole]).equals(expectedHash(geometry, index))).then((ok) => {
      this.#hashing--
      this.#hashingBytes -= assembly.bytes
      this.#bufferedBytes -= assembly.bytes
      if (this.destroyed) {
        this.#pool.release(assembly.data)
      } else {
        const piece = this.#settle(index, assembly, ok)
        if (piece !== undefined) this.push(piece)
      }
      if (this.#hashing === 0 && this.#flushed !== null) {
        const flushed = this.#flushed
        this.#flushed = null
        flushed()
      }
    }, (err: Error) => this.destroy(err))
    callback()
  }

  override _flush (callback: TransformCallback): void {
    if (this.#hashing === 0) callback()
    else this.#flushed = callback // ends once the last hash has settled
  }

  /** A whole piece hashed: the piece to push, or undefined (reported invalid, buffer back to the pool). */
  #settle (index: number, assembly: Assembly, ok: boolean): VerifiedPiece | undefined {
    const pieceBuffer = assembly.data
    if (ok) {
      this.#state[index] = PieceState.Verified
      this.emit('piece-verified', index)
      return { index, blocks: [pieceBuffer.subarray(0, assembly.bytes)], length: assembly.bytes, release: () => this.#pool.release(pieceBuffer) }
    }
    this.#state[index] = PieceState.Open
    this.#pool.release(pieceBuffer)
    this.emit('piece-invalid', { index, peers: [...assembly.peers] })
    return undefined
  }
}

export function createVerifier (geometry: PieceGeometry, opts?: VerifierOptions & { blockLength?: number }): Verifier {
  return new Verifier(geometry, opts)
}
