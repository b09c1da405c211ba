/**
 * In-memory torrents for the storage, sink and resume tests: a parsed Metainfo built (by torrent-fixtures.ts'
 * buildTorrent) over seeded contents, the bytes each file must end up holding, and verified pieces cut into
 * randomly sized block views the way the verifier hands them on.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseMetainfo, type Metainfo } from '../../lib/metainfo.js'
import type { VerifiedPiece } from '../../lib/verify.js'
import { buildTorrent, type Layout } from './torrent-fixtures.js'

export interface MadeTorrent {
  readonly meta: Metainfo
  /** The torrent's byte stream, pads as zeros. */
  readonly data: Buffer
}

export function makeTorrent (layout: Layout, opts: { seed: number, pad?: boolean }): MadeTorrent {
  const built = buildTorrent(layout, { seed: opts.seed, pad: opts.pad ?? false })
  return { meta: parseMetainfo(built.torrent), data: built.data }
}

/** The bytes file `fileIndex` must hold. */
export function fileBytes (made: MadeTorrent, fileIndex: number): Buffer {
  const file = made.meta.files[fileIndex]!
  return made.data.subarray(file.offset, file.offset + file.length)
}

export function pieceBytes (made: MadeTorrent, index: number): Buffer {
  const start = index * made.meta.pieceLength
  return made.data.subarray(start, Math.min(start + made.meta.pieceLength, made.meta.length))
}

/** Piece `index` as a verified piece in a buffer of its own (not a view of the torrent's data). */
export function verifiedPiece (made: MadeTorrent, index: number): VerifiedPiece {
  return { index, data: Buffer.from(pieceBytes(made, index)) }
}

export function shuffled<T> (items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

export function pathOf (root: string, meta: Metainfo, fileIndex: number): string {
  return resolve(root, ...meta.files[fileIndex]!.path)
}

/** Each non-pad file's bytes on disk, compared with what it must hold; the names of the files that differ. */
export async function differingFiles (root: string, made: MadeTorrent): Promise<string[]> {
  const bad: string[] = []
  for (let i = 0; i < made.meta.files.length; i++) {
    const file = made.meta.files[i]!
    if (file.pad) continue
    const onDisk = await readFile(pathOf(root, made.meta, i)).catch(() => null)
    if (onDisk === null || !onDisk.equals(fileBytes(made, i))) bad.push(file.path.join('/'))
  }
  return bad
}
