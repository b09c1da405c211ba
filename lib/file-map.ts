/**
 * File map: piece/offset ↔ file spans (pure).
 *
 * BEP 3 lays the files of a torrent end to end in one byte stream cut into pieces; a range inside a piece may
 * cover the end of one file, several whole small files and the start of another. `spans(piece, offset, length)`
 * names those pieces of files in order.
 *
 * Invariants and costs:
 * - Only files with length > 0 take part in lookups; their offsets strictly increase, so the file holding a
 *   byte is found by binary search over them: O(log files) per lookup, then O(spans returned). A torrent may hold
 *   100,000 files; nothing here is linear in their number after construction.
 * - Zero-length files never appear in spans (they hold no byte); `emptyFiles` lists them so the sink can create
 *   them, and their piece range is empty.
 * - BEP 47 pad files do appear, with `file.pad` true: the sink skips writing them, a reader serving uploads
 *   returns zeros for them.
 */
import { ZentorrentError } from './errors.js'
import { createGeometry } from './geometry.js'
import type { Metainfo, TorrentFile } from './metainfo.js'

export interface FileSpan {
  readonly fileIndex: number
  readonly file: TorrentFile
  /** Offset within the file of the span's first byte. */
  readonly fileOffset: number
  readonly length: number
  /** Offset of the span's first byte within the requested range (0 for the first span). */
  readonly pieceOffset: number
}

/** Pieces a file touches, `first..last` inclusive; `count` 0 (and last = first - 1) for a zero-length file. */
export interface PieceRange {
  readonly first: number
  readonly last: number
  readonly count: number
}

export interface FileMapSource {
  readonly files: readonly TorrentFile[]
  readonly pieceLength: number
  readonly length: number
}

export interface FileMap {
  readonly pieceLength: number
  readonly pieceCount: number
  readonly length: number
  readonly files: readonly TorrentFile[]
  /** Indexes of the zero-length files, which no span ever names. */
  readonly emptyFiles: readonly number[]
  /** Size in bytes of piece `index`. */
  pieceSize: (index: number) => number
  /** The parts of files covered by `length` bytes at `offset` in piece `pieceIndex`, in order. */
  spans: (pieceIndex: number, offset: number, length: number) => FileSpan[]
  /** The same, addressed by an offset in the torrent's whole byte stream. */
  spansAt: (torrentOffset: number, length: number) => FileSpan[]
  piecesForFile: (fileIndex: number) => PieceRange
}

function outOfRange (message: string): ZentorrentError {
  return new ZentorrentError('INDEX_OUT_OF_RANGE', message)
}

/** Build the map for a parsed torrent, or for any `{ files, pieceLength, length }` (tests, the creator). */
export function createFileMap (source: Metainfo | FileMapSource): FileMap {
  const { files, pieceLength, length } = source
  if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) {
    throw new ZentorrentError('BAD_PIECE_LENGTH', `piece length must be a positive integer, not ${pieceLength}`)
  }
  const pieceCount = Math.ceil(length / pieceLength)

  // Files that hold bytes, and where each starts; checked contiguous so the binary search is sound.
  const dataFiles: number[] = []
  const emptyFiles: number[] = []
  let expected = 0
  for (let i = 0; i < files.length; i++) {
    const file = files[i] as TorrentFile
    if (file.offset !== expected) throw new ZentorrentError('BAD_LENGTH', `file ${i} starts at ${file.offset}, expected ${expected}`)
    expected += file.length
    if (file.length === 0) emptyFiles.push(i)
    else dataFiles.push(i)
  }
  if (expected !== length) throw new ZentorrentError('BAD_LENGTH', `files add up to ${expected} bytes, not ${length}`)
  const starts = Float64Array.from(dataFiles, (i) => (files[i] as TorrentFile).offset)

  const geometry = createGeometry({ pieceCount, pieceLength, lastPieceLength: length - (pieceCount - 1) * pieceLength })
  const pieceSize = (index: number): number => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= pieceCount) {
      throw outOfRange(`piece ${index} is not in 0..${pieceCount - 1}`)
    }
    return geometry.pieceSize(index)
  }

  /** Position in dataFiles of the file holding byte `at` (0 <= at < length). */
  const locate = (at: number): number => {
    let low = 0
    let high = starts.length - 1
    while (low < high) {
      const middle = (low + high + 1) >>> 1
      if ((starts[middle] as number) <= at) low = middle
      else high = middle - 1
    }
    return low
  }

  const spansAt = (torrentOffset: number, spanLength: number): FileSpan[] => {
    if (!Number.isSafeInteger(torrentOffset) || !Number.isSafeInteger(spanLength) || torrentOffset < 0 ||
        spanLength < 0 || torrentOffset + spanLength > length) {
      throw outOfRange(`${spanLength} bytes at ${torrentOffset} are not inside the torrent's ${length} bytes`)
    }
    const out: FileSpan[] = []
    if (spanLength === 0) return out
    const end = torrentOffset + spanLength
    let at = torrentOffset
    for (let k = locate(at); at < end; k++) {
      const fileIndex = dataFiles[k] as number
      const file = files[fileIndex] as TorrentFile
      const fileOffset = at - file.offset
      const take = Math.min(file.length - fileOffset, end - at)
      out.push({ fileIndex, file, fileOffset, length: take, pieceOffset: at - torrentOffset })
      at += take
    }
    return out
  }

  const spans = (pieceIndex: number, offset: number, spanLength: number): FileSpan[] => {
    const size = pieceSize(pieceIndex)
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(spanLength) || offset < 0 || spanLength < 0 ||
        offset + spanLength > size) {
      throw outOfRange(`${spanLength} bytes at ${offset} are not inside piece ${pieceIndex} (${size} bytes)`)
    }
    return spansAt(pieceIndex * pieceLength + offset, spanLength)
  }

  const piecesForFile = (fileIndex: number): PieceRange => {
    const file = files[fileIndex]
    if (!Number.isSafeInteger(fileIndex) || file === undefined) {
      throw outOfRange(`file ${fileIndex} is not in 0..${files.length - 1}`)
    }
    const first = Math.floor(file.offset / pieceLength)
    if (file.length === 0) return { first, last: first - 1, count: 0 }
    const last = Math.floor((file.offset + file.length - 1) / pieceLength)
    return { first, last, count: last - first + 1 }
  }

  return Object.freeze({
    pieceLength,
    pieceCount,
    length,
    files,
    emptyFiles: Object.freeze(emptyFiles),
    pieceSize,
    spans,
    spansAt,
    piecesForFile
  })
}
