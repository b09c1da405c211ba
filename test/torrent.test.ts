/**
 * Torrents on loopback, zentorrent to zentorrent: what one peer tells the others, and how two peers that find
 * each other at once end up connected.
 */
import t, { type Test } from 'tap'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { allowedFastSet } from '../lib/wire/allowed-fast.js'
import { createTorrent, parseMetainfo, startTorrent, connect, generatePeerId, type RunningTorrent, type Metainfo } from '../lib/index.js'
import { seededBytes } from './helpers/create-fixtures.js'

const local = { host: '127.0.0.1', ports: [0] }

async function fixture (t: Test, length: number): Promise<{ dir: string, meta: Metainfo }> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-torrent-'))
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
  if (!torrent.torrent.done) await new Promise<void>((resolve) => torrent.torrent.once('done', () => resolve()))
}

t.test('a peer that completes announces every piece it got, the last one included', async (t) => {
  const { dir, meta } = await fixture(t, 40 * 32 * 1024 + 100)
  const seeder = await startTorrent(meta, { dht: false, output: join(dir, 'seed'), seed: true, listen: local, trackers: false })
  t.teardown(seeder.stop)
  const leecher = await startTorrent(meta, { dht: false, output: join(dir, 'leech'), seed: true, listen: local, trackers: false })
  t.teardown(leecher.stop)
  // an observer that holds nothing, connected to the leecher before it downloads anything
  const observer = await connect('127.0.0.1', leecher.port, {
    peerId: generatePeerId(), infoHash: meta.infoHash, pieceCount: meta.pieceCount,
    pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength
  })
  t.teardown(() => { observer.destroy() })
  observer.resume() // nobody reads what the observer would send; keep its stream flowing
  leecher.torrent.addPeer({ host: '127.0.0.1', port: seeder.port })
  await done(leecher)
  await until('the observer to hear of every piece', () => observer.peerPieces.hasAll())
  t.ok(observer.peerPieces.hasAll(), `the observer saw ${observer.peerPieces.count()} of ${meta.pieceCount} pieces announced`)
})

t.test('two peers that dial each other at once keep one connection, the same one on both sides', async (t) => {
  const { dir, meta } = await fixture(t, 24 * 32 * 1024)
  for (let round = 0; round < 5; round++) {
    const seeder = await startTorrent(meta, { dht: false, output: join(dir, 'seed'), seed: true, listen: local, trackers: false })
    const leecher = await startTorrent(meta, { dht: false, output: join(dir, `leech-${round}`), seed: true, listen: local, trackers: false })
    try {
      seeder.torrent.addPeer({ host: '127.0.0.1', port: leecher.port })
      leecher.torrent.addPeer({ host: '127.0.0.1', port: seeder.port })
      await Promise.race([done(leecher), until('the download', () => false, 15_000)])
      await new Promise((resolve) => setTimeout(resolve, 100))
      t.equal(leecher.torrent.stats().peersConnected, 1, `round ${round}: the leecher has one connection`)
      t.equal(seeder.torrent.stats().peersConnected, 1, `round ${round}: the seeder has one connection`)
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
    dht: false, output: join(dir, 'seed'), seed: true, listen: local, trackers: false, uploader: { choker: { regularSlots: 0 } }
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

// ---- the library surface: file streams, selection, events, destroy ----------------------------------------------

import { libtorrentTree } from './helpers/libtorrent-tree.js'

async function readAll (stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

t.test('files[i].createReadStream against a libtorrent seeder: random ranges of every file, an unselected one too', async (t) => {
  const { seeded, meta, port } = await libtorrentTree(t)
  const { readFile: read } = await import('node:fs/promises')
  const { seededRandom } = await import('./helpers/create-fixtures.js')
  const out = await mkdtemp(join(tmpdir(), 'zt-torrent-out-'))
  t.teardown(async () => await rm(out, { recursive: true, force: true }))
  const selected = meta.files.findIndex((f) => f.path.at(-1) === 'a.bin')
  // only a.bin is selected: every other file is read through the stream alone
  const running = await startTorrent(meta, { dht: false, output: out, listen: false, trackers: false, select: [selected], peers: [{ host: '127.0.0.1', port }] })
  t.teardown(running.stop)
  const torrent = running.torrent
  const random = seededRandom(9)
  const ranges: Array<{ file: number, start: number, end: number }> = []
  for (let file = 0; file < meta.files.length; file++) {
    const length = meta.files[file]!.length
    ranges.push({ file, start: 0, end: length - 1 }) // whole file
    for (let k = 0; k < 4; k++) {
      const start = Math.floor(random() * length)
      ranges.push({ file, start, end: Math.min(length - 1, start + Math.floor(random() * 100_000)) }) // across pieces and files
    }
  }
  // two readers at once on each of a few ranges
  const results = await Promise.all(ranges.map(async (r) => await readAll(torrent.files[r.file]!.createReadStream({ start: r.start, end: r.end }))))
  for (let k = 0; k < ranges.length; k++) {
    const r = ranges[k]!
    const want = (await read(join(seeded, ...meta.files[r.file]!.path))).subarray(r.start, r.end + 1)
    t.ok(results[k]!.equals(want), `${meta.files[r.file]!.path.join('/')} [${r.start}, ${r.end}] byte-identical`)
  }
  t.ok(torrent.files[selected]!.selected, 'the selected file')
  t.notOk(torrent.files.find((f) => f.name === 'e.bin')!.selected, 'and one that is not, read all the same')
})

t.test('select() and deselect() while running: a file chosen later is downloaded, its bytes in place', async (t) => {
  const { seeded, meta, port } = await libtorrentTree(t)
  const { readFile: read } = await import('node:fs/promises')
  const out = await mkdtemp(join(tmpdir(), 'zt-torrent-out-'))
  t.teardown(async () => await rm(out, { recursive: true, force: true }))
  const a = meta.files.findIndex((f) => f.path.at(-1) === 'a.bin')
  const d = meta.files.findIndex((f) => f.path.at(-1) === 'd.bin')
  const h = meta.files.findIndex((f) => f.path.at(-1) === 'h.bin')
  const running = await startTorrent(meta, { dht: false, output: out, listen: false, trackers: false, select: [a], peers: [{ host: '127.0.0.1', port }] })
  t.teardown(running.stop)
  const torrent = running.torrent
  const written: number[] = []
  torrent.on('piece-written', (index) => { written.push(index) })
  await done(running)
  t.ok(torrent.done, 'a.bin first')
  torrent.files[d]!.select()
  torrent.files[h]!.select()
  torrent.files[h]!.deselect()
  t.notOk(torrent.done, 'more is wanted now')
  await done(running)
  for (const index of [a, d]) {
    t.ok((await read(join(out, ...meta.files[index]!.path))).equals(await read(join(seeded, ...meta.files[index]!.path))), `${meta.files[index]!.path.join('/')} complete and in place`)
  }
  t.ok(torrent.files[h]!.downloaded < meta.files[h]!.length, 'the file deselected again was not downloaded whole')
  t.ok(written.length > 0, 'typed events: piece-written carried piece indexes')
})

t.test('destroy() mid-download stops everything and closes the files', async (t) => {
  const { meta, port } = await libtorrentTree(t)
  const out = await mkdtemp(join(tmpdir(), 'zt-torrent-out-'))
  t.teardown(async () => await rm(out, { recursive: true, force: true }))
  const running = await startTorrent(meta, { dht: false, output: out, listen: false, trackers: false, peers: [{ host: '127.0.0.1', port }], scheduler: { downloadLimit: (await import('../lib/rate-limit.js')).createTokenBucket({ rate: 100_000 }) } })
  await until('a first piece', () => running.torrent.stats().piecesHave > 0)
  const reader = running.torrent.files[0]!.createReadStream()
  reader.on('error', () => {})
  await running.stop()
  t.equal(running.torrent.stats().peersConnected, 0, 'no peer left')
  await running.stop() // twice is harmless
  t.pass('stopped')
})

t.test('a torrent started from its info hash alone fetches the metadata from a libtorrent seeder and downloads in the same run', async (t) => {
  const { seeded, meta, port } = await libtorrentTree(t)
  const { readFile: read } = await import('node:fs/promises')
  const { resolveTorrentInput } = await import('../lib/torrent-input.js')
  const out = await mkdtemp(join(tmpdir(), 'zt-torrent-magnet-'))
  t.teardown(async () => await rm(out, { recursive: true, force: true }))
  const input = await resolveTorrentInput(`magnet:?xt=urn:btih:${meta.infoHashHex}&dn=tree&x.pe=127.0.0.1:${port}`)
  t.equal(input.kind, 'magnet')
  const running = await startTorrent(input, { dht: false, output: out, listen: false, trackers: false })
  t.teardown(running.stop)
  const torrent = running.torrent
  t.notOk(torrent.hasMetadata, 'no metadata yet')
  t.equal(torrent.name, 'tree', 'the magnet\'s name meanwhile')
  t.same(torrent.files, [])
  const got = await new Promise<typeof meta>((resolve) => torrent.once('metadata', resolve))
  t.ok(got.infoBytes.equals(meta.infoBytes), 'the info dictionary, byte for byte')
  t.equal(torrent.files.length, meta.files.length, 'files known')
  await done(running)
  for (const file of meta.files) {
    t.ok((await read(join(out, ...file.path))).equals(await read(join(seeded, ...file.path))), `${file.path.join('/')} identical`)
  }
})

t.test('a private torrent (BEP 27) uses its trackers only: no DHT, no PEX in its handshakes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zt-torrent-private-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'seed'))
  await writeFile(join(dir, 'seed', 'p.bin'), seededBytes(100_000, 5))
  const meta = parseMetainfo(await createTorrent(join(dir, 'seed', 'p.bin'), { pieceLength: 32 * 1024, private: true }))
  t.ok(meta.private)
  const seeder = await startTorrent(meta, { output: join(dir, 'seed'), seed: true, listen: local, trackers: false, dht: { bootstrap: ['127.0.0.1:9'] } })
  t.teardown(seeder.stop)
  t.equal(seeder.dht, null, 'no DHT node for a private torrent, though one was configured')
  const wire = await connect('127.0.0.1', seeder.port, { peerId: generatePeerId(), infoHash: meta.infoHash, pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength })
  t.teardown(() => { wire.destroy() })
  wire.resume()
  wire.extendedHandshake({})
  await until('its extended handshake', () => wire.peerExtended !== null)
  t.equal(wire.peerExtended?.m?.ut_pex, undefined, 'ut_pex not offered')
  t.ok((wire.peerExtended?.m?.ut_metadata ?? 0) > 0, 'ut_metadata still is')
})

t.test('a torrent with pieces to fetch starts its piece worker at once, before any peer sends a block', async (t) => {
  const { dir, meta } = await fixture(t, 8 * 32 * 1024)
  const { PieceWorker } = await import('../lib/piece-worker.js')
  const worker = new PieceWorker()
  t.teardown(async () => await worker.close())
  const leecher = await startTorrent(meta, { dht: false, output: join(dir, 'leech'), listen: local, trackers: false, worker })
  t.teardown(leecher.stop)
  await until('the pipeline to start', () => worker.started)
  t.equal(worker.answered, 0, 'started with no job yet: warmed, not woken by a piece')
})
