/**
 * Piece geometry: the one place that knows how a torrent's bytes are cut into pieces and blocks (BEP 3). Every
 * other module asks it for the size of piece i, the blocks of a piece and the size of a block, instead of
 * computing them again.
 *
 * - Pieces are `pieceLength` bytes each but the last, which holds what is left (`lastPieceLength`).
 * - Blocks are what a peer is asked for: `BLOCK_LENGTH` (16 KiB) each but the last of a piece, which may be
 *   shorter. 16 KiB is the size every client requests and serves; BEP 3 lets peers drop requests above it.
 */

/** BEP 3: requests are for 16 KiB blocks; every client accepts this size (and may refuse larger). */
export const BLOCK_LENGTH = 16384

/** What a torrent's layout needs: Metainfo satisfies it. */
export interface GeometrySource {
  readonly pieceCount: number
  readonly pieceLength: number
  readonly lastPieceLength: number
}

export interface PieceGeometry extends GeometrySource {
  readonly blockLength: number
  /** Total bytes. */
  readonly length: number
  /** Blocks in a piece of full length. */
  readonly blocksPerPiece: number
  pieceSize: (index: number) => number
  blocksIn: (index: number) => number
  blockSize: (index: number, block: number) => number
  /** The byte offset of piece `index` within the torrent. */
  pieceOffset: (index: number) => number
}

export function createGeometry (source: GeometrySource, blockLength = BLOCK_LENGTH): PieceGeometry {
  const { pieceCount, pieceLength, lastPieceLength } = source
  const pieceSize = (index: number): number => index === pieceCount - 1 ? lastPieceLength : pieceLength
  return Object.freeze({
    pieceCount,
    pieceLength,
    lastPieceLength,
    blockLength,
    length: pieceCount === 0 ? 0 : (pieceCount - 1) * pieceLength + lastPieceLength,
    blocksPerPiece: Math.ceil(pieceLength / blockLength),
    pieceSize,
    blocksIn: (index: number) => Math.ceil(pieceSize(index) / blockLength),
    blockSize: (index: number, block: number) => Math.min(blockLength, pieceSize(index) - block * blockLength),
    pieceOffset: (index: number) => index * pieceLength
  })
}

/** Whether `(index, offset, length)` names exactly one whole block of the torrent. */
export function isBlock (geometry: PieceGeometry, index: number, offset: number, length: number): boolean {
  if (!Number.isInteger(index) || index < 0 || index >= geometry.pieceCount) return false
  if (offset < 0 || offset % geometry.blockLength !== 0) return false
  const block = offset / geometry.blockLength
  return block < geometry.blocksIn(index) && length === geometry.blockSize(index, block)
}
