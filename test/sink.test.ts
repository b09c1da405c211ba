import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import pump from 'pump'
import { createSink, SINK_DEFAULTS, Sink } from '../lib/sink.js'
import { FileStore } from '../lib/store/file-store.js'
import { createLedger } from '../lib/ledger.js'
import { isZentorrentError } from '../lib/errors.js'
import type { VerifiedPiece } from '../lib/verify.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { MULTI } from './helpers/torrent-fixtures.js'
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
  t.same(SINK_DEFAULTS, { highWaterMark: 2 })
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
      t.same(written, pieces.map((p) => p.index), 'piece-written once per piece, in the order written')
      t.ok(pieces.every((p) => ledger.written(p.index)), 'each piece reported written into the ledger')
      t.same(await differingFiles(root, made), [])
      made.meta.files.forEach((file, i) => {
        if (file.pad) t.notOk(existsSync(pathOf(root, made.meta, i)), 'pad files never created')
      })
    })
  }
}

t.test('backpressure: write() returns false while pieces wait for the disk', async (t) => {
  const made = makeTorrent(MULTI, { seed: 21 })
  const root = t.testdir()
  const storage = new FileStore(made.meta, root)
  await storage.open()
  const sink = new Sink(storage, { ledger: createLedger(made.meta), highWaterMark: 2 })
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
