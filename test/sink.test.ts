import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import pump from 'pump'
import { createSink, SINK_DEFAULTS, Sink } from '../lib/sink.js'
import { FileStore } from '../lib/store/file-store.js'
import { MemoryStore } from '../lib/store/memory-store.js'
import { createLedger } from '../lib/ledger.js'
import { isZentorrentError } from '../lib/errors.js'
import type { VerifiedPiece } from '../lib/verify.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { MULTI, PIECE_LENGTH } from './helpers/torrent-fixtures.js'
import { differingFiles, makeTorrent, pathOf, shuffled, verifiedPiece, type MadeTorrent } from './helpers/make-torrent.js'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

/** pump(pieces, sink); resolves with the pipeline's error (or null). */
async function pumpInto (pieces: readonly VerifiedPiece[], sink: Sink): Promise<Error | null> {
  return await new Promise((resolve) => {
    pump(Readable.from(pieces), sink, (err) => resolve(err ?? null))
  })
}

function randomPieces (made: MadeTorrent, seed: number): VerifiedPiece[] {
  const random = seededRandom(seed)
  return shuffled(range(made.meta.pieceCount), random).map((index) => verifiedPiece(made, index))
}

t.test('defaults', async (t) => {
  t.same(SINK_DEFAULTS, { highWaterMark: 2, maxWrites: 4, maxWriteBytes: 1024 * 1024 })
})

for (const pad of [false, true]) {
  for (const maxOpenFiles of [64, 2]) {
    t.test(`random pieces through the sink land byte for byte (pad files ${pad ? 'on' : 'off'}, ${maxOpenFiles} handles)`, async (t) => {
      const made = makeTorrent(MULTI, { seed: 20, pad })
      const root = t.testdir()
      const storage = new FileStore(made.meta, root, { maxOpenFiles })
      await storage.open()
      const ledger = createLedger(made.meta)
      const sink = createSink(storage, { ledger })
      const written: number[] = []
      sink.on('piece-written', (index: number) => written.push(index))
      const pieces = randomPieces(made, maxOpenFiles)
      t.equal(await pumpInto(pieces, sink), null)
      await storage.close()
      t.same([...written].sort((a, b) => a - b), range(made.meta.pieceCount), 'piece-written once per piece')
      t.ok(pieces.every((p) => ledger.written(p.index)), 'each piece reported written into the ledger')
      t.same(await differingFiles(root, made), [])
      made.meta.files.forEach((file, i) => {
        if (file.pad) t.notOk(existsSync(pathOf(root, made.meta, i)), 'pad files never created')
      })
    })
  }
}

/** A MemoryStore whose writes wait until `finish()`: counts the writes in flight. */
class GatedStore extends MemoryStore {
  inFlight = 0
  maxInFlight = 0
  readonly #gates: Array<() => void> = []
  failNext: Error | null = null

  override async writePiece (index: number, data: Buffer): Promise<void> {
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    await new Promise<void>((resolve) => this.#gates.push(resolve))
    this.inFlight--
    const fail = this.failNext
    this.failNext = null
    if (fail !== null) throw fail
    await super.writePiece(index, data)
  }

  /** Let the oldest waiting write finish. */
  finish (): boolean {
    const gate = this.#gates.shift()
    gate?.()
    return gate !== undefined
  }
}

const tick = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

// [maxWrites, maxWriteBytes in pieces]: pieces are bounded by count, or by bytes when that allows more
for (const [maxWrites, bytesInPieces] of [[1, 0], [4, 0], [1, 3]] as const) {
  t.test(`at most ${Math.max(maxWrites, bytesInPieces)} pieces are written at once (maxWrites ${maxWrites}, maxWriteBytes ${bytesInPieces} pieces), and write() turns false past them and the buffer`, async (t) => {
    // twelve whole pieces, so that a byte bound is a whole number of pieces
    const made = makeTorrent({ name: 'even', pieceLength: PIECE_LENGTH, single: true, files: [{ path: 'even.bin', length: 12 * PIECE_LENGTH }] }, { seed: 23 })
    const store = new GatedStore(made.meta)
    const ledger = createLedger(made.meta)
    const pieceLength = made.meta.pieceLength
    const sink = new Sink(store, { ledger, highWaterMark: 2, maxWrites, maxWriteBytes: bytesInPieces * pieceLength })
    const limit = Math.max(maxWrites, bytesInPieces)
    const released: number[] = []
    const pieces = randomPieces(made, 5).map((p) => ({ ...p, release: () => released.push(p.index) }))
    const results = pieces.map((piece) => sink.write(piece))
    await tick()
    t.equal(store.inFlight, limit, 'that many writes started')
    // the piece whose callback is held counts in the buffer: with highWaterMark 2, one more makes write() false
    t.equal(results.indexOf(false), limit, 'write() false once they are in flight and one more waits')
    t.ok(results.slice(limit).every((r) => !r), 'and false after that')
    sink.end()
    let finished = false
    sink.once('finish', () => { finished = true })
    while (store.finish()) {
      t.ok(store.inFlight <= limit, 'never more')
      await tick()
    }
    await tick()
    t.ok(finished, "'finish' once the last write is done, not before")
    t.equal(store.maxInFlight, limit)
    t.equal(store.size, pieces.length, 'every piece stored')
    t.same(released.sort((a, b) => a - b), pieces.map((p) => p.index).sort((a, b) => a - b), 'every buffer released')
    t.ok(pieces.every((p) => ledger.written(p.index)), 'each reported written')
  })
}

t.test('a write failing while others are in flight fails the stream once, and releases every buffer', async (t) => {
  const made = makeTorrent(MULTI, { seed: 24 })
  const store = new GatedStore(made.meta)
  const sink = new Sink(store, { ledger: createLedger(made.meta), maxWrites: 4, maxWriteBytes: 0 })
  const released: number[] = []
  const pieces = randomPieces(made, 6).slice(0, 3).map((p) => ({ ...p, release: () => released.push(p.index) }))
  const errors: Error[] = []
  sink.on('error', (err) => errors.push(err))
  for (const piece of pieces) sink.write(piece)
  await tick()
  t.equal(store.inFlight, 3)
  store.failNext = new Error('disk gone')
  while (store.finish()) await tick()
  await tick()
  t.equal(errors.length, 1, 'one error')
  t.equal(errors[0]?.message, 'disk gone')
  t.ok(sink.destroyed, 'the sink is destroyed')
  t.equal(released.length, 3, 'buffers of the failed and the finished writes released')
})

t.test('backpressure: write() returns false while pieces wait for the disk', async (t) => {
  const made = makeTorrent(MULTI, { seed: 21 })
  const root = t.testdir()
  const storage = new FileStore(made.meta, root)
  await storage.open()
  const sink = new Sink(storage, { ledger: createLedger(made.meta), highWaterMark: 2, maxWrites: 1, maxWriteBytes: 0 })
  const pieces = randomPieces(made, 3)
  const results = pieces.map((piece) => sink.write(piece))
  t.same(results.slice(0, 2), [true, false], 'false once two pieces are buffered')
  t.equal(results.every((r, i) => i < 1 || !r), true, 'and false after that')
  await new Promise((resolve) => sink.once('drain', resolve))
  sink.end()
  await new Promise((resolve) => sink.once('finish', resolve))
  await storage.close()
  t.same(await differingFiles(root, made), [])
})

t.test('a disk error ends the pipeline with a typed error, no crash', async (t) => {
  const made = makeTorrent(MULTI, { seed: 22 })
  const dir = t.testdir({ 'file.txt': 'a regular file' })
  const root = join(dir, 'file.txt', 'sub') // ENOTDIR: chmod would not stop a root test run
  const storage = new FileStore(made.meta, root)
  const ledger = createLedger(made.meta)
  const sink = createSink(storage, { ledger })
  const written: number[] = []
  sink.on('piece-written', (index: number) => written.push(index))
  const err = await pumpInto(randomPieces(made, 4), sink)
  t.ok(isZentorrentError(err, 'IO_ERROR'), 'the pipeline ends with the storage error')
  t.equal((err as Error & { cause: NodeJS.ErrnoException }).cause.code, 'ENOTDIR')
  t.ok(sink.destroyed, 'the sink is destroyed')
  t.same(written, [])
  t.equal(ledger.count(4), 0, 'nothing reported written')
  await storage.close()
})
