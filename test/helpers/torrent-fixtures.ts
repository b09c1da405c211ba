/**
 * Deterministic .torrent fixtures for the metainfo, file-map and info tests, and for fixtures/make-fixtures.ts:
 * file layouts, their seeded contents, and a bencode writer that can keep keys in the order given (to build
 * non-canonical torrents whose info hash only survives if nobody re-encodes).
 */
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { seededBytes } from './create-fixtures.js'

/** A bencode value for the writer: a Map keeps its key order, a plain object is written with sorted keys. */
export type BValue = number | string | Uint8Array | readonly BValue[] | ReadonlyMap<string, BValue> | { readonly [key: string]: BValue }

export function encode (value: BValue): Buffer {
  const parts: Buffer[] = []
  const END = Buffer.from('e')
  // Iterative, like the scanner: fixtures may be nested deeply on purpose. A raw Buffer on the work stack is
  // output to copy as is (a container's closing `e`); everything else is a value to encode.
  const work: Array<{ raw: Buffer } | { value: BValue }> = [{ value }]
  for (let next = work.pop(); next !== undefined; next = work.pop()) {
    if ('raw' in next) {
      parts.push(next.raw)
      continue
    }
    const item = next.value
    if (typeof item === 'number') {
      parts.push(Buffer.from(`i${Math.trunc(item)}e`))
    } else if (typeof item === 'string' || item instanceof Uint8Array) {
      const bytes = Buffer.from(item)
      parts.push(Buffer.from(`${bytes.length}:`), bytes)
    } else if (Array.isArray(item)) {
      const list = item as readonly BValue[]
      parts.push(Buffer.from('l'))
      work.push({ raw: END })
      for (let i = list.length - 1; i >= 0; i--) work.push({ value: list[i] as BValue })
    } else {
      const entries: Array<[string, BValue]> = item instanceof Map
        ? [...(item as ReadonlyMap<string, BValue>)]
        : Object.entries(item as { [key: string]: BValue }).sort(([x], [y]) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      parts.push(Buffer.from('d'))
      work.push({ raw: END })
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, v] = entries[i] as [string, BValue]
        work.push({ value: v }, { value: key })
      }
    }
  }
  return Buffer.concat(parts)
}

export interface LayoutFile {
  /** Path below the torrent's name ('/'-separated); for a single-file layout, the name itself. */
  readonly path: string
  readonly length: number
}

export interface Layout {
  readonly name: string
  readonly pieceLength: number
  readonly single: boolean
  readonly files: readonly LayoutFile[]
}

/** mktorrent -l 15: 32 KiB pieces. */
export const PIECE_LENGTH = 32768

export const SINGLE: Layout = {
  name: 'single.bin',
  pieceLength: PIECE_LENGTH,
  single: true,
  files: [{ path: 'single.bin', length: 3 * PIECE_LENGTH + 1234 }]
}

/** Nested directories, odd sizes, a zero-length file, files smaller than a piece, a file spanning pieces. */
export const MULTI: Layout = {
  name: 'multi',
  pieceLength: PIECE_LENGTH,
  single: false,
  files: [
    { path: 'readme.txt', length: 1000 },
    { path: 'dir/a.bin', length: 70001 },
    { path: 'dir/empty', length: 0 },
    { path: 'dir/deeper/b.bin', length: 12345 },
    { path: 'dir/deeper/tiny1', length: 1 },
    { path: 'dir/deeper/tiny2', length: 7 },
    { path: 'z.dat', length: 2 * PIECE_LENGTH + 5 }
  ]
}

/** Small enough that its .torrent is a few hundred bytes: what `zentorrent info fixtures/sample.torrent` shows. */
export const SAMPLE: Layout = {
  name: 'sample',
  pieceLength: 16384,
  single: false,
  files: [
    { path: 'README.txt', length: 517 },
    { path: 'music/track-01.ogg', length: 40000 },
    { path: 'music/track-02.ogg', length: 23456 },
    { path: 'empty.txt', length: 0 }
  ]
}

export function fileData (layout: Layout, index: number, seed: number): Buffer {
  const file = layout.files[index] as LayoutFile
  return seededBytes(file.length, seed * 1000 + index + 1)
}

/** Write the layout's files under `root/<name>` (multi-file) or as `root/<name>` (single-file). */
export async function writeLayout (root: string, layout: Layout, seed: number): Promise<string> {
  for (let i = 0; i < layout.files.length; i++) {
    const file = layout.files[i] as LayoutFile
    const target = layout.single ? join(root, layout.name) : join(root, layout.name, ...file.path.split('/'))
    await mkdir(dirname(target), { recursive: true })
    await writeFile(target, fileData(layout, i, seed))
  }
  return join(root, layout.name)
}

export interface TorrentOptions {
  readonly seed: number
  /** BEP 47: insert a pad file after every file that does not end on a piece boundary (except the last). */
  readonly pad?: boolean
  /** Keep the info keys in an unsorted order and add an unknown key to info. */
  readonly nonCanonical?: boolean
  readonly announce?: string
  readonly announceList?: readonly (readonly string[])[]
  readonly urlList?: string | readonly string[]
  readonly private?: boolean
  readonly comment?: string
  readonly createdBy?: string
  readonly creationDate?: number
}

export interface BuiltTorrent {
  readonly torrent: Buffer
  readonly infoHashHex: string
  /** The byte stream the pieces hash, pads included as zeros. */
  readonly data: Buffer
  readonly files: ReadonlyArray<{ path: readonly string[], length: number, pad: boolean }>
}

/** Build a .torrent for `layout` with real piece hashes over the seeded contents. */
export function buildTorrent (layout: Layout, options: TorrentOptions): BuiltTorrent {
  const chunks: Buffer[] = []
  const files: Array<{ path: readonly string[], length: number, pad: boolean }> = []
  let total = 0
  layout.files.forEach((file, i) => {
    const data = fileData(layout, i, options.seed)
    chunks.push(data)
    files.push({ path: file.path.split('/'), length: file.length, pad: false })
    total += file.length
    const remainder = total % layout.pieceLength
    if (options.pad === true && !layout.single && remainder !== 0 && i < layout.files.length - 1) {
      const padLength = layout.pieceLength - remainder
      chunks.push(Buffer.alloc(padLength))
      files.push({ path: ['.pad', String(padLength)], length: padLength, pad: true })
      total += padLength
    }
  })
  const data = Buffer.concat(chunks)
  const hashes: Buffer[] = []
  for (let at = 0; at < data.length; at += layout.pieceLength) {
    hashes.push(createHash('sha1').update(data.subarray(at, at + layout.pieceLength)).digest())
  }
  const pieces = Buffer.concat(hashes)

  const fileList: BValue[] = files.map((f): BValue => f.pad
    ? { attr: 'p', length: f.length, path: [...f.path] }
    : { length: f.length, path: [...f.path] })
  const info: BValue = options.nonCanonical === true
    ? new Map<string, BValue>([
      ['pieces', pieces],
      ['piece length', layout.pieceLength],
      ['x-unknown-field', new Map<string, BValue>([['z', 1], ['a', 'kept as is']])],
      ['name', layout.name],
      ...(layout.single ? [['length', data.length] as [string, BValue]] : [['files', fileList] as [string, BValue]]),
      ...(options.private === true ? [['private', 1] as [string, BValue]] : [])
    ])
    : canonicalInfo(layout, pieces, data.length, fileList, options.private === true)
  const top: { [key: string]: BValue } = { info }
  if (options.announce !== undefined) top.announce = options.announce
  if (options.announceList !== undefined) top['announce-list'] = options.announceList.map((tier) => [...tier])
  if (options.urlList !== undefined) top['url-list'] = typeof options.urlList === 'string' ? options.urlList : [...options.urlList]
  if (options.comment !== undefined) top.comment = options.comment
  if (options.createdBy !== undefined) top['created by'] = options.createdBy
  if (options.creationDate !== undefined) top['creation date'] = options.creationDate
  const infoBytes = encode(info)
  return {
    torrent: encode(top),
    infoHashHex: createHash('sha1').update(infoBytes).digest('hex'),
    data,
    files
  }
}

function canonicalInfo (layout: Layout, pieces: Buffer, length: number, fileList: BValue[], isPrivate: boolean): BValue {
  const info: { [key: string]: BValue } = { name: layout.name, 'piece length': layout.pieceLength, pieces }
  if (layout.single) info.length = length
  else info.files = fileList
  if (isPrivate) info.private = 1
  return info
}

/** A torrent whose info dictionary is given verbatim (a plain object or Map), for the error-code tests. */
export function rawTorrent (info: BValue, extra: { [key: string]: BValue } = {}): Buffer {
  return encode({ ...extra, info })
}

/** A minimal valid info dictionary for `files` (piece hashes are zeros: only the layout matters). */
export function infoFor (name: string, files: ReadonlyArray<{ path: readonly string[], length: number }>, pieceLength = 16384): { [key: string]: BValue } {
  const total = files.reduce((sum, f) => sum + f.length, 0)
  return {
    name,
    'piece length': pieceLength,
    pieces: Buffer.alloc(20 * Math.ceil(total / pieceLength)),
    files: files.map((f) => ({ length: f.length, path: [...f.path] }))
  }
}
