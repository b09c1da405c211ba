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
 * A mismatch is reported as a fact ('piece-invalid', with the peers that contributed) and the blocks dropped;
 * the scheduler decides whom to blame.
 *
 * Backpressure: a Transform holds its callback while its readable side is full, so a slow sink stops this stage,
 * which stops the scheduler pushing, which stops requests.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { createHash } from 'node:crypto'
import { BufferPool } from './buffer-pool.js'

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
}

export const VERIFIER_DEFAULTS = { readableHighWaterMark: 2 } as const

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
   * Pieces already pushed. An endgame copy of a block can arrive after its piece was verified; without this it
   * would open a new assembly that is never completed (its bytes counted in bufferedBytes forever) or, for a
   * one-block piece, verify and push the piece a second time. One byte per piece, like the hashes we hold anyway.
   */
  readonly #verified: Uint8Array
  #bufferedBytes = 0

  constructor (geometry: PieceGeometry, opts: VerifierOptions & { blockLength?: number } = {}) {
    super({
      objectMode: true,
      readableHighWaterMark: opts.readableHighWaterMark ?? VERIFIER_DEFAULTS.readableHighWaterMark,
      writableHighWaterMark: 64
    })
    this.#geometry = geometry
    this.#blockLength = opts.blockLength ?? 16384
    this.#pool = new BufferPool(geometry.pieceLength)
    this.#verified = new Uint8Array(geometry.pieceCount)
  }

  /** Bytes held in partly assembled pieces (for memory accounting). */
  get bufferedBytes (): number { return this.#bufferedBytes }

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
    if (this.#verified[index] === 1) {
      callback() // a late duplicate of a piece already verified and pushed
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
    this.#bufferedBytes -= assembly.bytes
    const pieceBuffer = assembly.data
    const blocks = [pieceBuffer.subarray(0, size)]
    if (assembly.bytes === size && hashPiece(blocks).equals(expectedHash(geometry, index))) {
      const piece: VerifiedPiece = { index, blocks, length: size, release: () => this.#pool.release(pieceBuffer) }
      this.#verified[index] = 1
      this.emit('piece-verified', index)
      callback(null, piece)
      return
    }
    this.#pool.release(pieceBuffer)
    this.emit('piece-invalid', { index, peers: [...assembly.peers] })
    callback()
  }
}

export function createVerifier (geometry: PieceGeometry, opts?: VerifierOptions & { blockLength?: number }): Verifier {
  return new Verifier(geometry, opts)
}
