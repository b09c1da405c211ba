import t, { type Test } from 'tap'
import { EventEmitter } from 'node:events'
import { BitField } from '../lib/wire/bitfield.js'
import { BLOCK_LENGTH } from '../lib/geometry.js'
import { createLedger, PieceState, type PieceLedger } from '../lib/ledger.js'
import { Scheduler, SCHEDULER_DEFAULTS, type PeerWire, type SchedulerOptions } from '../lib/scheduler/scheduler.js'
import { createTokenBucket } from '../lib/rate-limit.js'
import type { Block } from '../lib/verify.js'
import { FakeClock } from './helpers/fake-clock.js'

// Every test drives the scheduler through fake wires (no sockets) and a fake clock: timers (the snub tick, the
// allowed-fast grace, the download limit) fire only when a test advances it; nothing sleeps on real time.

const BLOCKS_PER_PIECE = 2
const PIECE_LENGTH = BLOCKS_PER_PIECE * BLOCK_LENGTH

interface Req { index: number, offset: number, length: number }

/** A PeerWire that records what the scheduler sends and lets the test play the remote peer. */
class FakeWire extends EventEmitter implements PeerWire {
  peerPieces: BitField
  peerHasAll = false
  readonly peerAllowedFast: Set<number> = new Set()
  peerChoking = true
  amInterested = false
  peerReqq = 250
  destroyed = false
  destroyError: Error | undefined
  rate = 0
  readonly calls: Array<[string, ...number[]]> = []
  /** Requests sent and not yet answered, cancelled or voided, as the real Wire keeps them. */
  readonly pending: Req[] = []

  constructor (pieceCount: number, readonly supportsFast = false) {
    super()
    this.peerPieces = new BitField(pieceCount)
  }

  interested (): void { this.amInterested = true; this.calls.push(['interested']) }
  uninterested (): void { this.amInterested = false; this.calls.push(['uninterested']) }
  request (index: number, offset: number, length: number): void {
    this.calls.push(['request', index, offset, length])
    this.pending.push({ index, offset, length })
  }

  cancel (index: number, offset: number, length: number): void {
    this.calls.push(['cancel', index, offset, length])
    this.#forget(index, offset)
  }

  have (index: number): void { this.calls.push(['have', index]) }
  downloadRate (): number { return this.rate }
  destroy (err?: Error): void {
    if (this.destroyed) return
    this.destroyed = true
    this.destroyError = err
    process.nextTick(() => this.emit('close'))
  }

  // ---- the remote peer's side ----
  bitfield (pieces: number[]): void {
    this.peerPieces = new BitField(this.peerPieces.length)
    for (const i of pieces) this.peerPieces.set(i)
    this.emit('bitfield', this.peerPieces)
  }

  haveRemote (index: number): void { this.peerPieces.set(index); this.emit('have', index) }
  haveAll (): void { this.peerPieces.setAll(); this.peerHasAll = true; this.emit('have-all') }
  unchoke (): void { this.peerChoking = false; this.emit('unchoke') }
  choke (): void {
    this.peerChoking = true
    const voided = this.supportsFast ? [] : this.pending.splice(0)
    this.emit('choke', voided)
  }

  allowFast (index: number): void { this.peerAllowedFast.add(index); this.emit('allowed-fast', index) }

  /** What the real Wire keeps: our outstanding requests on this connection. */
  get requests (): { count: number, list: () => Req[] } {
    return { count: this.pending.length, list: () => [...this.pending] }
  }

  reject (r: Req): void { this.#forget(r.index, r.offset); this.emit('reject', r.index, r.offset, r.length) }
  /** Answer a pending request (the first one unless given). */
  deliver (r: Req = this.pending[0]!, length = r.length): void {
    this.#forget(r.index, r.offset)
    this.emit('piece', r.index, r.offset, Buffer.alloc(length, r.index + 1))
  }

  /** Every request sent so far. */
  sent (): Req[] {
    return this.calls.filter((c) => c[0] === 'request').map(([, index, offset, length]) => ({ index: index!, offset: offset!, length: length! }))
  }

  count (name: string): number { return this.calls.filter((c) => c[0] === name).length }

  #forget (index: number, offset: number): void {
    const at = this.pending.findIndex((r) => r.index === index && r.offset === offset)
    if (at >= 0) this.pending.splice(at, 1)
  }
}

const key = (r: Req): string => `${r.index}:${r.offset}`
const keys = (rs: readonly Req[]): string[] => rs.map(key).sort()
const turn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

interface Setup {
  pieces?: number
  opts?: SchedulerOptions
  /** Consume in flowing mode (default); false leaves the stream paused for backpressure tests. */
  flowing?: boolean
}

/** What the verifier and the sink report once a piece is checked and on disk. */
function written (ledger: PieceLedger, index: number): void {
  if (ledger.state(index) === PieceState.Assembling) ledger.markHashing(index)
  ledger.markVerified(index)
  ledger.markWritten(index)
}

/** What the verifier reports when a piece fails: evidence from the given peers, one block each in turn. */
function failed (ledger: PieceLedger, index: number, peers: readonly string[]): void {
  if (ledger.state(index) === PieceState.Missing) ledger.open(index)
  const blocks = ledger.geometry.blocksIn(index)
  ledger.markHashing(index)
  ledger.markInvalid(index, Array.from({ length: blocks }, (_, block) => ({ block, peer: peers[block % peers.length]!, digest: Buffer.alloc(20, block) })))
}

function setup (t: Test, s: Setup = {}) {
  const pieceCount = s.pieces ?? 8
  const clock = new FakeClock()
  const ledger = createLedger({ pieceCount, pieceLength: PIECE_LENGTH, lastPieceLength: PIECE_LENGTH })
  const scheduler = new Scheduler(ledger, { minRequestsPerPeer: 4, clock, picker: { initialRandomPieces: 0, order: 'index' }, ...s.opts })
  const blocks: Block[] = []
  const events: Array<[string, unknown]> = []
  scheduler.on('peer-banned', (info) => events.push(['peer-banned', info]))
  scheduler.on('peer-snubbed', (id) => events.push(['peer-snubbed', id]))
  scheduler.on('endgame', () => events.push(['endgame', null]))
  scheduler.on('end', () => events.push(['end', null]))
  if (s.flowing !== false) scheduler.on('data', (b: Block) => blocks.push(b))
  t.teardown(() => { scheduler.destroy() })
  const wire = (id: string, fast = false): FakeWire => {
    const w = new FakeWire(pieceCount, fast)
    scheduler.addPeer(id, w)
    return w
  }
  return { scheduler, ledger, clock, blocks, events, wire }
}

t.test('defaults are named in one place', async (t) => {
  t.equal(SCHEDULER_DEFAULTS.requestTimeout, 20_000)
  t.equal(SCHEDULER_DEFAULTS.maxHeldBytes, 8 * 1024 * 1024)
})

t.test('interest follows bitfield, have and have-all; uninterested once we hold all the peer has', async (t) => {
  const { scheduler, ledger, wire } = setup(t, { pieces: 4 })
  await turn()
  const a = wire('a')
  a.bitfield([1])
  t.same(a.calls, [['interested']], 'a bitfield with a wanted piece: interested')

  const b = wire('b')
  b.bitfield([])
  t.equal(b.count('interested'), 0, 'an empty bitfield: not interested')
  b.haveRemote(2)
  t.same(b.calls, [['interested']], 'a have for a wanted piece: interested')

  const c = wire('c')
  c.haveAll()
  t.same(c.calls, [['interested']], 'have-all: interested')

  const early = new FakeWire(4)
  early.peerPieces.set(3)
  scheduler.addPeer('early', early)
  t.same(early.calls, [['interested']], 'a bitfield received before the wire was attached counts too')

  // a and b are still choking us: piece 1 and 2 arriving from elsewhere must still end interest in them
  written(ledger, 1)
  t.same(a.calls, [['interested'], ['uninterested']], 'we now hold all a has: uninterested (a still chokes us)')
  t.equal(c.count('uninterested'), 0, 'the seed still has pieces we want')
  written(ledger, 2)
  t.same(b.calls, [['interested'], ['uninterested']], 'we now hold all b has: uninterested')
  a.haveRemote(1)
  t.equal(a.count('interested'), 1, 'a have for a piece we hold does not raise interest again')
  a.haveRemote(0)
  t.equal(a.count('interested'), 2, 'a have for a piece we lack does')
})

t.test('no requests before unchoke; unchoke fills to depth, bounded by reqq and raised by rate', async (t) => {
  const { wire } = setup(t, { opts: { minRequestsPerPeer: 4, maxRequestsPerPeer: 6 } })
  await turn()
  const a = wire('a')
  a.haveAll()
  t.equal(a.count('request'), 0, 'interested but choked: nothing requested')
  a.unchoke()
  t.equal(a.count('request'), 4, 'minRequestsPerPeer requests')
  t.same(new Set(keys(a.sent())).size, 4, 'all different blocks')

  const b = wire('b')
  b.peerReqq = 2
  b.haveAll()
  b.unchoke()
  t.equal(b.count('request'), 2, "the peer's reqq bounds the depth below the minimum")

  const c = wire('c')
  c.rate = 100 * BLOCK_LENGTH // 100 blocks/s × requestQueueTime 1 s → 100, capped by maxRequestsPerPeer
  c.haveAll()
  c.unchoke()
  t.equal(c.count('request'), 6, 'a fast peer gets up to maxRequestsPerPeer')
})

t.test('a requested block is pushed downstream with the peer id and the peer is refilled', async (t) => {
  const { scheduler, blocks, wire } = setup(t)
  await turn()
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  const first = a.pending[0]!
  a.deliver(first)
  await turn()
  t.equal(blocks.length, 1)
  t.match(blocks[0], { index: first.index, offset: first.offset, peer: 'a' })
  t.equal(blocks[0]!.data.length, first.length)
  t.equal(a.count('request'), 5, 'one more request replaces the answered one')
  t.equal(a.pending.length, 4, 'the peer is kept 4 deep')
  t.equal(scheduler.downloaded, first.length)
  t.equal(scheduler.wasted, 0)
})

t.test('an unrequested or wrong-length block is dropped and counted as wasted', async (t) => {
  const { scheduler, blocks, wire } = setup(t)
  await turn()
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  const requested = keys(a.pending)
  const other = [0, 1, 2, 3, 4, 5, 6, 7].map((index) => ({ index, offset: 0, length: BLOCK_LENGTH })).find((r) => !requested.includes(key(r)))!
  a.emit('piece', other.index, other.offset, Buffer.alloc(BLOCK_LENGTH))
  a.emit('piece', a.pending[0]!.index, a.pending[0]!.offset, Buffer.alloc(100))
  await turn()
  t.equal(blocks.length, 0, 'nothing pushed')
  t.equal(scheduler.wasted, BLOCK_LENGTH + 100)
  t.equal(scheduler.downloaded, 0)
  t.equal(a.count('request'), 4, 'no refill for junk')
})

t.test('choke without Fast voids requests; their blocks go to another peer', async (t) => {
  const { wire } = setup(t)
  await turn()
  const a = wire('a')
  const b = wire('b')
  a.bitfield([0, 1]) // 4 blocks: a takes all of them
  b.bitfield([0, 1])
  a.unchoke()
  const asked = keys(a.sent())
  t.equal(asked.length, 4)
  b.unchoke()
  t.equal(b.count('request'), 0, 'nothing free for b yet (pieces 2-7 unstarted: not endgame)')
  a.choke()
  t.same(keys(b.sent()), asked, "b now asks for a's voided blocks")
  a.unchoke()
  t.equal(a.count('request'), 4, 'a gets nothing new: no duplicates outside endgame')
})

t.test('with Fast, a choke leaves requests standing until reject', async (t) => {
  const { scheduler, blocks, wire } = setup(t)
  await turn()
  const a = wire('a', true)
  const b = wire('b')
  a.bitfield([0, 1])
  b.bitfield([0, 1])
  a.unchoke()
  b.unchoke()
  a.choke()
  t.equal(b.count('request'), 0, 'a choke from a Fast peer frees nothing')
  const rejected = a.pending[1]!
  a.reject(rejected)
  t.same(keys(b.sent()), [key(rejected)], 'the rejected block goes to b')
  a.deliver(a.pending[0]!) // a Fast peer may still serve what it did not reject
  await turn()
  t.equal(blocks.length, 1, "a's block after the choke is still accepted")
  t.equal(scheduler.wasted, 0)
})

t.test('backpressure: no new requests while the consumer does not read; they resume when it reads', async (t) => {
  const { scheduler, wire } = setup(t, { flowing: false, opts: { readableHighWaterMark: 2 } })
  t.equal(scheduler.read(), null, 'start reading: _read marks the stream flowing')
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  t.equal(a.count('request'), 4)
  a.deliver() // buffered 1 < 2: push returns true, refilled
  t.equal(a.count('request'), 5)
  a.deliver() // buffered 2: push returns false
  t.equal(a.count('request'), 5, 'no refill once push returned false')
  a.deliver()
  a.deliver()
  t.equal(a.count('request'), 5, 'blocks already asked for still arrive, and nothing new goes out')
  t.equal(scheduler.readableLength, 4)
  while (scheduler.read() !== null) { /* drain */ }
  await turn()
  t.ok(a.count('request') > 5, 'reading resumes requests')
  t.equal(a.pending.length, 4, 'back to full depth')
})

t.test('the memory budget caps outstanding requests', async (t) => {
  t.test('maxInFlightBytes across peers', async (t) => {
    const { ledger, wire } = setup(t, { opts: { maxInFlightBytes: 3 * BLOCK_LENGTH } })
    await turn()
    const a = wire('a')
    const b = wire('b')
    a.haveAll()
    b.haveAll()
    a.unchoke()
    b.unchoke()
    t.equal(a.count('request') + b.count('request'), 3, 'three blocks in flight in all')
    t.equal(ledger.requestedBlocks, 3)
    a.deliver()
    t.equal(a.count('request') + b.count('request'), 4, 'one delivered, one more requested')
  })

  /** A budget of two pieces and one peer that has everything and unchokes us: pieces 0 and 1 open. */
  const twoPieceBudget = async (t: Test): Promise<{ ledger: PieceLedger, a: ReturnType<ReturnType<typeof setup>['wire']> }> => {
    const { ledger, wire } = setup(t, { opts: { maxHeldBytes: 2 * PIECE_LENGTH, minHeldPieces: 1, minRequestsPerPeer: 16 } })
    await turn()
    const a = wire('a')
    a.haveAll()
    a.unchoke()
    return { ledger, a }
  }

  t.test('maxHeldBytes: no new piece opens while the pieces held between socket and disk fill it', async (t) => {
    const { ledger, a } = await twoPieceBudget(t)
    t.same([...new Set(a.sent().map((r) => r.index))], [0, 1], 'two pieces open, though the queue could take more')
    for (const r of [...a.pending].filter((p) => p.index === 0)) a.deliver(r)
    t.equal(ledger.state(0), PieceState.Assembling, 'piece 0 whole, not yet hashed: still held')
    t.equal(a.count('request'), 4, 'nothing new')
    ledger.markHashing(0)
    ledger.markVerified(0)
    t.equal(a.count('request'), 4, 'verified but not on disk: still held')
    ledger.markWritten(0)
    t.equal(a.count('request'), 4, 'on disk: the room is used once this loop turn has run its callbacks')
    await turn()
    t.same([...new Set(a.sent().map((r) => r.index))], [0, 1, 2], 'on disk: the room opens piece 2 in the same loop turn')
  })

  t.test('pieces written in one loop turn open their successors in one batch of requests', async (t) => {
    // the piece worker answers each write in its own callback; one fill per answer was one socket write per piece
    const { ledger, a } = await twoPieceBudget(t)
    for (const r of [...a.pending]) a.deliver(r)
    for (const i of [0, 1]) { ledger.markHashing(i); ledger.markVerified(i) }
    const before = a.count('request')
    ledger.markWritten(0)
    ledger.markWritten(1)
    t.equal(a.count('request'), before, 'nothing yet: both writes are answered first')
    await turn()
    t.same([...new Set(a.sent().slice(before).map((r) => r.index))], [2, 3], 'then both successors at once')
  })

  t.test('a piece larger than the budget still completes: the budget gates opening, never an open piece\'s blocks', async (t) => {
    // a budget of one block, pieces of two, one request at a time: every block of the open piece is still asked for
    const { ledger, wire } = setup(t, { pieces: 3, opts: { maxHeldBytes: BLOCK_LENGTH, minHeldPieces: 1, minRequestsPerPeer: 1, maxRequestsPerPeer: 1, refillBatch: 1 } })
    await turn()
    const a = wire('a')
    a.haveAll()
    a.unchoke()
    t.equal(a.count('request'), 1)
    a.deliver()
    t.equal(a.count('request'), 2, 'the second block of the open piece is requested though the budget is spent')
    a.deliver()
    t.equal(ledger.receivedBlocks(0), 2, 'the piece is whole: the verifier takes it from here')
    t.equal(a.count('request'), 2, 'and no new piece opens while it is held')
  })
})

t.test('when the shared budget binds below the queue depth, requests still go out in batches', async (t) => {
  // depth 128 (a fast peer), budget 64 blocks: each delivered block frees one block of budget
  const { wire } = setup(t, { pieces: 100, opts: { minRequestsPerPeer: 128, maxInFlightBytes: 64 * BLOCK_LENGTH } })
  await turn()
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  t.equal(a.count('request'), 64, 'the budget fills at once')
  for (let i = 0; i < 31; i++) a.deliver()
  t.equal(a.count('request'), 64, '31 blocks back: no request yet (one each would be a write per block)')
  a.deliver()
  t.equal(a.count('request'), 96, 'the 32nd block: 32 requests together')
  t.equal(a.pending.length, 64, 'the budget is full again')
})

t.test('a seed is asked only for pieces no other peer has while a leecher unchokes us; for anything once none does', async (t) => {
  const { wire } = setup(t, { pieces: 4, opts: { minRequestsPerPeer: 2 } })
  await turn()
  const l = wire('l')
  l.bitfield([0, 1, 2])
  l.unchoke()
  t.same([...new Set(l.sent().map((r) => r.index))], [0], 'the leecher (2 deep) is asked for piece 0')
  const s = wire('s')
  s.rate = 16 * BLOCK_LENGTH // deep enough to take every piece
  s.haveAll()
  s.unchoke()
  t.same([...new Set(s.sent().map((r) => r.index))], [3], 'the seed: only piece 3, which no leecher has')
  l.choke() // no Fast: its requests are void; no unchoking leecher is left
  t.same([...new Set(s.sent().map((r) => r.index))].sort(), [0, 1, 2, 3], 'now the seed is asked for the rest')
})

t.test('allowed-fast pieces of a choking peer are used only after allowedFastGrace without an unchoke', async (t) => {
  const { clock, wire } = setup(t, { opts: { allowedFastGrace: 2000, tickInterval: 10 } })
  await turn()
  const a = wire('a', true)
  a.haveAll()
  a.allowFast(5)
  clock.advance(1990) // ticks, but within the grace
  t.equal(a.count('request'), 0, 'within the grace: nothing asked while choked')
  clock.advance(20) // the next tick after it
  t.same([...new Set(a.sent().map((r) => r.index))], [5], 'after it: the allowed-fast piece only')
  const b = wire('b', true)
  b.haveAll()
  b.allowFast(6)
  b.unchoke()
  t.ok(b.count('request') > 0, 'an unchoke within the grace: requests at once, as usual')
})

t.test('requestTimeout snubs a silent peer: its blocks go to another peer', async (t) => {
  const { clock, events, wire } = setup(t, { opts: { requestTimeout: 1000, tickInterval: 10 } })
  await turn()
  const b = wire('b') // attached first, so it is refilled first
  const a = wire('a')
  a.bitfield([0, 1])
  b.bitfield([0, 1])
  a.unchoke()
  b.unchoke()
  const asked = keys(a.sent())
  t.equal(b.count('request'), 0)
  clock.advance(500)
  t.same(events, [], 'not yet')
  clock.advance(600)
  t.same(events, [['peer-snubbed', 'a']])
  t.same(keys(a.calls.filter((c) => c[0] === 'cancel').map(([, index, offset, length]) => ({ index: index!, offset: offset!, length: length! }))), asked,
    'the silent peer is sent cancels for its requests')
  t.same(keys(b.sent()), asked, 'the other peer asks for them')
})

t.test('endgame: duplicates go to a second peer, the first copy cancels the other', async (t) => {
  const { scheduler, blocks, events, wire } = setup(t, { pieces: 1 })
  await turn()
  const a = wire('a')
  const b = wire('b')
  a.haveAll()
  b.haveAll()
  a.unchoke()
  t.equal(a.count('request'), 2, 'every block is requested')
  t.ok(scheduler.inEndgame)
  t.same(events, [['endgame', null]])
  b.unchoke()
  t.same(keys(b.sent()), keys(a.sent()), 'b gets duplicates')
  const first = a.pending[0]!
  a.deliver(first)
  t.same(b.calls.filter((c) => c[0] === 'cancel'), [['cancel', first.index, first.offset, first.length]], 'b is cancelled')
  b.emit('piece', first.index, first.offset, Buffer.alloc(first.length)) // crossed the cancel on the wire
  await turn()
  t.equal(blocks.length, 1, 'the block is pushed once')
  t.equal(scheduler.wasted, first.length, 'the late copy is wasted')
  b.deliver(b.pending[0]!)
  t.same(a.calls.filter((c) => c[0] === 'cancel').length, 1, 'b won the other block: a is cancelled')
  await turn()
  t.equal(blocks.length, 2)
})

t.test('bad pieces: a sole contributor is banned; with several nobody is, until the re-fetch names the liar', async (t) => {
  const { scheduler, ledger, events, wire } = setup(t)
  await turn()
  const a = wire('a')
  const b = wire('b')
  const c = wire('c')
  for (const w of [a, b, c]) w.haveAll()
  failed(ledger, 0, ['a'])
  t.same(events, [['peer-banned', { id: 'a', index: 0, reason: 'sole-contributor' }]])
  t.ok(a.destroyed)
  t.equal((a.destroyError as { code?: string } | undefined)?.code, 'PEER_BANNED')
  t.equal(scheduler.peerCount, 2)

  failed(ledger, 1, ['b', 'c'])
  t.equal(events.length, 1, 'two contributors: nobody banned yet')
  t.notOk(b.destroyed || c.destroyed)
  t.ok(ledger.suspect(1), 'the piece is re-fetched from one peer alone')
  // c re-fetches it alone and it verifies; the ledger compares c's good blocks with the failed attempt's
  ledger.open(1)
  for (let block = 0; block < 2; block++) { ledger.request(1, block, 'c'); ledger.receive(1, block, 'c') }
  ledger.markHashing(1)
  ledger.markVerified(1, [Buffer.alloc(20, 0), Buffer.alloc(20, 7)]) // block 1 (sent by c before) differs… c lied
  t.same(events.slice(1), [['peer-banned', { id: 'c', index: 1, reason: 'block-mismatch' }]], 'exactly the peer whose block differed')
  t.ok(c.destroyed)
  t.notOk(b.destroyed, 'the honest contributor stays')
})

t.test('a banned peer\'s blocks leave every piece still assembling', async (t) => {
  const { ledger, wire } = setup(t, { pieces: 4, opts: { minRequestsPerPeer: 2 } })
  await turn()
  const a = wire('a')
  const b = wire('b')
  a.haveAll()
  b.haveAll()
  a.unchoke()
  b.unchoke()
  const fromA = a.pending.find((r) => r.index !== b.pending[0]!.index) ?? a.pending[0]!
  a.deliver(fromA)
  t.equal(ledger.receivedBlocks(fromA.index), 1)
  failed(ledger, 3, ['a']) // a is convicted by another piece
  t.equal(ledger.receivedBlocks(fromA.index), 0, 'its block is thrown away, to be fetched again')
  t.ok(ledger.generation(fromA.index) > 0, 'a new generation: what is still on its way is dropped downstream')
})

t.test('when every wanted piece is verified the stream ends and peers hear uninterested', async (t) => {
  const { ledger, events, wire } = setup(t, { pieces: 3 })
  await turn()
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  written(ledger, 0)
  written(ledger, 1)
  t.equal(a.count('uninterested'), 0, 'still wanting piece 2')
  written(ledger, 2)
  t.equal(a.count('uninterested'), 1, 'uninterested once done')
  await turn()
  t.same(events, [['end', null]], "the stream ended ('end' after push(null))")
  ledger.markWritten(2)
  t.equal(a.count('uninterested'), 1, 'a repeat changes nothing')
})

t.test('a scheduler over a complete ledger ends at once; with endWhenVerified false it does not', async (t) => {
  const ledger = createLedger({ pieceCount: 1, pieceLength: PIECE_LENGTH, lastPieceLength: PIECE_LENGTH })
  ledger.markWritten(0)
  const open = new Scheduler(ledger, { endWhenVerified: false, clock: new FakeClock() })
  open.resume()
  let ended = false
  open.once('end', () => { ended = true })
  const scheduler = new Scheduler(ledger, { clock: new FakeClock() })
  t.teardown(() => { open.destroy() })
  t.teardown(() => { scheduler.destroy() })
  scheduler.resume()
  await new Promise<void>((resolve) => scheduler.once('end', resolve))
  t.pass('ended')
  t.notOk(ended, 'the other goes on (a torrent may want more later)')
})

t.test("removePeer and a wire's close lower availability and return its blocks", async (t) => {
  const { scheduler, ledger, wire } = setup(t)
  await turn()
  const a = wire('a')
  const b = wire('b')
  const c = wire('c')
  a.bitfield([0, 1])
  b.bitfield([0, 1])
  c.haveAll()
  t.equal(ledger.availability(0), 3)
  t.equal(ledger.availability(5), 1)
  a.unchoke()
  const asked = keys(a.sent())
  b.unchoke()
  t.equal(b.count('request'), 0)
  a.emit('close')
  t.equal(ledger.availability(0), 2, "a's pieces are less available")
  t.equal(scheduler.peerCount, 2)
  t.same(keys(b.sent()), asked, "b asks for a's blocks")
  scheduler.removePeer('c')
  t.equal(ledger.availability(5), 0, 'a seed leaving lowers every piece')
  t.equal(ledger.availability(0), 1)
  t.equal(c.listenerCount('piece'), 0, 'listeners removed')
  scheduler.removePeer('c')
  t.equal(scheduler.peerCount, 1, 'removing twice is harmless')
})

t.test('downloadLimit: requests go out only as tokens allow', async (t) => {
  const clock = new FakeClock()
  const bucket = createTokenBucket({ rate: 2 * BLOCK_LENGTH, capacity: 2 * BLOCK_LENGTH, now: clock.now })
  const { wire } = setup(t, { opts: { downloadLimit: bucket, minRequestsPerPeer: 8, clock } })
  await turn()
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  t.equal(a.count('request'), 2, 'the bucket holds two blocks')
  a.deliver()
  clock.advance(49)
  t.equal(a.count('request'), 2, 'no tokens, no requests')
  clock.advance(501) // tokens come back in 50 ms steps of the retry timer: a block's worth by ~500 ms
  t.equal(a.count('request'), 3, 'half a second later: one more block')
  clock.advance(1000)
  t.equal(a.count('request'), 5, 'a second later: two more (2 blocks/s)')
  clock.advance(5000)
  t.equal(a.pending.length, 7, 'the queue fills to its depth less one (top-ups go in batches of two here), no further')
  const bytes = a.sent().reduce((n, r) => n + r.length, 0)
  t.ok(bytes <= 2 * BLOCK_LENGTH + 6.55 * 2 * BLOCK_LENGTH, 'requested bytes ≤ capacity + rate × time')
})

t.test('a router (lib/streaming/router.ts): a piece with a deadline goes to the fast peer; once late, to a second one; the first copy cancels the other', async (t) => {
  const { DeadlineRouter } = await import('../lib/streaming/router.js')
  const { ledger, clock, wire } = setup(t, { pieces: 8, opts: { router: (picker) => new DeadlineRouter(picker.ledger, picker) } })
  await turn()
  const fast = wire('fast')
  fast.rate = 1_000_000
  fast.peerReqq = BLOCKS_PER_PIECE // room for one piece at a time
  const slow = wire('slow')
  slow.rate = 10_000
  ledger.setDeadline(6, clock.now() + 1000)
  ledger.setDeadline(7, clock.now() + 1100)
  fast.bitfield([0, 1, 2, 3, 4, 5, 6, 7])
  slow.bitfield([0, 1, 2, 3, 4, 5, 6, 7])
  fast.unchoke()
  t.same(fast.sent().map((r) => r.index), [6, 6], 'the fast peer is asked for the piece due first')
  slow.unchoke()
  t.notOk(slow.sent().some((r) => r.index >= 6), 'the slow peer (3 s for a piece due in 1 s) is not asked for piece 7: the fast one will do it sooner')
  t.ok(slow.sent().length > 0, 'it is asked for other pieces')
  // the fast peer goes quiet; past the deadline the next fill of another (now fast) peer duplicates the late piece
  slow.rate = 2_000_000
  clock.advance(1500) // the scheduler's tick refills every peer
  t.equal(slow.sent().filter((r) => r.index === 6).length, BLOCKS_PER_PIECE, 'late: piece 6 asked of the second peer too')
  t.same(ledger.requesters(6, 0), ['fast', 'slow'])
  t.ok(slow.calls.some((c) => c[0] === 'cancel'), 'its queue without deadlines was preempted, so piece 6 is not behind it')
  t.ok(slow.pending.every((r) => ledger.deadline(r.index) !== Infinity || slow.pending.indexOf(r) > slow.pending.findIndex((q) => q.index === 6)), 'nothing without a deadline ahead of piece 6')
  slow.deliver(slow.pending.find((r) => r.index === 6 && r.offset === 0)!)
  t.ok(fast.calls.some((c) => c[0] === 'cancel' && c[1] === 6 && c[2] === 0), 'the first copy wins: the other request is cancelled')
})

t.test('while a reader streams (a deadline exists) a peer is kept only streamingMinRequests deep, unless its rate asks for more', async (t) => {
  const { DeadlineRouter } = await import('../lib/streaming/router.js')
  const { requestDepth } = await import('../lib/scheduler/pipelining.js')
  t.equal(requestDepth({ rate: 0, reqq: 250, snubbed: false }, BLOCK_LENGTH), 16, 'without deadlines: the floor of 16')
  t.equal(requestDepth({ rate: 0, reqq: 250, snubbed: false, streaming: true }, BLOCK_LENGTH), 2, 'streaming: the floor of 2')
  t.equal(requestDepth({ rate: 5 * BLOCK_LENGTH, reqq: 250, snubbed: false, streaming: true }, BLOCK_LENGTH), 5, 'streaming: a peer at 5 blocks/s is kept 1 s deep')
  const { ledger, clock, wire } = setup(t, { pieces: 8, opts: { minRequestsPerPeer: 8, router: (picker) => new DeadlineRouter(picker.ledger, picker) } })
  await turn()
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  t.equal(a.count('request'), 8, 'no deadline: minRequestsPerPeer deep')
  ledger.setDeadline(7, clock.now() + 1000)
  const b = wire('b')
  b.haveAll()
  b.unchoke()
  t.equal(b.count('request'), 2, 'a deadline: streamingMinRequests deep')
  t.ok(b.sent().every((r) => r.index === 7), 'and those are the urgent piece')
})

t.test('a deadline on a piece no peer has does not keep the peers shallow', async (t) => {
  const { DeadlineRouter } = await import('../lib/streaming/router.js')
  const { ledger, clock, wire } = setup(t, { pieces: 8, opts: { minRequestsPerPeer: 8, router: (picker) => new DeadlineRouter(picker.ledger, picker) } })
  await turn()
  ledger.setDeadline(7, clock.now() + 1000) // a reader waits on piece 7
  const a = wire('a')
  a.bitfield([0, 1, 2, 3, 4, 5, 6]) // nobody has piece 7
  a.unchoke()
  t.equal(a.count('request'), 8, 'minRequestsPerPeer deep, not streamingMinRequests')
  const b = wire('b')
  b.haveAll() // now piece 7 can come
  b.unchoke()
  t.equal(b.count('request'), 2, 'a peer with the piece: streamingMinRequests deep')
  t.ok(b.sent().every((r) => r.index === 7), 'and those are the urgent piece')
})

t.test('a piece no longer wanted (a file deselected) has its requests cancelled and its blocks go back', async (t) => {
  const { wire, ledger } = setup(t, { pieces: 4, opts: { minRequestsPerPeer: 8, maxRequestsPerPeer: 8 } })
  await turn()
  const a = wire('a')
  a.haveAll()
  a.unchoke()
  const asked = new Set(a.sent().map((r) => r.index))
  t.ok(asked.size >= 2, `requests for several pieces (${[...asked].join(', ')})`)
  const dropped = [...asked][0]!
  ledger.setPriority(dropped, dropped, 0)
  t.same(a.calls.filter((c) => c[0] === 'cancel').map((c) => c[1]).filter((i) => i !== dropped), [], 'only the unwanted piece\'s requests are cancelled')
  t.ok(a.count('cancel') > 0, 'the unwanted piece\'s requests are cancelled')
  t.notOk(a.pending.some((r) => r.index === dropped), 'none of them is left outstanding')
  t.ok(a.pending.length > 0, 'the wanted pieces\' requests stand')
  ledger.setPriority(dropped, dropped, 1)
  t.ok(a.pending.some((r) => r.index === dropped), 'wanted again: its blocks are free to request again')
})
