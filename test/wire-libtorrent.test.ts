import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pump from 'pump'
import { ZentorrentError } from '../lib/errors.js'
import { parseMetainfo, pieceHash, type Metainfo } from '../lib/metainfo.js'
import { BitField, connect, generatePeerId, Wire, type WireEvents } from '../lib/wire/index.js'
import { makeTorrentWithLibtorrent, startLibtorrentLeecher, startLibtorrentSeeder } from './helpers/libtorrent.js'

const PIECE_LENGTH = 65536
const SIZE = 5 * PIECE_LENGTH - 27_680 // five pieces, the last one short
const BLOCK = 16384

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out after ${ms} ms: ${what}`)) }, ms)
  })
  return await Promise.race([p, timeout]).finally(() => { clearTimeout(timer) })
}

async function until (wire: Wire, events: Array<keyof WireEvents>, cond: () => boolean): Promise<void> {
  while (!cond()) {
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        for (const e of events) wire.off(e, done)
        wire.off('close', closed)
        resolve()
      }
      const closed = (): void => { reject(new Error('wire closed')) }
      for (const e of events) wire.once(e, done)
      wire.once('close', closed)
    })
  }
}

/** Deterministic data, a torrent of it made by libtorrent, and its parsed metainfo. */
async function fixture (t: Test): Promise<{ dir: string, data: Buffer, torrentPath: string, meta: Metainfo }> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-wire-lt-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await mkdir(join(dir, 'seed'))
  const data = Buffer.alloc(SIZE)
  let x = 0x12345678
  for (let i = 0; i < SIZE; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; data[i] = x >>> 24 }
  await writeFile(join(dir, 'seed', 'zt-wire.bin'), data)
  const torrentPath = join(dir, 'zt-wire.torrent')
  const { infoHash } = await makeTorrentWithLibtorrent({ dataPath: join(dir, 'seed', 'zt-wire.bin'), torrentPath, pieceLength: PIECE_LENGTH })
  const meta = parseMetainfo(await readFile(torrentPath))
  t.same(meta.infoHash, infoHash, 'our info hash agrees with libtorrent')
  t.equal(meta.pieceCount, 5)
  return { dir, data, torrentPath, meta }
}

t.test('initiator: download and verify pieces from a libtorrent seeder', async t => {
  const { dir, torrentPath, meta } = await fixture(t)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: join(dir, 'seed'), port: 0 })
  t.teardown(seeder.stop)

  const wire = await withTimeout(connect('127.0.0.1', seeder.port, {
    peerId: generatePeerId(),
    infoHash: meta.infoHash,
    pieceCount: meta.pieceCount,
    pieceLength: meta.pieceLength,
    lastPieceLength: meta.lastPieceLength
  }, { connectTimeout: 5000 }), 10_000, 'connect and handshake')
  t.teardown(() => { wire.destroy() })
  t.ok(wire.supportsFast, 'libtorrent speaks BEP 6')
  t.ok(wire.supportsExtended, 'libtorrent speaks BEP 10')
  t.equal(wire.peerId?.subarray(0, 3).toString('latin1'), '-LT', 'an Azureus-style libtorrent peer id')

  wire.extendedHandshake({ m: {} })
  await withTimeout(until(wire, ['have-all', 'bitfield', 'have'], () => wire.peerPieces.hasAll()), 10_000, 'bitfield or have-all')
  t.ok(wire.peerPieces.hasAll(), 'the seeder has every piece')
  wire.interested()
  await withTimeout(until(wire, ['unchoke'], () => !wire.peerChoking), 10_000, 'unchoke')

  for (const index of [1, meta.pieceCount - 1]) {
    const size = index === meta.pieceCount - 1 ? meta.lastPieceLength : meta.pieceLength
    const piece = Buffer.alloc(size)
    let missing = 0
    const got = new Promise<void>((resolve, reject) => {
      const onPiece = (i: number, offset: number, block: Buffer): void => {
        if (i !== index) return
        block.copy(piece, offset)
        if (--missing === 0) { wire.off('piece', onPiece); resolve() }
      }
      wire.on('piece', onPiece)
      wire.once('reject', (i: number, offset: number) => { reject(new Error(`libtorrent rejected ${i}:${offset}`)) })
    })
    for (let offset = 0; offset < size; offset += BLOCK) {
      missing++
      wire.request(index, offset, Math.min(BLOCK, size - offset))
    }
    await withTimeout(got, 15_000, `piece ${index}`)
    t.same(createHash('sha1').update(piece).digest(), pieceHash(meta, index), `piece ${index} matches its SHA1 in the torrent`)
  }
  t.equal(wire.downloaded, meta.pieceLength + meta.lastPieceLength)
  t.equal(wire.requests.count, 0)
  t.equal(wire.unrequestedPieces, 0)
})

t.test('initiator: a wrong info hash is refused by libtorrent', async t => {
  const { dir, torrentPath, meta } = await fixture(t)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: join(dir, 'seed') })
  t.teardown(seeder.stop)
  await t.rejects(withTimeout(connect('127.0.0.1', seeder.port, {
    peerId: generatePeerId(), infoHash: Buffer.alloc(20, 1), pieceCount: meta.pieceCount, pieceLength: meta.pieceLength
  }), 10_000, 'refusal'))
})

t.test('responder: a libtorrent leech connects to us and downloads the whole torrent', async t => {
  const { dir, data, torrentPath, meta } = await fixture(t)
  const leechDir = join(dir, 'leech')
  await mkdir(leechDir)
  const leech = await startLibtorrentLeecher({ torrentPath, dataDir: leechDir })
  t.teardown(leech.stop)

  const wires: Wire[] = []
  const seen: { handshake?: Buffer, interested: boolean, requests: number } = { interested: false, requests: 0 }
  const server = net.createServer((socket) => {
    const wire = new Wire({ peerId: generatePeerId() })
    wires.push(wire)
    pump(socket, wire, socket)
    wire.on('handshake', (hs) => {
      seen.handshake = hs.infoHash
      if (!hs.infoHash.equals(meta.infoHash)) {
        wire.destroy(new ZentorrentError('UNKNOWN_INFO_HASH', `no torrent ${hs.infoHash.toString('hex')} here`))
        return
      }
      wire.accept({ infoHash: meta.infoHash, pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength })
      if (wire.supportsFast) wire.haveAll()
      else wire.bitfield(BitField.full(meta.pieceCount))
    })
    wire.on('interested', () => { seen.interested = true; wire.unchoke() })
    wire.on('request', (index, offset, length) => {
      seen.requests++
      const start = index * meta.pieceLength + offset
      wire.piece(index, offset, data.subarray(start, start + length))
    })
  })
  t.teardown(() => {
    for (const w of wires) w.destroy()
    server.close()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no server address')
  leech.connect('127.0.0.1', address.port)

  await withTimeout(leech.finished, 20_000, `libtorrent to finish; its log:\n${leech.log()}`)
  t.same(seen.handshake, meta.infoHash, 'libtorrent asked for our torrent')
  t.ok(seen.interested, 'libtorrent was interested')
  t.ok(seen.requests >= Math.ceil(SIZE / BLOCK), `every block requested (${seen.requests} requests)`)
  t.same(await readFile(join(leechDir, 'zt-wire.bin')), data, 'libtorrent verified and stored every byte we served')
  t.equal(wires.reduce((sum, w) => sum + w.uploaded, 0), SIZE, `every byte uploaded once (over ${wires.length} connections)`)
})
