/**
 * Sessions on loopback, zentorrent to zentorrent: what one peer tells the others, and how two peers that find
 * each other at once end up connected.
 */
import t, { type Test } from 'tap'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { allowedFastSet, createTorrent, parseMetainfo, startTorrent, connect, generatePeerId, type RunningTorrent, type Metainfo } from '../lib/index.js'
import { seededBytes } from './helpers/create-fixtures.js'

const local = { host: '127.0.0.1', ports: [0] }

async function fixture (t: Test, length: number): Promise<{ dir: string, meta: Metainfo }> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-session-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'seed'))
  await writeFile(join(dir, 'seed', 'data.bin'), seededBytes(length, 11))
  const meta = parseMetainfo(await createTorrent(join(dir, 'seed', 'data.bin'), { pieceLength: 32 * 1024 }))
  return { dir, meta }
}

async function until (what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function done (torrent: RunningTorrent): Promise<void> {
  if (!torrent.session.done) await new Promise<void>((resolve) => torrent.session.once('done', () => resolve()))
}

t.test('a peer that completes announces every piece it got, the last one included', async (t) => {
  const { dir, meta } = await fixture(t, 40 * 32 * 1024 + 100)
  const seeder = await startTorrent(meta, { output: join(dir, 'seed'), seed: true, listen: local, trackers: false })
  t.teardown(seeder.stop)
  const leecher = await startTorrent(meta, { output: join(dir, 'leech'), seed: true, listen: local, trackers: false })
  t.teardown(leecher.stop)
  // an observer that holds nothing, connected to the leecher before it downloads anything
  const observer = await connect('127.0.0.1', leecher.port, {
    peerId: generatePeerId(), infoHash: meta.infoHash, pieceCount: meta.pieceCount,
    pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength
  })
  t.teardown(() => { observer.destroy() })
  observer.resume() // nobody reads what the observer would send; keep its stream flowing
  leecher.session.addPeer({ host: '127.0.0.1', port: seeder.port })
  await done(leecher)
  await until('the observer to hear of every piece', () => observer.peerPieces.hasAll())
  t.ok(observer.peerPieces.hasAll(), `the observer saw ${observer.peerPieces.count()} of ${meta.pieceCount} pieces announced`)
})

t.test('two peers that dial each other at once keep one connection, the same one on both sides', async (t) => {
  const { dir, meta } = await fixture(t, 24 * 32 * 1024)
  for (let round = 0; round < 5; round++) {
    const seeder = await startTorrent(meta, { output: join(dir, 'seed'), seed: true, listen: local, trackers: false })
    const leecher = await startTorrent(meta, { output: join(dir, `leech-${round}`), seed: true, listen: local, trackers: false })
    try {
      seeder.session.addPeer({ host: '127.0.0.1', port: leecher.port })
      leecher.session.addPeer({ host: '127.0.0.1', port: seeder.port })
      await Promise.race([done(leecher), until('the download', () => false, 15_000)])
      await new Promise((resolve) => setTimeout(resolve, 100))
      t.equal(leecher.session.stats().peersConnected, 1, `round ${round}: the leecher has one connection`)
      t.equal(seeder.session.stats().peersConnected, 1, `round ${round}: the seeder has one connection`)
    } finally {
      await leecher.stop()
      await seeder.stop()
    }
  }
})

t.test('a newcomer gets the BEP 6 allowed-fast set and can fetch those pieces while choked, and only those', async (t) => {
  const { dir, meta } = await fixture(t, 64 * 32 * 1024)
  // one regular slot taken by nobody: rechoke would unchoke our observer, so keep every slot closed
  const seeder = await startTorrent(meta, {
    output: join(dir, 'seed'), seed: true, listen: local, trackers: false, uploader: { choker: { regularSlots: 0 } }
  })
  t.teardown(seeder.stop)
  const observer = await connect('127.0.0.1', seeder.port, {
    peerId: generatePeerId(), infoHash: meta.infoHash, pieceCount: meta.pieceCount,
    pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength
  })
  t.teardown(() => { observer.destroy() })
  const granted = allowedFastSet('127.0.0.1', meta.infoHash, meta.pieceCount)
  await until('the allowed-fast set', () => observer.peerAllowedFast.size === granted.length)
  t.same([...observer.peerAllowedFast].sort((a, b) => a - b), [...granted].sort((a, b) => a - b), 'the canonical set for 127.0.0.1')
  t.ok(observer.peerChoking, 'still choked')
  const pieces: Array<[number, number]> = []
  const rejected: number[] = []
  observer.on('piece', (index: number, offset: number) => pieces.push([index, offset]))
  observer.on('reject', (index: number) => rejected.push(index))
  const outside = [...Array(meta.pieceCount).keys()].find((i) => !granted.includes(i))!
  observer.request(granted[0]!, 0, 16384)
  observer.request(outside, 0, 16384)
  await until('the answers', () => pieces.length + rejected.length === 2)
  t.same(pieces, [[granted[0]!, 0]], 'an allowed-fast piece is served while choked')
  t.same(rejected, [outside], 'any other piece is rejected')
})
