import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { encodeMetadataMessage, metadataPieceCount } from '../lib/metadata/codec.js'
import { MetadataExchange } from '../lib/metadata/exchange.js'
import { UtMetadata } from '../lib/metadata/extension.js'
import type { Metainfo } from '../lib/metainfo.js'
import { composeExtendedHandshake, LOCAL_EXTENSION_IDS } from '../lib/wire/extensions.js'
import { Wire } from '../lib/wire/wire.js'
import { encode, infoFor } from './helpers/torrent-fixtures.js'

const INFO = encode(infoFor('shared', [{ path: ['a.bin'], length: 16384 * 1800 }, { path: ['b.txt'], length: 3 }]))
const HASH = createHash('sha1').update(INFO).digest()
const ID_A = Buffer.from('-ZT0100-aaaaaaaaaaaa', 'latin1')
const ID_B = Buffer.from('-ZT0100-bbbbbbbbbbbb', 'latin1')

/** Re-cut every chunk into pieces of the sizes `next()` gives (1 = byte by byte). */
function rechunk (next: () => number): Transform {
  return new Transform({
    transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      for (let at = 0; at < chunk.length;) {
        const n = Math.max(1, next())
        this.push(chunk.subarray(at, at + n))
        at += n
      }
      cb()
    }
  })
}

const CHUNKINGS: Array<[string, () => () => number]> = [
  ['whole', () => () => 1 << 30],
  ['one byte at a time', () => () => 1],
  ['odd chunks', () => { let i = 0; const sizes = [7, 1, 13, 4093, 2, 16411]; return () => sizes[i++ % sizes.length] as number }]
]

interface Side { wire: Wire, exchange: MetadataExchange, peer: Promise<UtMetadata> }

/**
 * Two Wires back to back through re-chunking pipes; each side sends one composed extended handshake once the
 * BitTorrent handshake is done and attaches its exchange, as a session does.
 */
function connectPair (t: Test, a: MetadataExchange, b: MetadataExchange, chunking: () => () => number = () => () => 1 << 30): { a: Side, b: Side } {
  const wa = new Wire({ peerId: ID_A, infoHash: HASH })
  const wb = new Wire({ peerId: ID_B })
  wa.pipe(rechunk(chunking())).pipe(wb).pipe(rechunk(chunking())).pipe(wa)
  t.teardown(() => { wa.destroy(); wb.destroy(); a.destroy(); b.destroy() })
  const start = (wire: Wire, exchange: MetadataExchange): Promise<UtMetadata> => new Promise((resolve) => {
    wire.once('handshake', (hs) => {
      if (wire === wb) wire.accept({ infoHash: hs.infoHash })
      // Our handshake first, then attach in the same tick: a request must not precede the ids it answers to.
      wire.extendedHandshake(composeExtendedHandshake([exchange.handshakePart(), { m: { ut_pex: LOCAL_EXTENSION_IDS.ut_pex } }]))
      resolve(exchange.attach(wire, wire === wa ? 'B' : 'A'))
    })
  })
  return { a: { wire: wa, exchange: a, peer: start(wa, a) }, b: { wire: wb, exchange: b, peer: start(wb, b) } }
}

/** Resolves once the wire has the peer's extended handshake (at once if it already has). */
async function handshaken (wire: Wire): Promise<void> {
  if (wire.peerExtended !== null) return
  await new Promise<void>((resolve) => { wire.once('extended-handshake', () => { resolve() }) })
}

function metadataOf (exchange: MetadataExchange): Promise<Metainfo> {
  return new Promise((resolve, reject) => {
    exchange.once('metadata', resolve)
    exchange.once('error', reject)
  })
}

t.test('a seeder serves its metadata to a fetching peer over real Wires, however the bytes are cut', async (t) => {
  t.ok(metadataPieceCount(INFO.length) >= 3, 'several metadata pieces')
  for (const [what, chunking] of CHUNKINGS) {
    const seeder = new MetadataExchange({ infoHash: HASH, infoBytes: INFO })
    const leecher = new MetadataExchange({ infoHash: HASH })
    const got = metadataOf(leecher)
    const { a } = connectPair(t, seeder, leecher, chunking)
    const meta = await got
    t.ok(meta.infoBytes.equals(INFO), `${what}: the info dictionary, byte for byte`)
    t.same(meta.infoHash, HASH)
    t.equal(leecher.infoBytes?.length, INFO.length, 'the leecher now holds it')
    t.same(leecher.handshakePart(), { m: { ut_metadata: 2 }, metadata_size: INFO.length }, 'and would advertise it')
    t.equal((await a.peer).served, metadataPieceCount(INFO.length), 'each piece served once')
  }
})

t.test('our handshake: ut_metadata under our id, metadata_size only when we have it', async (t) => {
  const seeder = new MetadataExchange({ infoHash: HASH, infoBytes: INFO })
  const leecher = new MetadataExchange({ infoHash: HASH })
  const { a, b } = connectPair(t, seeder, leecher)
  await a.peer
  await b.peer
  await handshaken(b.wire)
  const dictSeenByB = b.wire.peerExtended
  t.equal(dictSeenByB?.m?.ut_metadata, LOCAL_EXTENSION_IDS.ut_metadata)
  t.equal(dictSeenByB?.m?.ut_pex, LOCAL_EXTENSION_IDS.ut_pex, 'other extensions\' parts are in the same handshake')
  t.equal(dictSeenByB?.metadata_size, INFO.length)
  t.equal(dictSeenByB?.v, 'zentorrent 0.1.0')
})

t.test('a peer without the metadata rejects requests; once it has it, it serves', async (t) => {
  const empty = new MetadataExchange({ infoHash: HASH })
  const asker = new MetadataExchange({ infoHash: HASH })
  const { a, b } = connectPair(t, empty, asker)
  await a.peer
  const askerPeer = await b.peer // the asker's side of the connection, talking to `empty`
  await handshaken(b.wire)
  t.equal(askerPeer.metadataSize, undefined, 'no metadata_size advertised')
  t.notOk(askerPeer.wire.peerExtended?.metadata_size, 'so the asker\'s fetcher never asks')
  const rejected = new Promise<number>((resolve) => { askerPeer.once('reject', resolve) })
  askerPeer.request(0)
  t.equal(await rejected, 0, 'reject for a piece we lack')

  const meta = empty.setMetadata(INFO)
  t.equal(meta.name, 'shared')
  t.equal(empty.fetcher, null, 'its fetch stopped')
  const data = new Promise<[number, number, Buffer]>((resolve) => { askerPeer.once('data', (...args) => { resolve(args) }) })
  askerPeer.request(1)
  const [piece, total, bytes] = await data
  t.equal(piece, 1)
  t.equal(total, INFO.length)
  t.ok(bytes.equals(INFO.subarray(16384, 32768)), 'piece 1 served after the metadata arrived')
  t.throws(() => empty.setMetadata(Buffer.from('d4:name1:xe')), { code: 'METADATA_MISMATCH' })
})

t.test('requests beyond the metadata, or beyond the per-connection allowance, are rejected', async (t) => {
  const seeder = new MetadataExchange({ infoHash: HASH, infoBytes: INFO, maxServedPieces: 2 })
  const asker = new MetadataExchange({ infoHash: HASH, infoBytes: INFO })
  const { b } = connectPair(t, seeder, asker)
  const toSeeder = await b.peer
  await handshaken(b.wire)
  const answers: string[] = []
  toSeeder.on('data', (piece) => answers.push(`data ${piece}`))
  toSeeder.on('reject', (piece) => answers.push(`reject ${piece}`))
  for (const piece of [metadataPieceCount(INFO.length), 0, 1, 2]) toSeeder.request(piece)
  while (answers.length < 4) await new Promise((resolve) => setImmediate(resolve))
  t.same(answers, [`reject ${metadataPieceCount(INFO.length)}`, 'data 0', 'data 1', 'reject 2'])
})

t.test('a message that is not ut_metadata destroys the wire', async (t) => {
  const seeder = new MetadataExchange({ infoHash: HASH, infoBytes: INFO })
  const other = new MetadataExchange({ infoHash: HASH, infoBytes: INFO })
  const { a, b } = connectPair(t, seeder, other)
  await a.peer
  await b.peer
  await handshaken(b.wire)
  const closed = new Promise<Error | undefined>((resolve) => {
    a.wire.once('error', resolve)
  })
  b.wire.extended(LOCAL_EXTENSION_IDS.ut_metadata, Buffer.from('not bencode'))
  const err = await closed
  t.equal((err as { code?: string } | undefined)?.code, 'BAD_METADATA_MESSAGE')
  t.ok(a.wire.destroyed)
  // a well-formed message of an unknown msg_type is ignored instead
  t.same(encodeMetadataMessage({ type: 'request', piece: 0 }).toString(), 'd8:msg_typei0e5:piecei0ee')
})

t.test('over real Wires: a liar serving other bytes next to an honest seeder — the fetch completes, the liar is dropped', async (t) => {
  const wrong = Buffer.from(INFO.map((b) => b ^ 0x20))
  const leecher = new MetadataExchange({ infoHash: HASH, requestsPerPeer: 1 })
  const got = metadataOf(leecher)
  const dropped: string[] = []
  leecher.on('peer-dropped', (peer, err) => dropped.push(`${peer.label} ${err.code}`))
  const serve = (label: string, bytes: Buffer): Wire => {
    // A seeder side built from the per-wire extension alone, so it can serve bytes that are not the torrent's.
    const seederWire = new Wire({ peerId: ID_A })
    const leecherWire = new Wire({ peerId: ID_B, infoHash: HASH })
    leecherWire.pipe(rechunk(() => 7)).pipe(seederWire).pipe(leecherWire)
    t.teardown(() => { seederWire.destroy(); leecherWire.destroy() })
    seederWire.on('error', () => {})
    seederWire.once('handshake', (hs) => {
      seederWire.accept({ infoHash: hs.infoHash })
      seederWire.extendedHandshake({ m: { ut_metadata: LOCAL_EXTENSION_IDS.ut_metadata }, metadata_size: bytes.length })
      new UtMetadata(seederWire, { infoBytes: () => bytes }, label)
    })
    leecherWire.on('error', () => {})
    leecherWire.once('handshake', () => {
      leecherWire.extendedHandshake(composeExtendedHandshake([leecher.handshakePart()]))
      leecher.attach(leecherWire, label)
    })
    return leecherWire
  }
  const toLiar = serve('liar', wrong)
  const toHonest = serve('honest', INFO)
  const meta = await got
  t.ok(meta.infoBytes.equals(INFO), 'the verified metadata')
  t.same(dropped, ['liar METADATA_MISMATCH'], 'the liar, and only it, is dropped')
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(toLiar.destroyed, 'its connection is closed')
  t.notOk(toHonest.destroyed, 'the honest one stays')
})
