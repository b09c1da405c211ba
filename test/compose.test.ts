/**
 * The README's "composing the stages yourself" example, run as written (imports from the package entry point)
 * against a real libtorrent seeder on loopback.
 */
import t from 'tap'
import pump from 'pump'
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseMetainfo, Picker, Scheduler, Verifier, Storage, Sink, connect, generatePeerId } from '../lib/index.js'
import { makeTorrentWithLibtorrent, startLibtorrentSeeder } from './helpers/libtorrent.js'
import { seededBytes } from './helpers/create-fixtures.js'

t.test('the stages composed by hand with pump download a torrent from libtorrent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zt-compose-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const data = seededBytes(3 * 1024 * 1024 + 12345, 77)
  const dataPath = join(dir, 'compose.bin')
  await writeFile(dataPath, data)
  const torrentPath = join(dir, 'compose.torrent')
  await makeTorrentWithLibtorrent({ dataPath, torrentPath, pieceLength: 64 * 1024 })
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)

  const meta = parseMetainfo(await readFile(torrentPath))
  const out = join(dir, 'out')
  const picker = new Picker(meta)
  const verifier = new Verifier(meta)
  const scheduler = new Scheduler(picker, { downstreamBytes: () => verifier.bufferedBytes })
  const storage = new Storage(meta, out)
  await storage.prepare()
  let verified = 0
  verifier.on('piece-verified', (index) => { verified++; scheduler.pieceVerified(index) })
  verifier.on('piece-invalid', ({ index, peers }) => scheduler.pieceInvalid(index, peers))

  const wire = await connect('127.0.0.1', seeder.port, {
    peerId: generatePeerId(),
    infoHash: meta.infoHash,
    pieceCount: meta.pieceCount,
    pieceLength: meta.pieceLength,
    lastPieceLength: meta.lastPieceLength
  })
  scheduler.addPeer(`127.0.0.1:${seeder.port}`, wire)

  const err = await new Promise<Error | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(new Error('composition did not finish in 30 s')), 30_000)
    pump(scheduler, verifier, new Sink(storage), (e) => { clearTimeout(timer); resolve(e ?? undefined) })
  })
  wire.destroy()
  await storage.close()
  t.error(err, 'the pipeline ends without error')
  t.equal(verified, meta.pieceCount, 'every piece passed its hash check')
  t.ok((await readFile(join(out, 'compose.bin'))).equals(data), 'the file is byte for byte the original')
})
