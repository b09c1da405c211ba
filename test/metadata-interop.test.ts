/**
 * BEP 9 against real clients on loopback: our fetcher, on a raw Wire that knows only the info hash, gets the
 * metadata from a libtorrent seeder and from an aria2 seeder; a libtorrent leecher given only a magnet link with
 * `x.pe=` naming us gets the metadata from our serving side, then the whole torrent.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import pump from 'pump'
import { ZentorrentError } from '../lib/errors.js'
import { formatMagnet } from '../lib/magnet.js'
import { metadataPieceCount } from '../lib/metadata/codec.js'
import { MetadataExchange } from '../lib/metadata/exchange.js'
import { parseMetainfo, type Metainfo } from '../lib/metainfo.js'
import { composeExtendedHandshake } from '../lib/wire/extensions.js'
import { BitField, connect, generatePeerId, Wire } from '../lib/wire/index.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { makeTorrentWithLibtorrent, startLibtorrentSeeder } from './helpers/libtorrent.js'
import { aria2Leech } from './helpers/leechers.js'
import { startAria2Seeder } from './helpers/seeders.js'
import { HttpTracker } from '../lib/tracker/http.js'
import { startTracker } from '../lib/tracker/server.js'
import { tempDir } from './helpers/temp.js'

const PIECE_LENGTH = 16384
/** 900 pieces: an info dictionary of ~18 KB, two ut_metadata pieces (the second short). */
const SIZE = 900 * PIECE_LENGTH - 1000
const LEECHER = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'magnet-leecher.py')

async function withTimeout<T> (p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms: ${what()}`)) }, ms)
  })
  return await Promise.race([p, timeout]).finally(() => { clearTimeout(timer) })
}

interface Fixture { dir: string, data: Buffer, torrentPath: string, meta: Metainfo }

async function fixture (t: Test): Promise<Fixture> {
  const dir = await tempDir(t, 'metadata-interop')
  await mkdir(join(dir, 'seed'))
  const data = seededBytes(SIZE, 99)
  await writeFile(join(dir, 'seed', 'zt-magnet.bin'), data)
  const torrentPath = join(dir, 'zt-magnet.torrent')
  await makeTorrentWithLibtorrent({ dataPath: join(dir, 'seed', 'zt-magnet.bin'), torrentPath, pieceLength: PIECE_LENGTH })
  const meta = parseMetainfo(await readFile(torrentPath))
  t.equal(metadataPieceCount(meta.infoBytes.length), 2, `the info dictionary (${meta.infoBytes.length} bytes) is two ut_metadata pieces`)
  return { dir, data, torrentPath, meta }
}

/** Dial a seeder knowing only the info hash, fetch its metadata with our fetcher. */
async function fetchFrom (t: Test, port: number, meta: Metainfo): Promise<{ fetched: Metainfo, wire: Wire }> {
  const exchange = new MetadataExchange({ infoHash: meta.infoHash, requestTimeout: 5000 })
  t.teardown(() => { exchange.destroy() })
  const fetched = new Promise<Metainfo>((resolve, reject) => {
    exchange.once('metadata', resolve)
    exchange.once('error', reject)
    exchange.on('peer-dropped', (_peer, err) => { reject(err) })
    exchange.on('peer-refused', (_peer, err) => { reject(err) })
    exchange.on('peer-given-up', (_peer, reason) => { reject(new Error(`given up: ${reason}`)) })
  })
  const wire = await connect('127.0.0.1', port, { peerId: generatePeerId(), infoHash: meta.infoHash }, { connectTimeout: 5000 })
  t.teardown(() => { wire.destroy() })
  t.ok(wire.supportsExtended, 'the peer speaks BEP 10')
  wire.extendedHandshake(composeExtendedHandshake([exchange.handshakePart()]))
  exchange.attach(wire, `127.0.0.1:${port}`)
  return { fetched: await withTimeout(fetched, 20_000, () => JSON.stringify(exchange.stats())), wire }
}

t.test('our fetcher gets the metadata from a libtorrent seeder', async (t) => {
  const { dir, torrentPath, meta } = await fixture(t)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: join(dir, 'seed') })
  t.teardown(seeder.stop)
  const { fetched, wire } = await fetchFrom(t, seeder.port, meta)
  t.ok(fetched.infoBytes.equals(meta.infoBytes), 'the info dictionary equals the .torrent\'s, byte for byte')
  t.same(fetched.infoHash, meta.infoHash)
  t.equal(fetched.pieceCount, meta.pieceCount)
  t.equal(wire.peerExtended?.metadata_size, meta.infoBytes.length, 'libtorrent advertised metadata_size')
  t.ok(wire.peerHasAll || wire.peerPieces.length > 0, 'its have-all or bitfield was taken before the piece count was known')
})

t.test('our fetcher gets the metadata from an aria2 seeder', async (t) => {
  const { dir, torrentPath, meta } = await fixture(t)
  const seeder = await startAria2Seeder({ torrentPath, dataDir: join(dir, 'seed') })
  t.teardown(seeder.stop)
  // aria2 checks the data (-V) before it answers the handshake; retry the dial until it does.
  let result: { fetched: Metainfo, wire: Wire } | null = null
  const deadline = Date.now() + 20_000
  while (result === null) {
    try {
      result = await fetchFrom(t, seeder.port, meta)
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  t.ok(result.fetched.infoBytes.equals(meta.infoBytes), 'the info dictionary equals the .torrent\'s, byte for byte')
  t.equal(result.wire.peerExtended?.metadata_size, meta.infoBytes.length, 'aria2 advertised metadata_size')
})

/** A minimal seeder built from Wire + MetadataExchange: serves the metadata and the data it is given. */
async function startResponder (t: Test, meta: Metainfo, data: Buffer): Promise<{ port: number, served: () => number, requests: () => number }> {
  const exchange = new MetadataExchange({ infoHash: meta.infoHash, infoBytes: meta.infoBytes })
  const wires: Wire[] = []
  let metadataRequests = 0
  const server = net.createServer((socket) => {
    const wire = new Wire({ peerId: generatePeerId() })
    wires.push(wire)
    pump(socket, wire, socket)
    wire.on('error', () => {})
    wire.on('handshake', (hs) => {
      if (!hs.infoHash.equals(meta.infoHash)) {
        wire.destroy(new ZentorrentError('UNKNOWN_INFO_HASH', 'not ours'))
        return
      }
      wire.accept({ infoHash: meta.infoHash, pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength })
      wire.extendedHandshake(composeExtendedHandshake([exchange.handshakePart()]))
      const peer = exchange.attach(wire, 'libtorrent')
      wire.on('extended', () => { metadataRequests++ })
      void peer
      if (wire.supportsFast) wire.haveAll()
      else wire.bitfield(BitField.full(meta.pieceCount))
    })
    wire.on('interested', () => { wire.unchoke() })
    wire.on('request', (index, offset, length) => {
      const start = index * meta.pieceLength + offset
      wire.piece(index, offset, data.subarray(start, start + length))
    })
  })
  t.teardown(() => {
    exchange.destroy()
    for (const w of wires) w.destroy()
    server.close()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no server address')
  return { port: address.port, served: () => wires.reduce((n, w) => n + w.uploaded, 0), requests: () => metadataRequests }
}

interface LeecherLine { metadata?: boolean, infoHash?: string, name?: string, info?: string, done?: boolean, timeout?: boolean }

/** libtorrent from a magnet link only; resolves with its JSON lines when it exits. */
async function libtorrentMagnetLeech (t: Test, magnet: string, save: string, download: boolean): Promise<{ code: number | null, lines: LeecherLine[], stderr: string }> {
  const child = spawn('/usr/bin/python3', [LEECHER, magnet, save, '30', ...(download ? ['--download'] : [])], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const lines: LeecherLine[] = []
  let stderr = ''
  createInterface({ input: child.stdout }).on('line', (line) => { lines.push(JSON.parse(line) as LeecherLine) })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await withTimeout(new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  }), 40_000, () => `libtorrent leecher: ${stderr}`)
  return { code, lines, stderr }
}

t.test('a libtorrent leecher given only magnet:?xt=…&x.pe=us gets the metadata from us, then the data', async (t) => {
  const { dir, data, meta } = await fixture(t)
  const responder = await startResponder(t, meta, data)
  const save = join(dir, 'leech')
  await mkdir(save)
  const magnet = formatMagnet({ infoHash: meta.infoHash, peers: [{ host: '127.0.0.1', port: responder.port }] })
  t.notMatch(magnet, /dn=|tr=/, `nothing but the hash and our address: ${magnet}`)
  const run = await libtorrentMagnetLeech(t, magnet, save, true)
  t.equal(run.code, 0, `libtorrent finished (${run.stderr}${JSON.stringify(run.lines.map((l) => ({ ...l, info: undefined })))})`)
  const got = run.lines.find((l) => l.metadata === true)
  t.ok(got !== undefined, 'libtorrent received the metadata (metadata_received_alert)')
  t.equal(got?.infoHash, meta.infoHashHex)
  t.equal(got?.name, meta.name)
  t.equal(got?.info, meta.infoBytes.toString('hex'), 'the info section libtorrent holds is ours, byte for byte')
  t.ok(responder.requests() >= metadataPieceCount(meta.infoBytes.length), `it asked for every metadata piece (${responder.requests()} ut_metadata requests)`)
  t.ok(run.lines.some((l) => l.done === true), 'then it downloaded the torrent')
  t.ok((await readFile(join(save, meta.name))).equals(data), 'byte-identical')
  t.equal(responder.served(), SIZE, 'every byte from us')
})

t.test('an aria2 leecher given a magnet link with tr= gets the metadata from us, then the data', async (t) => {
  const { dir, data, meta } = await fixture(t)
  const responder = await startResponder(t, meta, data)
  const tracker = await startTracker()
  t.teardown(async () => { await tracker.close() })
  // Our responder announces itself; aria2 (no DHT, no PEX) can find it only there.
  await new HttpTracker(tracker.url).announce({
    infoHash: meta.infoHash, peerId: generatePeerId(), port: responder.port, uploaded: 0, downloaded: 0, left: 0, event: 'started'
  })
  const save = join(dir, 'aria2')
  await mkdir(save)
  const magnet = formatMagnet({ infoHash: meta.infoHash, trackers: [[tracker.url]] })
  const run = await aria2Leech(t, magnet, save, 30_000)
  t.equal(run.code, 0, `aria2c finished: ${run.stdout.slice(-2000)} ${run.stderr.slice(-2000)}`)
  t.ok(responder.requests() >= metadataPieceCount(meta.infoBytes.length), `aria2 asked us for every metadata piece (${responder.requests()} ut_metadata requests)`)
  const got = await readFile(join(save, meta.name)).catch(() => null)
  t.ok(got?.equals(data) === true, 'byte-identical')
})
