/**
 * Very large .torrent files, the sizes issue 17 met in the wild, for the memory tests of `info` and the metainfo
 * parser: one with 3,000,000 pieces (60 MB of hashes) and one with 100,000 files. Written directly as bencode
 * (keys sorted, as BEP 3 wants): building them through a generic encoder would itself cost hundreds of MB.
 * Piece hashes are seeded bytes, not real hashes: `info` never reads the data.
 *
 *   node --import=@tapjs/typescript/import test/helpers/large-torrents.ts DIR   (or from a test: writeLargeTorrents)
 */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** 3,000,000 pieces of 16 KiB: 60,000,000 bytes of hashes, a 60 MB .torrent (about 46 GiB of content). */
export const MANY_PIECES = { pieceCount: 3_000_000, pieceLength: 16 * 1024 } as const
/** 100,000 files of 1,000 bytes each in 100 directories, 256 KiB pieces. */
export const MANY_FILES = { fileCount: 100_000, fileLength: 1000, pieceLength: 256 * 1024 } as const

function str (text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text
  return Buffer.concat([Buffer.from(`${bytes.length}:`), bytes])
}

/** Deterministic filler: SHA1 chains are fast enough (60 MB in well under a second) and need no state. */
function fillerHashes (count: number): Buffer {
  const out = Buffer.allocUnsafe(count * 20)
  let block = createHash('sha1').update('zentorrent large torrents').digest()
  for (let i = 0; i < count; i += 1) {
    if (i % 1024 === 0) block = createHash('sha1').update(block).digest()
    block.copy(out, i * 20)
    out[i * 20] = i & 0xff
    out[i * 20 + 1] = (i >>> 8) & 0xff
    out[i * 20 + 2] = (i >>> 16) & 0xff
  }
  return out
}

export function manyPiecesTorrent (): Buffer {
  const { pieceCount, pieceLength } = MANY_PIECES
  const length = pieceCount * pieceLength - 1234
  const info = Buffer.concat([
    Buffer.from('d'),
    str('length'), Buffer.from(`i${length}e`),
    str('name'), str('many-pieces.bin'),
    str('piece length'), Buffer.from(`i${pieceLength}e`),
    str('pieces'), str(fillerHashes(pieceCount)),
    Buffer.from('e')
  ])
  return Buffer.concat([
    Buffer.from('d'),
    str('announce'), str('http://127.0.0.1:6969/announce'),
    str('info'), info,
    Buffer.from('e')
  ])
}

export function manyFilesTorrent (fileCount: number = MANY_FILES.fileCount): Buffer {
  const { fileLength, pieceLength } = MANY_FILES
  const parts: Buffer[] = [Buffer.from('d'), str('files'), Buffer.from('l')]
  for (let i = 0; i < fileCount; i++) {
    const dir = `dir-${String(Math.floor(i / 1000)).padStart(3, '0')}`
    const file = `file-${String(i).padStart(6, '0')}.dat`
    parts.push(Buffer.from(`d6:lengthi${fileLength}e4:pathl${str(dir).toString()}${str(file).toString()}ee`))
  }
  const pieceCount = Math.ceil(fileCount * fileLength / pieceLength)
  parts.push(
    Buffer.from('e'),
    str('name'), str('many-files'),
    str('piece length'), Buffer.from(`i${pieceLength}e`),
    str('pieces'), str(fillerHashes(pieceCount)),
    Buffer.from('e')
  )
  const info = Buffer.concat(parts)
  return Buffer.concat([Buffer.from('d'), str('announce'), str('http://127.0.0.1:6969/announce'), str('info'), info, Buffer.from('e')])
}

/** Write both into `dir`; returns their paths. */
export async function writeLargeTorrents (dir: string): Promise<{ manyPieces: string, manyFiles: string }> {
  const manyPieces = join(dir, 'many-pieces.torrent')
  const manyFiles = join(dir, 'many-files.torrent')
  await writeFile(manyPieces, manyPiecesTorrent())
  await writeFile(manyFiles, manyFilesTorrent())
  return { manyPieces, manyFiles }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? '.'
  writeLargeTorrents(dir).then((paths) => { process.stdout.write(`${paths.manyPieces}\n${paths.manyFiles}\n`) }, (err: unknown) => {
    process.stderr.write(`${String(err)}\n`)
    process.exitCode = 1
  })
}
