/**
 * Resume: before downloading, find which pieces the output directory already holds (a previous run was
 * interrupted, even by `kill -9`, or the download is complete). Every candidate piece is read back and hashed;
 * nothing is trusted without its SHA1. A piece is a candidate only when every stored file it touches existed
 * before this run with at least the bytes the piece needs (so a fresh, sparse file is never hashed); the bytes of
 * unselected files come from the part file (lib/storage.ts).
 */
import type { Storage } from './storage.js'
import { expectedHash, hashPiece, pieceLengthOf, type PieceGeometry } from './verify.js'

export interface CheckProgress {
  checked: number
  total: number
  valid: number
}

export async function checkExisting (
  storage: Storage,
  geometry: PieceGeometry,
  opts: { wanted?: (index: number) => boolean, onProgress?: (p: CheckProgress) => void, signal?: AbortSignal } = {}
): Promise<number[]> {
  const present = await storage.presentSpans()
  const valid: number[] = []
  const candidates: number[] = []
  for (let index = 0; index < geometry.pieceCount; index++) {
    if (opts.wanted !== undefined && !opts.wanted(index)) continue
    const spans = storage.fileMap.spans(index, 0, pieceLengthOf(geometry, index))
    if (spans.every(present)) candidates.push(index)
  }
  let checked = 0
  for (const index of candidates) {
    if (opts.signal?.aborted === true) break
    const data = await storage.read(index, 0, pieceLengthOf(geometry, index))
    if (hashPiece([data]).equals(expectedHash(geometry, index))) valid.push(index)
    checked++
    opts.onProgress?.({ checked, total: candidates.length, valid: valid.length })
  }
  return valid
}
