import t from 'tap'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { ZentorrentError } from '../lib/errors.js'
import { METADATA_PIECE_LENGTH, metadataPieceCount } from '../lib/metadata/codec.js'
import type { MetadataPeer, MetadataPeerEvents } from '../lib/metadata/extension.js'
import { MetadataFetcher, metadataTimeoutError, type MetadataFetcherOptions } from '../lib/metadata/fetcher.js'
import type { Metainfo } from '../lib/metainfo.js'
import { FakeClock } from './helpers/fake-clock.js'
import { encode, infoFor } from './helpers/torrent-fixtures.js'

/** An info dictionary of 4 metadata pieces (the last one short): 2500 piece hashes and a file list. */
const INFO = encode(infoFor('big', [{ path: ['a.bin'], length: 16384 * 2500 }, { path: ['b', 'c.txt'], length: 5 }]))
const HASH = createHash('sha1').update(INFO).digest()
const PIECES = metadataPieceCount(INFO.length)

type Script = (peer: FakePeer, piece: number) => void

/** A scripted peer: answers (or not) each request as its script says, a tick later, like a socket would. */
class FakePeer extends EventEmitter<MetadataPeerEvents> implements MetadataPeer {
  readonly label: string
  supportsMetadata = true
  metadataSize: number | undefined
  connected = true
  readonly requests: number[] = []
  droppedWith: ZentorrentError | null = null
  readonly #script: Script

  constructor (label: string, script: Script, size: number | undefined = INFO.length) {
    super()
    this.label = label
    this.metadataSize = size
    this.#script = script
  }

  request (piece: number): void {
    this.requests.push(piece)
    setImmediate(() => { if (this.connected) this.#script(this, piece) })
  }

  drop (err: ZentorrentError): void {
    this.droppedWith = err
    this.connected = false
    this.emit('close')
  }

  send (piece: number, data: Buffer, totalSize = INFO.length): void {
    this.emit('data', piece, totalSize, data)
  }
}

function slice (bytes: Buffer, piece: number): Buffer {
  return bytes.subarray(piece * METADATA_PIECE_LENGTH, (piece + 1) * METADATA_PIECE_LENGTH)
}

const honest: Script = (peer, piece) => { peer.send(piece, slice(INFO, piece)) }
const WRONG = Buffer.from(INFO.map((b) => b ^ 0x01))
const liar: Script = (peer, piece) => { peer.send(piece, slice(WRONG, piece)) }
const silent: Script = () => {}
const rejecter: Script = (peer, piece) => { peer.emit('reject', piece) }

async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

function fetcher (opts: Partial<MetadataFetcherOptions> = {}): { fetcher: MetadataFetcher, clock: FakeClock, result: () => Metainfo | null, log: string[] } {
  const clock = new FakeClock()
  const f = new MetadataFetcher({ infoHash: HASH, clock, ...opts })
  let meta: Metainfo | null = null
  const log: string[] = []
  f.on('metadata', (m) => { meta = m })
  f.on('peer-dropped', (p, err) => log.push(`dropped ${p.label} ${err.code}`))
  f.on('peer-given-up', (p) => log.push(`given up ${p.label}`))
  f.on('peer-refused', (p, err) => log.push(`refused ${p.label} ${err.code}`))
  f.on('error', (err) => log.push(`error ${err.code}`))
  return { fetcher: f, clock, result: () => meta, log }
}

t.test('one honest peer: every piece asked once, the bytes verified and parsed', async (t) => {
  t.equal(PIECES, 4, 'the fixture has 4 metadata pieces')
  t.ok(INFO.length % METADATA_PIECE_LENGTH !== 0, 'the last one short')
  const { fetcher: f, result, clock } = fetcher()
  const peer = new FakePeer('A', honest)
  f.add(peer)
  await settle()
  const meta = result()
  t.ok(meta !== null, 'metadata delivered')
  t.ok(meta?.infoBytes.equals(INFO) === true, 'the info dictionary, byte for byte')
  t.same(meta?.infoHash, HASH)
  t.equal(meta?.name, 'big')
  t.same([...peer.requests].sort(), [0, 1, 2, 3])
  t.ok(f.done)
  t.equal(clock.pending, 0, 'no timer left')
  t.equal(peer.listenerCount('data'), 0, 'listeners removed')
})

t.test('several honest peers: the pieces are spread over them', async (t) => {
  const { fetcher: f, result } = fetcher({ requestsPerPeer: 1 })
  const peers = ['A', 'B', 'C'].map((l) => new FakePeer(l, honest))
  for (const p of peers) f.add(p)
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
  t.ok(peers.filter((p) => p.requests.length > 0).length >= 3, `every peer was asked (${peers.map((p) => p.requests.length).join(', ')})`)
  for (const p of peers) t.equal(new Set(p.requests).size, p.requests.length, `${p.label} was never asked one piece twice`)
  t.ok(peers.reduce((n, p) => n + p.requests.length, 0) <= PIECES + peers.length - 1, 'duplicates only in the endgame, one per idle peer')
})

t.test('a liar next to an honest peer: completes, the liar is dropped', async (t) => {
  for (const order of [['L', 'H'], ['H', 'L']]) {
    const { fetcher: f, result, log } = fetcher({ requestsPerPeer: 1 })
    const peers = Object.fromEntries(order.map((l) => [l, new FakePeer(l, l === 'L' ? liar : honest)]))
    for (const l of order) f.add(peers[l] as FakePeer)
    await settle()
    t.ok(result()?.infoBytes.equals(INFO) === true, `${order.join(' then ')}: the verified metadata`)
    t.equal(peers.L?.droppedWith?.code, 'METADATA_MISMATCH', 'the liar is dropped')
    t.equal(peers.H?.droppedWith, null, 'the honest peer is not')
    t.ok((peers.L?.requests.length ?? 0) > 0 && (peers.H?.requests.length ?? 0) > 0, 'both were asked at first')
    t.same(log, ['dropped L METADATA_MISMATCH'])
  }
})

t.test('a lone liar is dropped; an honest peer arriving later completes it', async (t) => {
  const { fetcher: f, result, log } = fetcher()
  const l = new FakePeer('L', liar)
  f.add(l)
  await settle()
  t.equal(result(), null)
  t.equal(l.droppedWith?.code, 'METADATA_MISMATCH')
  t.match(l.droppedWith?.message, /not the info hash/)
  t.equal(f.stats().dropped, 1)
  f.add(new FakePeer('H', honest))
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
  t.same(log, ['dropped L METADATA_MISMATCH'])
})

t.test('two liars and an honest peer', async (t) => {
  const { fetcher: f, result } = fetcher({ requestsPerPeer: 1 })
  const peers = [new FakePeer('L1', liar), new FakePeer('H', honest), new FakePeer('L2', liar)]
  for (const p of peers) f.add(p)
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
  t.same(peers.map((p) => p.droppedWith?.code ?? null), ['METADATA_MISMATCH', null, 'METADATA_MISMATCH'])
})

t.test('a peer that never answers is given up after its requests time out; another completes', async (t) => {
  const { fetcher: f, result, clock, log } = fetcher({ requestTimeout: 1000, maxTimeouts: 2, requestsPerPeer: 2 })
  const s = new FakePeer('S', silent)
  f.add(s)
  await settle()
  t.equal(s.requests.length, 2, 'asked up to requestsPerPeer')
  clock.advance(999)
  t.same(log, [])
  clock.advance(1)
  t.same(log, ['given up S'], 'two unanswered requests: given up')
  t.equal(s.droppedWith, null, 'given up, not dropped: it may still serve pieces of the torrent')
  t.equal(f.stats().sources, 0)
  const h = new FakePeer('H', honest)
  f.add(h)
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
  t.equal(clock.pending, 0)
})

t.test('a slow peer: its late answer is ignored, the piece came from another', async (t) => {
  let late: (() => void) | null = null
  const slow: Script = (peer, piece) => { late = () => { peer.send(piece, slice(INFO, piece)) } }
  const { fetcher: f, result, clock, log } = fetcher({ requestTimeout: 1000, maxTimeouts: 5, requestsPerPeer: 1 })
  const s = new FakePeer('S', slow)
  f.add(s)
  await settle()
  clock.advance(1000)
  const h = new FakePeer('H', honest)
  f.add(h)
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
  ;(late as (() => void) | null)?.()
  t.same(log, [], 'nobody dropped for a late answer')
})

t.test('a peer that only rejects is given up on; the pieces come from another', async (t) => {
  const { fetcher: f, result, log } = fetcher({ maxRejects: 3 })
  const r = new FakePeer('R', rejecter)
  f.add(r)
  await settle()
  t.same(log, ['given up R'])
  t.equal(r.droppedWith, null)
  t.equal(result(), null)
  f.add(new FakePeer('H', honest))
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
})

t.test('a rejected piece is asked of another peer, not again of the one that rejected it', async (t) => {
  const picky: Script = (peer, piece) => { if (piece === 0) peer.emit('reject', piece); else honest(peer, piece) }
  const { fetcher: f, result } = fetcher({ requestsPerPeer: 1 })
  const p = new FakePeer('P', picky)
  const h = new FakePeer('H', honest)
  f.add(p)
  f.add(h)
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
  t.equal(p.requests.filter((x) => x === 0).length, 1, 'piece 0 asked of P once')
})

t.test('a peer that rejects every piece still missing is given up at once', async (t) => {
  const { fetcher: f, log } = fetcher({ maxRejects: 100, requestsPerPeer: 4 })
  f.add(new FakePeer('R', rejecter))
  await settle()
  t.same(log, ['given up R'])
})

t.test('pieces out of range, of the wrong length, or with another total_size: the peer is dropped', async (t) => {
  const cases: Array<[string, Script]> = [
    ['out of range', (peer) => { peer.send(PIECES, Buffer.alloc(10)) }],
    ['far out of range', (peer) => { peer.send(2 ** 31, Buffer.alloc(10)) }],
    ['short piece', (peer, piece) => { peer.send(piece, slice(INFO, piece).subarray(1)) }],
    ['long last piece', (peer) => { peer.send(PIECES - 1, Buffer.concat([slice(INFO, PIECES - 1), Buffer.alloc(1)])) }],
    ['other total_size', (peer, piece) => { peer.send(piece, slice(INFO, piece), INFO.length + 1) }]
  ]
  for (const [what, script] of cases) {
    const { fetcher: f, result } = fetcher()
    const bad = new FakePeer('X', script)
    f.add(bad)
    await settle()
    t.equal(bad.droppedWith?.code, 'BAD_METADATA_PIECE', what)
    f.add(new FakePeer('H', honest))
    await settle()
    t.ok(result()?.infoBytes.equals(INFO) === true, `${what}: completed from an honest peer`)
  }
})

t.test('metadata_size 0, negative, too large, or absent: refused, never asked', async (t) => {
  for (const size of [0, -5, 16 * 1024 * 1024 + 1, 2 ** 40]) {
    const { fetcher: f, log } = fetcher()
    const p = new FakePeer('P', honest, size)
    f.add(p)
    await settle()
    t.same(p.requests, [], `size ${size}: not asked`)
    t.same(log, ['refused P BAD_METADATA_SIZE'])
    t.equal(f.stats().refused, 1)
  }
  const { fetcher: f, log } = fetcher({ maxMetadataSize: 1000 })
  const p = new FakePeer('P', honest)
  f.add(p)
  await settle()
  t.same(log, ['refused P BAD_METADATA_SIZE'], 'the bound is an option')
  const none = fetcher()
  const q = new FakePeer('Q', honest)
  q.metadataSize = undefined
  none.fetcher.add(q)
  await settle()
  t.same(q.requests, [])
  t.same(none.log, [], 'no offer is not an error')
})

t.test('a peer whose handshake arrives later is used from then on', async (t) => {
  const { fetcher: f, result } = fetcher()
  const p = new FakePeer('P', honest)
  p.supportsMetadata = false
  p.metadataSize = undefined
  f.add(p)
  await settle()
  t.same(p.requests, [])
  p.supportsMetadata = true
  p.metadataSize = INFO.length
  p.emit('handshake')
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
})

t.test('a peer lying about the size: the attempt moves to the size another peer offers', async (t) => {
  const other = encode(infoFor('other', [{ path: ['x'], length: 16384 * 5000 }]))
  const wrongSize: Script = (peer, piece) => { peer.send(piece, slice(other, piece), other.length) }
  const { fetcher: f, result, log } = fetcher()
  const w = new FakePeer('W', wrongSize, other.length)
  const h = new FakePeer('H', honest)
  f.add(w)
  f.add(h)
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
  t.same(log, ['dropped W METADATA_MISMATCH'])
})

t.test('a peer that disconnects mid-fetch: its pieces are asked of another', async (t) => {
  let n = 0
  const vanishing: Script = (peer, piece) => { if (n++ === 0) honest(peer, piece); else { peer.connected = false; peer.emit('close') } }
  const { fetcher: f, result } = fetcher({ requestsPerPeer: 2 })
  f.add(new FakePeer('V', vanishing))
  await settle()
  t.equal(result(), null)
  t.equal(f.stats().piecesHave, 1, 'its one piece is kept')
  f.add(new FakePeer('H', honest))
  await settle()
  t.ok(result()?.infoBytes.equals(INFO) === true, 'the verified metadata')
})

t.test('SHA1-correct metadata that breaks the metainfo rules ends the fetch with an error', async (t) => {
  const hostile = encode(infoFor('evil', [{ path: ['..', 'escape'], length: 10 }]))
  const hash = createHash('sha1').update(hostile).digest()
  const f = new MetadataFetcher({ infoHash: hash, clock: new FakeClock() })
  const errors: ZentorrentError[] = []
  f.on('error', (err) => errors.push(err))
  const p = new FakePeer('P', (peer, piece) => { peer.send(piece, slice(hostile, piece), hostile.length) }, hostile.length)
  f.add(p)
  await settle()
  t.equal(errors[0]?.code, 'PATH_ESCAPES_ROOT', 'the metainfo rule applies unchanged')
  t.match(errors[0]?.message, /SHA1 verified/)
  t.equal(p.droppedWith, null, 'the peer served what we asked for: not dropped')
  t.ok(f.done)
})

t.test('stats and the timeout error', async (t) => {
  const { fetcher: f } = fetcher()
  f.add(new FakePeer('S', silent))
  f.add(new FakePeer('Z', silent, 0))
  await settle()
  const stats = f.stats()
  t.same({ peers: stats.peers, sources: stats.sources, size: stats.size, pieces: stats.pieces, refused: stats.refused },
    { peers: 2, sources: 1, size: INFO.length, pieces: PIECES, refused: 1 })
  const err = metadataTimeoutError(60_000, stats)
  t.equal(err.code, 'METADATA_TIMEOUT')
  t.match(err.message, /within 60 s \(2 peers connected, 1 offering it, 1 with an unacceptable size\)/)
  t.match(metadataTimeoutError(5000, { ...stats, peers: 0 }).message, /no peer was found/)
  t.match(metadataTimeoutError(5000, { ...stats, peers: 0 }, 3).message, /3 peer addresses tried, none connected/)
  f.destroy()
  t.ok(f.done)
})
