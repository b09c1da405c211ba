import t, { type Test } from 'tap'
import { EventEmitter, once } from 'node:events'
import { Wire, WIRE_DEFAULTS } from '../lib/wire/index.js'
import { MemoryStore } from '../lib/store/memory-store.js'
import { createGeometry } from '../lib/geometry.js'
import { FakeClock } from './helpers/fake-clock.js'
import { Uploader, UploadPeer, UPLOADER_DEFAULTS, type UploaderOptions } from '../lib/uploader.js'
import { BitField } from '../lib/wire/bitfield.js'
import { createTokenBucket } from '../lib/rate-limit.js'
import { SINGLE } from './helpers/torrent-fixtures.js'
import { makeTorrent, pieceBytes } from './helpers/make-torrent.js'

// A store holding the torrent, and real Wires joined back to back in memory: `local` is the uploader's side,
// `remote` plays the downloading peer. Time is a fake clock: nothing here waits on real time.

const made = makeTorrent(SINGLE, { seed: 7 }) // 4 pieces of 32 KiB, the last one 1234 bytes
const meta = made.meta
const SHAPE = { pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength }
const BLOCK = 16384
const MISSING = 2 // the piece the uploader does not have

const turn = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }
/** Let the in-memory wires and store reads run to quiescence (event-loop turns, not time). */
const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await turn() }

function peerId (n: number, side: string): Buffer {
  return Buffer.from(`-ZT0100-${side}${String(n).padStart(11, '0')}`, 'latin1')
}

interface Remote {
  wire: Wire
  local: Wire
  /** What the remote peer received, in order. */
  events: Array<[string, ...unknown[]]>
  pieces: Array<{ index: number, offset: number, data: Buffer }>
  errors: Error[]
}

async function setup (t: Test, opts: UploaderOptions = {}, seeding = false, more?: (clock: FakeClock) => UploaderOptions) {
  const storage = new MemoryStore(meta)
  for (let i = 0; i < meta.pieceCount; i++) await storage.writePiece(i, pieceBytes(made, i))
  // a gate on reads, to hold requests in the uploader's queue while the test acts
  let gate: Promise<void> | null = null
  let open: () => void = () => {}
  const read = storage.read.bind(storage)
  let reads = 0
  storage.read = async (index: number, offset: number, length: number) => {
    reads++
    if (gate !== null) await gate
    return await read(index, offset, length)
  }
  const source = { store: storage, geometry: createGeometry(meta), done: seeding, hasPiece: (i: number) => i !== MISSING }
  const clock = new FakeClock()
  const uploader = new Uploader(source, { clock, random: () => 0, ...opts, ...more?.(clock) })
  t.teardown(async () => { uploader.close(); await storage.close() })

  let n = 0
  const connect = async (wireOpts: { fast?: boolean } = {}): Promise<Remote> => {
    n++
    const local = new Wire({ peerId: peerId(n, 'L'), infoHash: meta.infoHash, ...SHAPE, ...wireOpts })
    const wire = new Wire({ peerId: peerId(n, 'R'), infoHash: meta.infoHash, ...SHAPE, ...wireOpts })
    const remote: Remote = { wire, local, events: [], pieces: [], errors: [] }
    for (const name of ['choke', 'unchoke', 'reject']) wire.on(name, (...args: unknown[]) => remote.events.push([name, ...args]))
    wire.on('piece', (index: number, offset: number, data: Buffer) => {
      remote.events.push(['piece', index, offset, data.length])
      remote.pieces.push({ index, offset, data })
    })
    wire.on('error', (err) => remote.errors.push(err))
    local.on('error', () => {})
    const handshakes = Promise.all([once(local, 'handshake'), once(wire, 'handshake')])
    local.pipe(wire).pipe(local)
    await handshakes
    uploader.addPeer(local, `peer${n}`)
    t.teardown(() => { local.destroy(); wire.destroy() })
    return remote
  }
  return {
    uploader,
    clock,
    connect,
    reads: () => reads,
    hold () { gate = new Promise((resolve) => { open = resolve }) },
    release () { gate = null; open() }
  }
}

/** Interested and unchoked. */
async function unchoked (remote: Remote): Promise<void> {
  remote.wire.interested()
  if (remote.wire.peerChoking) await once(remote.wire, 'unchoke')
}

t.test('defaults are named in one place', async (t) => {
  t.equal(UPLOADER_DEFAULTS.maxQueuePerPeer, WIRE_DEFAULTS.maxPeerRequests, 'the queue we keep is the one the wire holds')
})

t.test('an unchoked interested peer gets the bytes it asked for, from storage', async (t) => {
  const { uploader, connect } = await setup(t)
  const remote = await connect()
  await unchoked(remote)
  t.notOk(remote.local.amChoking, 'interest with a slot free unchokes at once')
  remote.wire.request(0, BLOCK, BLOCK)
  remote.wire.request(3, 0, meta.lastPieceLength)
  await settle()
  t.same(remote.pieces.map((p) => [p.index, p.offset, p.data.length]), [[0, BLOCK, BLOCK], [3, 0, meta.lastPieceLength]])
  t.ok(remote.pieces[0]!.data.equals(pieceBytes(made, 0).subarray(BLOCK, 2 * BLOCK)), 'block bytes match')
  t.ok(remote.pieces[1]!.data.equals(pieceBytes(made, 3)), 'the short last piece matches')
  t.equal(uploader.uploaded, BLOCK + meta.lastPieceLength)
  t.same(remote.errors, [])
})

t.test('requests while choked are refused and nothing is sent', async (t) => {
  const { connect, reads } = await setup(t)
  const fast = await connect()
  fast.wire.request(0, 0, BLOCK) // not interested, never unchoked
  const plain = await connect({ fast: false })
  plain.wire.request(0, 0, BLOCK)
  await settle()
  t.same(fast.events, [['reject', 0, 0, BLOCK]], 'Fast: rejected')
  t.same(plain.events, [], 'without Fast: dropped silently')
  t.equal(reads(), 0, 'nothing read from disk')
  t.same([...fast.errors, ...plain.errors], [])
})

t.test('a request for a piece we lack is refused', async (t) => {
  const { connect, reads } = await setup(t)
  const fast = await connect()
  await unchoked(fast)
  fast.wire.request(MISSING, 0, BLOCK)
  const plain = await connect({ fast: false })
  await unchoked(plain)
  plain.wire.request(MISSING, 0, BLOCK)
  await settle()
  t.same(fast.events, [['unchoke'], ['reject', MISSING, 0, BLOCK]])
  t.same(plain.events, [['unchoke']], 'without Fast: dropped')
  t.equal(reads(), 0)
})

t.test('a request cancelled before it is served is not sent', async (t) => {
  const { connect, hold, release } = await setup(t)
  const remote = await connect()
  await unchoked(remote)
  hold()
  remote.wire.request(0, 0, BLOCK) // being read when cancelled
  remote.wire.request(0, BLOCK, BLOCK) // still queued when cancelled
  remote.wire.request(1, 0, BLOCK)
  await turn()
  remote.wire.cancel(0, 0, BLOCK)
  remote.wire.cancel(0, BLOCK, BLOCK)
  await turn()
  release()
  await settle()
  t.same(remote.pieces.map((p) => [p.index, p.offset]), [[1, 0]], 'only the request still standing is served')
  t.same(remote.errors, [], 'nothing arrives that the remote did not ask for')
})

t.test('past maxQueuePerPeer requests are refused', async (t) => {
  const { connect, hold, release } = await setup(t, { maxQueuePerPeer: 2 })
  const remote = await connect()
  await unchoked(remote)
  hold()
  remote.wire.request(0, 0, BLOCK) // taken off the queue at once, waiting on the disk
  await turn()
  remote.wire.request(0, BLOCK, BLOCK)
  remote.wire.request(1, 0, BLOCK) // queue full
  remote.wire.request(1, BLOCK, BLOCK)
  await turn()
  t.same(remote.events.filter((e) => e[0] === 'reject'), [['reject', 1, BLOCK, BLOCK]], 'the one past the queue is rejected')
  release()
  await settle()
  t.same(remote.pieces.map((p) => [p.index, p.offset]), [[0, 0], [0, BLOCK], [1, 0]])
})

t.test('rechoke unchokes at most regularSlots + 1 interested peers and chokes the rest', async (t) => {
  const { uploader, clock, connect } = await setup(t, { choker: { regularSlots: 1 } })
  const remotes = [await connect(), await connect(), await connect(), await connect()]
  const idle = await connect() // never interested
  for (const r of remotes) r.wire.interested()
  await turn()
  const open = (): number => remotes.filter((r) => !r.local.amChoking).length
  t.equal(open(), 2, 'unchoked at once while slots were free, then no more')
  clock.advance(10_000)
  uploader.rechoke()
  await turn()
  t.equal(open(), 2, 'a rechoke keeps two unchoked')
  t.ok(idle.local.amChoking, 'an uninterested peer stays choked')
  t.ok(remotes.every((r) => r.local.amChoking === r.wire.peerChoking), 'choke and unchoke messages reached the peers')
  const holder = remotes.find((r) => !r.local.amChoking)!
  holder.wire.uninterested()
  await turn()
  t.equal(open(), 2, 'a peer losing interest frees its slot for another at once')
  t.ok(holder.local.amChoking, 'and is choked')
})

t.test('a peer choked with requests queued has each rejected exactly once', async (t) => {
  const { connect, hold, release } = await setup(t)
  const remote = await connect()
  await unchoked(remote)
  hold()
  remote.wire.request(0, 0, BLOCK)
  remote.wire.request(0, BLOCK, BLOCK)
  remote.wire.request(1, 0, BLOCK)
  await turn()
  remote.wire.uninterested() // the rechoke that follows chokes it
  await settle()
  release()
  await settle()
  t.same(remote.events.filter((e) => e[0] === 'reject').map((e) => e.slice(1, 3)).sort(), [[0, 0], [0, BLOCK], [1, 0]])
  t.same(remote.pieces, [], 'nothing served after the choke')
  t.same(remote.errors, [], 'no duplicate reject (the remote would drop us: BEP 6 reject for a block never requested)')
  t.notOk(remote.wire.destroyed)
})

t.test('uploadLimit spaces the blocks out', async (t) => {
  // 10 blocks/s, a bucket of one block: the first goes at once, the next ones 100 ms apart
  const { connect, clock } = await setup(t, {}, false, (clock) => ({ uploadLimit: createTokenBucket({ rate: 10 * BLOCK, capacity: BLOCK, now: clock.now }) }))
  const remote = await connect()
  await unchoked(remote)
  const times: number[] = []
  remote.wire.on('piece', () => times.push(clock.now()))
  const start = clock.now()
  for (const [index, offset] of [[0, 0], [0, BLOCK], [1, 0], [1, BLOCK]] as const) remote.wire.request(index, offset, BLOCK)
  for (let ms = 0; ms <= 400; ms += 10) {
    await settle()
    clock.advance(10)
  }
  t.equal(times.length, 4, 'all served')
  t.equal(times[0]! - start, 0, 'the first at once')
  t.same(times.slice(1).map((at, i) => at - times[i]!), [100, 100, 100], 'the next ones 100 ms apart')
})

t.test('seeding: a request for a piece other peers are getting waits behind one for a piece nobody else has', async (t) => {
  for (const seeding of [true, false]) {
    const { connect, hold, release } = await setup(t, { frontierPieces: 0 }, seeding)
    const a = await connect()
    await unchoked(a)
    a.wire.request(0, 0, BLOCK) // piece 0 now has gone (in part) to another peer
    await settle()
    const b = await connect()
    await unchoked(b)
    hold()
    b.wire.request(1, 0, BLOCK) // served first, and held at the disk while the others queue up
    await settle()
    b.wire.request(0, BLOCK, BLOCK)
    b.wire.request(3, 0, meta.lastPieceLength)
    await settle()
    release()
    await settle()
    t.same(b.pieces.map((p) => p.index), seeding ? [1, 3, 0] : [1, 0, 3], seeding ? 'seeding: piece 3 (nobody else has had it) before piece 0' : 'leeching: in order')
    t.ok(b.pieces.every((p) => p.data.equals(pieceBytes(made, p.index).subarray(p.offset, p.offset + p.data.length))))
  }
})

t.test('seeding: no request waits behind later ones for more than maxDeferral (a streaming peer gets its next bytes)', async (t) => {
  const { connect, hold, release, clock } = await setup(t, { maxDeferral: 500, frontierPieces: 0 }, true)
  const a = await connect()
  await unchoked(a)
  a.wire.request(0, 0, BLOCK) // piece 0 has gone (in part) to another peer: seeding defers it
  await settle()
  const b = await connect()
  await unchoked(b)
  hold()
  b.wire.request(1, 0, BLOCK) // served first, held at the disk while the others queue up
  await settle()
  b.wire.request(0, BLOCK, BLOCK) // what a streaming peer asks for next; others got it
  b.wire.request(1, BLOCK, BLOCK)
  b.wire.request(3, 0, meta.lastPieceLength)
  await settle()
  clock.advance(499)
  release()
  await settle()
  t.same(b.pieces.map((p) => p.index), [1, 1, 3, 0], 'within the bound the seeding order stands: piece 0 (others had it) last')

  const c = await connect()
  await unchoked(c)
  hold()
  c.wire.request(1, 0, BLOCK)
  await settle()
  c.wire.request(0, BLOCK, BLOCK)
  c.wire.request(1, BLOCK, BLOCK)
  c.wire.request(3, 0, meta.lastPieceLength)
  await settle()
  clock.advance(500)
  release()
  await settle()
  t.same(c.pieces.map((p) => p.index), [1, 0, 1, 3], 'past it, requests go in the order asked: piece 0 next')
  t.ok(c.pieces.every((p) => p.data.equals(pieceBytes(made, p.index).subarray(p.offset, p.offset + p.data.length))))
})

/**
 * The frontier scenario: piece 0 has gone to two other peers, pieces 1 and 3 to one; then peer d (`prepare` runs
 * on it first) asks for 1 (held at the disk), 0, 3 and 1's second block. Piece 1 goes, the next choice (piece 3,
 * one other had it) is held, the clock moves `wait` ms, and the order d got its pieces in is returned.
 */
async function frontierScenario (t: Test, opts: UploaderOptions, wait: number, prepare: (d: Remote) => void = () => {}, fast = false): Promise<number[]> {
  // no read cache: every read goes to the store, so the held one keeps the rest queued
  const { connect, hold, release, clock } = await setup(t, { ...opts, readCache: { maxBytes: 0 } }, true)
  const a = await connect()
  await unchoked(a)
  a.wire.request(0, 0, BLOCK)
  await settle()
  const b = await connect()
  await unchoked(b)
  for (const [index, offset, length] of [[0, 0, BLOCK], [1, 0, BLOCK], [1, BLOCK, BLOCK], [3, 0, meta.lastPieceLength]] as const) b.wire.request(index, offset, length)
  await settle()
  const d = await connect({ fast })
  prepare(d)
  await unchoked(d)
  hold()
  d.wire.request(1, 0, BLOCK)
  await settle()
  d.wire.request(0, BLOCK, BLOCK)
  d.wire.request(3, 0, meta.lastPieceLength)
  d.wire.request(1, BLOCK, BLOCK)
  await settle()
  release()
  hold()
  await settle()
  clock.advance(wait)
  release()
  await settle()
  return d.pieces.map((p) => p.index)
}

t.test('seeding: a request for one of the first frontierPieces pieces a peer lacks waits at most frontierDeferral (it plays them next)', async (t) => {
  const cases = [
    { opts: { frontierPieces: 1, frontierDeferral: 500, maxDeferral: 10_000 }, wait: 500, order: [1, 3, 0, 1], why: 'past frontierDeferral (not maxDeferral) piece 0, the frontier, goes next' },
    { opts: { frontierPieces: 1, frontierDeferral: 500, maxDeferral: 10_000 }, wait: 499, order: [1, 3, 1, 0], why: 'within frontierDeferral the seeding order stands: piece 0 (two others had it) last' },
    { opts: { frontierPieces: 0, maxDeferral: 10_000 }, wait: 500, order: [1, 3, 1, 0], why: 'no frontier pieces: the seeding order until maxDeferral' }
  ]
  for (const c of cases) t.same(await frontierScenario(t, c.opts, c.wait), c.order, c.why)
})

t.test('seeding: frontier pieces served under their bound do not restart the oldest request\'s maxDeferral', async (t) => {
  // found by review: a frontier piece forced every 400 ms reset every request's clock, and the oldest one waited
  // until the rarer requests ran out (4.3 s with maxDeferral 1 s)
  const KIB = 1024
  const served = async (frontierPieces: number): Promise<number> => {
    const { connect, clock } = await setup(t, { maxDeferral: 1000, frontierDeferral: 500, frontierPieces, readCache: { maxBytes: 0 } }, true,
      (clock) => ({ uploadLimit: createTokenBucket({ rate: 10 * KIB, capacity: KIB, now: clock.now }) }))
    const step = async (ms: number): Promise<void> => { for (let i = 0; i < ms / 10; i++) { await settle(); clock.advance(10) } }
    const a = await connect()
    await unchoked(a)
    a.wire.request(3, 0, meta.lastPieceLength)
    a.wire.request(0, 0, KIB)
    await step(1000)
    const b = await connect()
    await unchoked(b)
    b.wire.request(3, 0, meta.lastPieceLength) // piece 3 has gone to two peers, piece 0 to one
    await step(1000)
    const d = await connect()
    await unchoked(d)
    const times = new Map<number, number>()
    d.wire.on('piece', (index: number) => { if (!times.has(index)) times.set(index, clock.now()) })
    d.wire.request(1, 0, KIB) // served first
    const start = clock.now()
    d.wire.request(3, 0, meta.lastPieceLength) // the oldest: others had it
    for (let k = 1; k < 32; k++) d.wire.request(1, k * KIB, KIB) // nobody else had these: the seeding order prefers them
    let f = 0
    for (let ms = 0; ms < 6000 && !times.has(3); ms += 100) {
      if (ms % 400 === 0 && f < 32) d.wire.request(0, (f++) * KIB, KIB) // the frontier piece, one other had it
      await step(100)
    }
    return (times.get(3) ?? Infinity) - start
  }
  const without = await served(0)
  const withFrontier = await served(1)
  t.ok(without <= 1300, `without frontier pieces the oldest request went after ${without} ms (maxDeferral 1 s)`)
  t.ok(withFrontier <= 1300, `with frontier pieces forced every 400 ms it went after ${withFrontier} ms, within maxDeferral too`)
})

t.test('seeding: the frontier is the lowest piece a peer lacks: pieces below it get no frontier bound; have-none starts it again', async (t) => {
  for (const haveNone of [false, true]) {
    const order = await frontierScenario(t, { frontierPieces: 1, frontierDeferral: 500, maxDeferral: 10_000 }, 500, (d) => {
      d.wire.have(0) // its frontier is piece 1: piece 0 is below it
      if (haveNone) d.wire.haveNone() // and now it has nothing: the frontier is piece 0 again
    }, true)
    t.same(order, haveNone ? [1, 3, 0, 1] : [1, 3, 1, 0],
      haveNone ? 'after have-none, piece 0 is the frontier again and goes at its bound' : 'piece 1, the frontier, goes at its bound; piece 0 below it waits')
  }
})

t.test('the frontier cursor starts again when the peer\'s bitfield is replaced or it says have-none, after it had moved on', async (t) => {
  const wire = Object.assign(new EventEmitter(), { peerPieces: new BitField(8) })
  const peer = new UploadPeer('d', wire as unknown as Wire, 0)
  t.equal(peer.frontier(), 0, 'nothing held: piece 0')
  wire.peerPieces.set(0)
  wire.peerPieces.set(1)
  t.equal(peer.frontier(), 2, 'the cursor moves past what it holds')
  wire.peerPieces = BitField.fromBuffer(Buffer.from([0b01000000]), 8) // a late bitfield: piece 1 only
  t.equal(peer.frontier(), 0, 'a replaced bitfield: piece 0 is missing again, the cursor goes back')
  wire.peerPieces.set(0)
  t.equal(peer.frontier(), 2, 'and moves on again')
  wire.peerPieces.clear() // have-none (BEP 6) clears the same object
  wire.emit('have-none')
  t.equal(peer.frontier(), 0, 'have-none: back to piece 0')
})
