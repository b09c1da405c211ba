/**
 * File read streams over a ledger and an in-memory store: pieces "land" when the test writes them, as the sink
 * reports them. Ranges of any file, consumer-paced reads, readahead windows that move and are released.
 */
import t, { type Test } from 'tap'
import { FileReadStream, FILE_STREAM_DEFAULTS, type Readahead, type ReaderStart } from '../lib/file-stream.js'
import { createLedger, type PieceLedger } from '../lib/ledger.js'
import { MemoryStore } from '../lib/store/memory-store.js'
import { isZentorrentError } from '../lib/errors.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { MULTI } from './helpers/torrent-fixtures.js'
import { fileBytes, makeTorrent, pieceBytes, type MadeTorrent } from './helpers/make-torrent.js'

const made = makeTorrent(MULTI, { seed: 51, pad: true })
const meta = made.meta

const turn = async (n = 10): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve)) }

interface Harness {
  ledger: PieceLedger
  store: MemoryStore
  /** Every readahead window set, and the current ones. */
  windows: Array<[number, number]>
  active: Set<[number, number]>
  /** What the streams told their readahead: [position, waiting], and how each reader started. */
  progress: Array<[number, boolean]>
  starts: ReaderStart[]
  reads: number[]
  land: (index: number) => Promise<void>
  stream: (file: number, opts?: ConstructorParameters<typeof FileReadStream>[2]) => FileReadStream
}

function harness (t: Test, m: MadeTorrent = made): Harness {
  const ledger = createLedger(m.meta)
  const store = new MemoryStore(m.meta)
  const reads: number[] = []
  const read = store.read.bind(store)
  store.read = async (index: number, offset: number, length: number) => {
    reads.push(index)
    if (!ledger.written(index)) throw new Error(`piece ${index} read before it was written`)
    return await read(index, offset, length)
  }
  const windows: Array<[number, number]> = []
  const active = new Set<[number, number]>()
  const progress: Array<[number, boolean]> = []
  const starts: ReaderStart[] = []
  const readahead = (first: number, last: number, start: ReaderStart): Readahead => {
    starts.push(start)
    let current: [number, number] = [first, last]
    windows.push(current)
    active.add(current)
    return {
      move: (f, l) => { active.delete(current); current = [f, l]; windows.push(current); active.add(current) },
      release: () => { active.delete(current) },
      progress: (position, waiting) => { progress.push([position, waiting]) }
    }
  }
  const h: Harness = {
    ledger,
    store,
    windows,
    active,
    progress,
    starts,
    reads,
    land: async (index) => {
      await store.writePiece(index, pieceBytes(m, index))
      ledger.markWritten(index)
    },
    stream: (file, opts) => {
      const s = new FileReadStream({ ledger, store, readahead }, m.meta.files[file]!, opts)
      t.teardown(() => { s.destroy() })
      return s
    }
  }
  return h
}

async function drain (s: FileReadStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of s) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const dataFiles = meta.files.map((f, i) => ({ f, i })).filter(({ f }) => !f.pad && f.length > 0)

t.test('defaults', async (t) => {
  t.same(FILE_STREAM_DEFAULTS, { readahead: 16 * 1024 * 1024, chunkLength: 1024 * 1024, highWaterMark: 1024 * 1024 })
})

t.test('random ranges of every file, pieces landing in random order, are byte-identical', async (t) => {
  const random = seededRandom(3)
  for (let run = 0; run < 40; run++) {
    const h = harness(t)
    const { f, i } = dataFiles[Math.floor(random() * dataFiles.length)]!
    const start = Math.floor(random() * f.length)
    const end = start + Math.floor(random() * (f.length - start))
    const s = h.stream(i, { start, end, chunkLength: 1 + Math.floor(random() * 40000) })
    const got = drain(s)
    const order = [...Array(meta.pieceCount).keys()].sort(() => random() - 0.5)
    for (const index of order) { await h.land(index); await turn(2) }
    const bytes = await got
    if (!bytes.equals(fileBytes(made, i).subarray(start, end + 1))) { t.fail(`run ${run}: ${f.path.join('/')} [${start}, ${end}]`); return }
    t.same(h.active.size, 0, `run ${run}: the readahead was released at the end`)
  }
  t.pass('40 ranges')
})

t.test('bytes come only once their piece is written, in order, and the window follows the position', async (t) => {
  const h = harness(t)
  const { f, i } = dataFiles.reduce((a, b) => b.f.length > a.f.length ? b : a)
  const s = h.stream(i, { readahead: 2 * meta.pieceLength })
  const firstPiece = Math.floor(f.offset / meta.pieceLength)
  const got: Buffer[] = []
  s.on('data', (c: Buffer) => got.push(c))
  await turn()
  t.same(got, [], 'nothing before its first piece is written')
  t.same(h.windows[0], [firstPiece, firstPiece + 1], 'a window of two pieces from the first one')
  await h.land(firstPiece + 1)
  await turn()
  t.same(got, [], 'a later piece alone does not help')
  await h.land(firstPiece)
  await turn()
  t.ok(got.length >= 1, 'the first piece flows')
  t.ok(h.windows.some(([a]) => a === firstPiece + 1), 'the window moved on')
  s.destroy()
  await turn()
  t.same(h.active.size, 0, 'destroying the stream releases its window')
})

t.test('the stream tells its readahead its byte position, and once per wait that it waits for a piece', async (t) => {
  const h = harness(t)
  const { f, i } = dataFiles.reduce((a, b) => b.f.length > a.f.length ? b : a)
  const s = h.stream(i, { start: 10, chunkLength: 1000, deadline: { bitrate: 5000 } })
  t.same(h.starts, [{ start: f.offset + 10, end: f.offset + f.length, deadline: { bitrate: 5000 } }], 'the reader\'s range and deadline options')
  const firstPiece = Math.floor(f.offset / meta.pieceLength)
  s.on('data', () => {})
  await turn()
  t.same(h.progress, [[f.offset + 10, true]], 'it waits at its first byte')
  await h.land(firstPiece + 1)
  await turn()
  t.same(h.progress, [[f.offset + 10, true]], 'another piece landing: still one report')
  await h.land(firstPiece)
  await turn()
  t.same(h.progress[1], [f.offset + 1010, false], 'one chunk on: the position, not waiting')
  t.ok(h.progress.every(([p], k) => k === 0 || p > h.progress[k - 1]![0] || h.progress[k - 1]![1] !== h.progress[k]![1]), 'positions only grow')
})

t.test('consumer-paced: a paused reader does not read the store ahead of what it asked for', async (t) => {
  const h = harness(t)
  for (let i = 0; i < meta.pieceCount; i++) await h.land(i)
  const { i } = dataFiles.reduce((a, b) => b.f.length > a.f.length ? b : a)
  const s = h.stream(i, { chunkLength: 1000, highWaterMark: 2000 })
  await turn()
  t.equal(h.reads.length, 0, 'nothing read before anyone asks')
  s.read(0)
  await turn(20)
  t.ok(h.reads.length > 0 && h.reads.length <= 3, `reads stop at the high-water mark (${h.reads.length} reads)`)
})

t.test('a zero-length file ends at once; bad ranges are refused', async (t) => {
  const h = harness(t)
  const empty = meta.files.findIndex((f) => f.length === 0)
  t.ok(empty >= 0)
  t.same(await drain(h.stream(empty)), Buffer.alloc(0))
  const { f, i } = dataFiles[0]!
  for (const range of [{ start: -1 }, { end: f.length }, { start: 5, end: 3 }, { start: 0.5 }]) {
    let err: unknown = null
    try { h.stream(i, range) } catch (e) { err = e }
    t.ok(isZentorrentError(err, 'BAD_ARGUMENT'), JSON.stringify(range))
  }
})

t.test('a store that fails a read ends the stream with the error', async (t) => {
  const h = harness(t)
  for (let i = 0; i < meta.pieceCount; i++) await h.land(i)
  h.store.read = async () => { throw new Error('EIO: the disk went away') }
  const err = await drain(h.stream(dataFiles[0]!.i)).then(() => null, (e: unknown) => e)
  t.match(String(err), /EIO/)
})
