/**
 * The README's "composing the stages yourself" example, run as written (imports from the package entry point)
 * against a real libtorrent seeder on loopback; and the same composition with a deliberately slow store and a fast
 * seeder, where the bytes held between the socket and the disk must stay under a stated bound the whole time.
 */
import t from 'tap'
import pump from 'pump'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  parseMetainfo, createLedger, createScheduler, createVerifier, createSink, FileStore, connect, generatePeerId,
  SCHEDULER_DEFAULTS, BLOCK_LENGTH, type Metainfo, type PieceStore, type PieceLedger, type Scheduler, type Verifier
} from '../lib/index.js'
import { singleFileTorrent, startLibtorrentSeeder } from './helpers/seeders.js'

const README = fileURLToPath(new URL('../README.md', import.meta.url))

/** The README's composition, line for line (the first test checks that the README still says this). */
async function compose (meta: Metainfo, store: PieceStore, port: number): Promise<{ done: Promise<Error | undefined>, ledger: PieceLedger, scheduler: Scheduler, verifier: Verifier }> {
  const ledger = createLedger(meta)
  const scheduler = createScheduler(ledger)
  const verifier = createVerifier(meta, { ledger })
  const wire = await connect('127.0.0.1', port, { peerId: generatePeerId(), ...meta })
  scheduler.addPeer(`127.0.0.1:${port}`, wire)
  const done = new Promise<Error | undefined>((resolve) => {
    pump(scheduler, verifier, createSink(store, { ledger }), (err) => {
      wire.destroy()
      resolve(err ?? undefined)
    })
  })
  return { done, ledger, scheduler, verifier }
}

t.test('the README shows this composition', async (t) => {
  const readme = await readFile(README, 'utf8')
  const source = await readFile(fileURLToPath(import.meta.url), 'utf8')
  const body = source.slice(source.indexOf('  const ledger = createLedger(meta)'), source.indexOf('  return { done, ledger, scheduler, verifier }'))
  const wanted = ['createLedger(meta)', 'createScheduler(ledger)', 'createVerifier(meta, { ledger })', "connect('127.0.0.1'", '{ peerId: generatePeerId(), ...meta }', 'scheduler.addPeer(', 'pump(scheduler, verifier, createSink(store, { ledger })']
  for (const w of wanted) {
    t.ok(body.includes(w), `the test's composition has ${w}`)
    t.ok(readme.includes(w), `the README's has ${w}`)
  }
})

t.test('the stages composed by hand download a torrent from libtorrent', async (t) => {
  const { dir, data, torrentPath } = await singleFileTorrent(t, 'compose', 3 * 1024 * 1024 + 12345, 77, 64 * 1024)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)
  const meta = parseMetainfo(await readFile(torrentPath))
  const store = new FileStore(meta, join(dir, 'out'))
  await store.open()
  const { done, ledger } = await compose(meta, store, seeder.port)
  const err = await Promise.race([done, new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('not done in 30 s')), 30_000).unref())])
  await store.close()
  t.error(err, 'the pipeline ends without error')
  t.ok(ledger.complete, 'every piece verified and stored')
  t.ok((await readFile(join(dir, 'out', 'data.bin'))).equals(data), 'the file is byte for byte the original')
})

/** A FileStore whose writes take `delayMs` each: a disk far slower than loopback. */
class SlowStore extends FileStore {
  constructor (meta: Metainfo, root: string, readonly delayMs: number) { super(meta, root) }
  override async writePiece (index: number, data: Buffer): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs))
    await super.writePiece(index, data)
  }
}

t.test('a slow disk and a fast seeder: bytes held between socket and disk stay bounded for the whole download', async (t) => {
  const PIECE = 1024 * 1024
  const { dir, data, torrentPath } = await singleFileTorrent(t, 'compose-slow', 48 * PIECE + 777, 78, PIECE)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)
  const meta = parseMetainfo(await readFile(torrentPath))
  const store = new SlowStore(meta, join(dir, 'out'), 60) // ≈ 16 MiB/s, against a seeder at hundreds
  await store.open()
  const { done, ledger, scheduler, verifier } = await compose(meta, store, seeder.port)
  // The stated bound: the held-pieces budget (assembling, hashing, verified and waiting for the disk), plus blocks
  // that arrived but wait in the stream between scheduler and verifier: at most the stream's high-water mark plus
  // what was in flight when it pushed back (maxInFlightBytes), and the verifier's writable buffer.
  const bound = SCHEDULER_DEFAULTS.maxHeldBytes + SCHEDULER_DEFAULTS.maxInFlightBytes + 2 * SCHEDULER_DEFAULTS.readableHighWaterMark * BLOCK_LENGTH
  let worst = 0
  let samples = 0
  const baseline = process.memoryUsage().arrayBuffers
  let worstBuffers = 0
  const timer = setInterval(() => {
    const held = ledger.heldPieces * PIECE + scheduler.readableLength * BLOCK_LENGTH + verifier.writableLength * BLOCK_LENGTH
    worst = Math.max(worst, held)
    worstBuffers = Math.max(worstBuffers, process.memoryUsage().arrayBuffers - baseline)
    samples++
  }, 5)
  const err = await Promise.race([done, new Promise<Error>((resolve) => setTimeout(() => resolve(new Error('not done in 60 s')), 60_000).unref())])
  clearInterval(timer)
  await store.close()
  t.error(err)
  t.ok(samples > 100, `sampled continuously (${samples} samples)`)
  t.ok(worst <= bound, `held at most ${(worst / 2 ** 20).toFixed(1)} MiB, bound ${(bound / 2 ** 20).toFixed(1)} MiB`)
  t.ok(worst >= SCHEDULER_DEFAULTS.maxHeldBytes / 2, 'the budget was reached (the disk really was the bottleneck)')
  t.ok(worstBuffers < 40 * 2 ** 20, `array buffers grew by at most ${(worstBuffers / 2 ** 20).toFixed(1)} MiB for a 48 MiB download`)
  t.ok((await readFile(join(dir, 'out', 'data.bin'))).equals(data), 'byte-identical')
})
