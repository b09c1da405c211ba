import t from 'tap'
import { createFileMap, type FileSpan } from '../lib/file-map.js'
import { isZentorrentError } from '../lib/errors.js'
import { parseMetainfo, type TorrentFile } from '../lib/metainfo.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { MULTI, buildTorrent } from './helpers/torrent-fixtures.js'

function layout (lengths: readonly number[], pads: ReadonlySet<number> = new Set()): TorrentFile[] {
  let offset = 0
  return lengths.map((length, i) => {
    const file = { path: ['t', String(i)], length, offset, pad: pads.has(i) }
    offset += length
    return file
  })
}

/** Reference: walk the range one byte at a time and merge consecutive bytes of one file. */
function bruteSpans (files: readonly TorrentFile[], start: number, length: number): FileSpan[] {
  const out: Array<{ fileIndex: number, file: TorrentFile, fileOffset: number, length: number, pieceOffset: number }> = []
  for (let at = start; at < start + length; at++) {
    const fileIndex = files.findIndex((f) => at >= f.offset && at < f.offset + f.length)
    const file = files[fileIndex] as TorrentFile
    const last = out[out.length - 1]
    if (last !== undefined && last.fileIndex === fileIndex) last.length++
    else out.push({ fileIndex, file, fileOffset: at - file.offset, length: 1, pieceOffset: at - start })
  }
  return out
}

function brutePieces (files: readonly TorrentFile[], fileIndex: number, pieceLength: number): number[] {
  const file = files[fileIndex] as TorrentFile
  const pieces = new Set<number>()
  for (let at = file.offset; at < file.offset + file.length; at++) pieces.add(Math.floor(at / pieceLength))
  return [...pieces]
}

t.test('spans cross file boundaries, skip zero-length files and keep pad files flagged', async (t) => {
  // files: 10 | 0 | 5 (pad) | 3 | 0 | 20 ; pieces of 8
  const files = layout([10, 0, 5, 3, 0, 20], new Set([2]))
  const map = createFileMap({ files, pieceLength: 8, length: 38 })
  t.equal(map.pieceCount, 5)
  t.equal(map.pieceSize(4), 6)
  t.same(map.emptyFiles, [1, 4])
  t.same(map.spans(1, 0, 8).map((s) => [s.fileIndex, s.fileOffset, s.length, s.pieceOffset, s.file.pad]), [
    [0, 8, 2, 0, false],
    [2, 0, 5, 2, true],
    [3, 0, 1, 7, false]
  ])
  t.same(map.spans(2, 0, 3).map((s) => [s.fileIndex, s.fileOffset, s.length, s.pieceOffset]), [[3, 1, 2, 0], [5, 0, 1, 2]])
  t.same(map.spans(0, 3, 0), [])
  t.same(map.piecesForFile(0), { first: 0, last: 1, count: 2 })
  t.same(map.piecesForFile(1), { first: 1, last: 0, count: 0 }, 'a zero-length file touches no piece')
  t.same(map.piecesForFile(5), { first: 2, last: 4, count: 3 })
})

t.test('out-of-range requests are INDEX_OUT_OF_RANGE', async (t) => {
  const map = createFileMap({ files: layout([10, 7]), pieceLength: 8, length: 17 })
  const bad: Array<() => unknown> = [
    () => map.spans(3, 0, 1),
    () => map.spans(-1, 0, 1),
    () => map.spans(2, 0, 2),
    () => map.spans(0, 4, 5),
    () => map.spans(0, -1, 1),
    () => map.spans(0.5, 0, 1),
    () => map.spansAt(16, 2),
    () => map.piecesForFile(2),
    () => map.pieceSize(3)
  ]
  for (const fn of bad) t.ok((() => { try { fn(); return false } catch (err) { return isZentorrentError(err, 'INDEX_OUT_OF_RANGE') } })())
})

t.test('a layout that does not add up is refused', async (t) => {
  t.throws(() => createFileMap({ files: layout([10, 7]), pieceLength: 8, length: 18 }), { code: 'BAD_LENGTH' })
  t.throws(() => createFileMap({ files: [{ path: ['a'], length: 3, offset: 1, pad: false }], pieceLength: 8, length: 4 }), { code: 'BAD_LENGTH' })
  t.throws(() => createFileMap({ files: layout([1]), pieceLength: 0, length: 1 }), { code: 'BAD_PIECE_LENGTH' })
})

t.test('matches a byte-by-byte reference on random layouts', async (t) => {
  const random = seededRandom(2024)
  const int = (n: number): number => Math.floor(random() * n)
  let checked = 0
  for (let round = 0; round < 200; round++) {
    const count = 1 + int(round % 4 === 0 ? 60 : 12)
    // Mostly tiny files (many per piece), some zero-length, some spanning several pieces.
    const lengths: number[] = Array.from({ length: count }, (): number => {
      const r = random()
      return r < 0.2 ? 0 : r < 0.7 ? 1 + int(5) : 1 + int(60)
    })
    if (!lengths.some((l) => l > 0)) lengths[0] = 1
    const pads = new Set(lengths.map((_, i) => i).filter(() => random() < 0.15))
    const files = layout(lengths, pads)
    const length = lengths.reduce((a, b) => a + b, 0)
    const pieceLength = 1 + int(16)
    const map = createFileMap({ files, pieceLength, length })
    t.same(map.emptyFiles, lengths.flatMap((l, i) => l === 0 ? [i] : []))
    for (let piece = 0; piece < map.pieceCount; piece++) {
      const size = map.pieceSize(piece)
      for (let q = 0; q < 4; q++) {
        const offset = int(size + 1)
        const spanLength = int(size - offset + 1)
        const got = map.spans(piece, offset, spanLength)
        const want = bruteSpans(files, piece * pieceLength + offset, spanLength)
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          t.same(got, want, `round ${round} piece ${piece} offset ${offset} length ${spanLength}`)
          return
        }
        checked++
      }
      const whole = map.spans(piece, 0, size)
      t.equal(whole.reduce((sum, s) => sum + s.length, 0), size)
    }
    for (let i = 0; i < files.length; i++) {
      const range = map.piecesForFile(i)
      const want = brutePieces(files, i, pieceLength)
      const got = Array.from({ length: range.count }, (_, k) => range.first + k)
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.same(got, want, `round ${round} file ${i}`)
        return
      }
    }
  }
  t.ok(checked > 1000, `${checked} ranges checked`)
})

t.test('a parsed torrent maps directly, and 100,000 files stay fast', async (t) => {
  const meta = parseMetainfo(buildTorrent(MULTI, { seed: 1, pad: true }).torrent)
  const map = createFileMap(meta)
  t.equal(map.pieceCount, meta.pieceCount)
  const all = Array.from({ length: map.pieceCount }, (_, i) => map.spans(i, 0, map.pieceSize(i))).flat()
  t.same(all.map((s) => s.fileIndex).filter((f, i, a) => a[i - 1] !== f), meta.files.flatMap((f, i) => f.length > 0 ? [i] : []), 'every file with bytes, in order')

  const lengths = Array.from({ length: 100_000 }, (_, i) => (i % 7 === 0 ? 0 : 1 + (i % 13)))
  const files = layout(lengths)
  const total = lengths.reduce((a, b) => a + b, 0)
  const big = createFileMap({ files, pieceLength: 64, length: total })
  // Best of three runs (JIT and GC noise); a linear scan per lookup would need ~5e8 steps, seconds.
  let ms = Infinity
  for (let run = 0; run < 3; run++) {
    const started = process.hrtime.bigint()
    for (let piece = 0; piece < big.pieceCount - 1; piece++) big.spans(piece, 10, 50)
    ms = Math.min(ms, Number(process.hrtime.bigint() - started) / 1e6)
  }
  t.ok(ms < 250, `${big.pieceCount} lookups in ${ms.toFixed(1)} ms`)
})
