/**
 * Resume: before downloading, find which pieces the store already holds (a previous run was interrupted, even by
 * `kill -9`, or the download is complete). Every candidate piece is read back and hashed; nothing is trusted
 * without its SHA1. The store names the candidates (FileStore: pieces whose every stored file existed before this
 * run with at least the bytes the piece needs, so a fresh, sparse file is never hashed). What checks is recorded
 * in the ledger as written.
 */
import type { PieceStore } from './store/piece-store.js'
import type { PieceLedger } from './ledger.js'
import { expectedHash, hashPiece, type PieceHashes } from './verify.js'

export interface CheckProgress {
  checked: number
  total: number
  valid: number
}

export interface CheckOptions {
  /** Also check pieces not wanted now (default: wanted pieces only). */
  all?: boolean
  onProgress?: (p: CheckProgress) => void
  signal?: AbortSignal
}

/** Hash what the store holds and mark the pieces that check as written; resolves with their indexes. */
export async function checkExisting (store: PieceStore, ledger: PieceLedger, hashes: PieceHashes, opts: CheckOptions = {}): Promise<number[]> {
  const present = await store.present()
  const geometry = ledger.geometry
  const candidates: number[] = []
  for (let index = 0; index < geometry.pieceCount; index++) {
    if (opts.all !== true && !ledger.wanted(index)) continue
    if (present(index)) candidates.push(index)
  }
  const valid: number[] = []
  let checked = 0
  for (const index of candidates) {
    if (opts.signal?.aborted === true) break
    const data = await store.read(index, 0, geometry.pieceSize(index))
    if (hashPiece([data]).equals(expectedHash(hashes, index))) {
      valid.push(index)
      ledger.markWritten(index)
    }
    checked++
    opts.onProgress?.({ checked, total: candidates.length, valid: valid.length })
  }
  return valid
}
