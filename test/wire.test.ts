import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import {
  BitField,
  COALESCE_BYTES,
  encodeHandshake,
  encodeMessageToBuffer,
  FrameDecoder,
  Wire,
  type Frame,
  type Message,
  type WireOptions
} from '../lib/wire/index.js'
import { FakeClock } from './helpers/fake-clock.js'
import { WIRE_DEFAULTS } from '../lib/wire/wire.js'

const infoHash = Buffer.alloc(20, 0xaa)
const otherHash = Buffer.alloc(20, 0xbb)
const ID_A = Buffer.from('-ZT0100-aaaaaaaaaaaa', 'latin1')
const ID_B = Buffer.from('-ZT0100-bbbbbbbbbbbb', 'latin1')
/** 10 pieces of 32 KiB, the last one 1000 bytes. */
const SHAPE = { pieceCount: 10, pieceLength: 32768, lastPieceLength: 1000 }

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

type Code = string | undefined
function codeOf (err: Error | undefined): Code {
  return (err as { code?: string } | undefined)?.code
}

/** A Wire under test, talking to a scripted raw peer: we write bytes in and decode what it sends. */
function harness (opts: Partial<WireOptions> = {}, peer: { fast?: boolean, extended?: boolean, infoHash?: Buffer } = {}) {
  const clock = new FakeClock(0)
  const wire = new Wire({ peerId: ID_A, infoHash, ...SHAPE, clock, ...opts })
  const sent: Frame[] = []
  const decoder = new FrameDecoder({ handshake: true, maxBlockLength: 1 << 20 })
  wire.on('data', (chunk: Buffer) => { decoder.write(chunk, (f) => { sent.push(f) }) })
  const errors: Error[] = []
  wire.on('error', (err) => errors.push(err))
  const events: Array<[string, ...unknown[]]> = []
  for (const name of ['choke', 'unchoke', 'interested', 'not-interested', 'have', 'bitfield', 'have-all', 'have-none', 'request',
    'piece', 'cancel', 'reject', 'allowed-fast', 'suggest', 'port', 'extended-handshake', 'extended', 'keep-alive', 'unrequested-piece']) {
    wire.on(name, (...args: unknown[]) => events.push([name, ...args]))
  }
  return {
    wire,
    clock,
    sent,
    errors,
    events,
    handshake (): void {
      wire.write(encodeHandshake({ infoHash: peer.infoHash ?? infoHash, peerId: ID_B, fast: peer.fast ?? true, extended: peer.extended ?? true }))
    },
    feed (...msgs: Message[]): void {
      for (const m of msgs) wire.write(encodeMessageToBuffer(m))
    },
    types (): string[] { return sent.map((f) => f.type) }
  }
}

async function expectCode (t: Test, h: { errors: Error[], wire: Wire }, code: string): Promise<void> {
  await tick()
  t.equal(codeOf(h.errors[0]), code, `destroyed with ${code}`)
  t.ok(h.wire.destroyed)
  t.equal(h.errors.length, 1, 'one error, nothing else disturbed')
}

t.test('two Wires back to back: every message round-trips with its event', async t => {
  const a = new Wire({ peerId: ID_A, infoHash, ...SHAPE })
  const b = new Wire({ peerId: ID_B })
  a.pipe(b).pipe(a)
  const seen: Array<[string, ...unknown[]]> = []
  for (const name of ['keep-alive', 'choke', 'unchoke', 'interested', 'not-interested', 'have', 'bitfield', 'have-all', 'have-none',
    'request', 'piece', 'cancel', 'reject', 'allowed-fast', 'suggest', 'port', 'extended-handshake', 'extended']) {
    a.on(name, (...args: unknown[]) => seen.push(['a:' + name, ...args]))
    b.on(name, (...args: unknown[]) => seen.push(['b:' + name, ...args]))
  }
  const aHandshake = new Promise((resolve) => a.once('handshake', resolve))
  const bHandshake = new Promise<void>((resolve) => b.once('handshake', (hs) => {
    t.same(hs.infoHash, infoHash)
    t.same(hs.peerId, ID_A)
    t.ok(hs.extended && hs.fast)
    b.accept({ infoHash: hs.infoHash, ...SHAPE })
    resolve()
  }))
  await bHandshake
  await aHandshake
  t.same(a.peerId, ID_B)
  t.ok(a.supportsFast && a.supportsExtended && b.supportsFast && b.supportsExtended)

  const bf = new BitField(10)
  bf.set(1)
  bf.set(9)
  a.keepAlive()
  a.unchoke()
  a.choke()
  a.interested()
  a.uninterested()
  a.have(3)
  a.bitfield(bf)
  a.haveAll()
  a.haveNone()
  a.suggest(2)
  a.allowedFast(4)
  a.port(6881)
  a.extendedHandshake({ m: { ut_metadata: 2 }, metadata_size: 1234 })
  a.extended(2, Buffer.from('hi'))
  await tick()
  t.same(seen, [
    ['b:keep-alive'], ['b:unchoke'], ['b:choke', []], ['b:interested'], ['b:not-interested'], ['b:have', 3],
    ['b:bitfield', b.peerPieces], ['b:have-all'], ['b:have-none'], ['b:suggest', 2], ['b:allowed-fast', 4], ['b:port', 6881],
    ['b:extended-handshake', { m: { ut_metadata: 2 }, v: 'zentorrent 0.1.0', reqq: 500, metadata_size: 1234 }],
    ['b:extended', 2, Buffer.from('hi')]
  ])
  t.equal(b.peerReqq, 500, "the reqq a advertised")
  t.equal(b.peerExtended?.metadata_size, 1234)
  t.notOk(b.peerInterested)
  t.ok(b.peerChoking)
  t.same(b.peerAllowedFast, new Set([4]))

  // Requests, pieces, rejects, cancels: b downloads from a.
  seen.length = 0
  a.on('request', (index: number, offset: number, length: number) => {
    if (index === 1 && offset === 0) a.piece(index, offset, Buffer.alloc(length, index))
    else if (offset === 16384) a.reject(index, offset, length)
  })
  a.unchoke()
  b.interested()
  b.request(1, 0, 16384)
  b.request(1, 16384, 16384)
  b.request(9, 0, 1000)
  await tick()
  t.equal(b.requests.count, 1, 'the piece and the reject settled two requests')
  b.cancel(9, 0, 1000)
  await tick()
  // Each side's events in order (messages sent in one tick travel together, so the two sides interleave freely).
  t.same(seen.filter(([name]) => name.startsWith('a:')), [
    ['a:interested'], ['a:request', 1, 0, 16384], ['a:request', 1, 16384, 16384], ['a:request', 9, 0, 1000],
    ['a:cancel', 9, 0, 1000]
  ], 'a sees the interest, the three requests and the cancel')
  t.same(seen.filter(([name]) => name.startsWith('b:')), [
    ['b:unchoke'], ['b:piece', 1, 0, Buffer.alloc(16384, 1)], ['b:reject', 1, 16384, 16384]
  ], 'the reject a sends for the cancel (BEP 6) is absorbed by b')
  t.equal(b.requests.count, 0)
  t.equal(a.peerRequests.count, 0)
  t.equal(b.downloaded, 16384)
  t.equal(a.uploaded, 16384)
  t.equal(b.unrequestedPieces, 0)
  t.ok(a.peerInterested)
  t.notOk(b.peerChoking)
  a.destroy()
  b.destroy()
})

t.test('initial state is choked and not interested on both sides (BEP 3)', async t => {
  const { wire } = harness()
  t.ok(wire.amChoking)
  t.notOk(wire.amInterested)
  t.ok(wire.peerChoking)
  t.notOk(wire.peerInterested)
  t.equal(wire.peerId, null)
  t.equal(wire.peerExtended, null)
  t.equal(wire.peerPieces.count(), 0)
  t.equal(wire.requests.count, 0)
  wire.destroy()
})

t.test('initiator: our handshake goes out first, before any queued message', async t => {
  const h = harness()
  h.wire.interested()
  await tick()
  t.same(h.types(), ['handshake', 'interested'])
  h.wire.destroy()
})

t.test('initiator: a handshake for another torrent is INFO_HASH_MISMATCH', async t => {
  const h = harness({}, { infoHash: otherHash })
  h.handshake()
  await expectCode(t, h, 'INFO_HASH_MISMATCH')
})

t.test('initiator: a wrong protocol string is BAD_HANDSHAKE', async t => {
  const h = harness()
  const hs = encodeHandshake({ infoHash, peerId: ID_B })
  hs.write('BitTorrent Protocol', 1, 'latin1')
  h.wire.write(hs)
  await expectCode(t, h, 'BAD_HANDSHAKE')
})

t.test('responder: waits for accept, holding messages that came with the handshake', async t => {
  const h = harness({ infoHash: undefined, pieceCount: undefined, pieceLength: undefined, lastPieceLength: undefined })
  let announced: Buffer | undefined
  h.wire.on('handshake', (hs) => { announced = hs.infoHash })
  const chunk = Buffer.concat([
    encodeHandshake({ infoHash, peerId: ID_B }),
    encodeMessageToBuffer({ type: 'bitfield', bitfield: Buffer.from([0xff, 0xc0]) }),
    encodeMessageToBuffer({ type: 'interested' })
  ])
  let writeDone = false
  h.wire.write(chunk, () => { writeDone = true })
  await tick()
  t.same(announced, infoHash)
  t.same(h.sent, [], 'nothing sent before accept')
  t.same(h.events, [], 'nothing parsed past the handshake before accept')
  t.notOk(writeDone, 'the socket is back-pressured meanwhile')
  t.equal(h.wire.peerId?.toString('latin1'), ID_B.toString('latin1'))
  t.throws(() => { h.wire.accept({ infoHash: otherHash, ...SHAPE }) }, { code: 'BAD_ARGUMENT' })
  h.wire.accept({ infoHash, ...SHAPE })
  await tick()
  t.ok(writeDone)
  t.same(h.types(), ['handshake'])
  const ours = h.sent[0]
  if (ours.type === 'handshake') t.same(ours.infoHash, infoHash)
  t.same(h.events.map((e) => e[0]), ['bitfield', 'interested'])
  t.equal(h.wire.peerPieces.length, 10, 'the bitfield was checked against the accepted piece count')
  t.ok(h.wire.peerPieces.hasAll())
  t.ok(h.wire.handshakeComplete)
  h.wire.destroy()
})

t.test('responder: refusing an unknown info hash', async t => {
  const h = harness({ infoHash: undefined })
  h.wire.on('handshake', () => {
    h.wire.destroy(Object.assign(new Error('unknown torrent'), { code: 'UNKNOWN_INFO_HASH' }))
  })
  h.handshake()
  await expectCode(t, h, 'UNKNOWN_INFO_HASH')
  t.same(h.sent, [], 'we never sent a handshake')
})

t.test('responder: accept() from inside the handshake listener keeps parsing the same chunk', async t => {
  const h = harness({ infoHash: undefined })
  h.wire.on('handshake', (hs) => { h.wire.accept({ infoHash: hs.infoHash, ...SHAPE }) })
  h.wire.write(Buffer.concat([encodeHandshake({ infoHash, peerId: ID_B }), encodeMessageToBuffer({ type: 'have', index: 3 })]))
  await tick()
  t.same(h.events, [['have', 3]])
  h.wire.destroy()
})

t.test('hostile peers: each ends with its code', async t => {
  const cases: Array<[string, Message[] | Buffer, string, Partial<WireOptions>?, { fast?: boolean, extended?: boolean }?]> = [
    ['oversized length', Buffer.from([0x7f, 0xff, 0xff, 0xff, 7]), 'MESSAGE_TOO_LONG'],
    ['bitfield with spare bits', [{ type: 'bitfield', bitfield: Buffer.from([0xff, 0xe0]) }], 'BAD_BITFIELD'],
    ['bitfield of the wrong length', [{ type: 'bitfield', bitfield: Buffer.from([0xff]) }], 'BAD_BITFIELD'],
    ['have past the last piece', [{ type: 'have', index: 10 }], 'INDEX_OUT_OF_RANGE'],
    ['request past the last piece', [{ type: 'request', index: 10, offset: 0, length: 100 }], 'INDEX_OUT_OF_RANGE'],
    ['request past the end of the short last piece', [{ type: 'request', index: 9, offset: 0, length: 1001 }], 'INDEX_OUT_OF_RANGE'],
    ['request past the end of a piece', [{ type: 'request', index: 0, offset: 32768, length: 1 }], 'INDEX_OUT_OF_RANGE'],
    ['piece past the end of a piece', [{ type: 'piece', index: 0, offset: 32760, data: Buffer.alloc(16) }], 'INDEX_OUT_OF_RANGE'],
    ['cancel past the last piece', [{ type: 'cancel', index: 11, offset: 0, length: 1 }], 'INDEX_OUT_OF_RANGE'],
    ['suggest past the last piece', [{ type: 'suggest', index: 10 }], 'INDEX_OUT_OF_RANGE'],
    ['allowed-fast past the last piece', [{ type: 'allowed-fast', index: 10 }], 'INDEX_OUT_OF_RANGE'],
    ['request over maxRequestLength', [{ type: 'request', index: 0, offset: 0, length: 16385 }], 'REQUEST_TOO_LONG'],
    ['empty request', [{ type: 'request', index: 0, offset: 0, length: 0 }], 'BAD_MESSAGE'],
    ['have-all without the Fast bit', [{ type: 'have-all' }], 'BAD_MESSAGE', {}, { fast: false }],
    ['reject without the Fast bit', [{ type: 'reject', index: 0, offset: 0, length: 1 }], 'BAD_MESSAGE', {}, { fast: false }],
    ['have-none when we did not offer Fast', [{ type: 'have-none' }], 'BAD_MESSAGE', { fast: false }],
    ['suggest without the Fast bit', [{ type: 'suggest', index: 1 }], 'BAD_MESSAGE', {}, { fast: false }],
    ['allowed-fast without the Fast bit', [{ type: 'allowed-fast', index: 1 }], 'BAD_MESSAGE', {}, { fast: false }],
    ['extended without the BEP 10 bit', [{ type: 'extended', id: 0, payload: Buffer.from('de') }], 'BAD_MESSAGE', {}, { extended: false }],
    ['extended handshake not a dict', [{ type: 'extended', id: 0, payload: Buffer.from('i1e') }], 'BAD_MESSAGE'],
    ['reject for a request never sent', [{ type: 'reject', index: 0, offset: 0, length: 1 }], 'BAD_MESSAGE']
  ]
  for (const [name, input, code, opts, peer] of cases) {
    await t.test(name, async t => {
      const h = harness(opts, peer)
      h.handshake()
      if (Buffer.isBuffer(input)) h.wire.write(input)
      else h.feed(...input)
      await expectCode(t, h, code)
    })
  }
})

t.test('unknown message ids are skipped, not fatal', async t => {
  const h = harness()
  h.handshake()
  h.wire.write(Buffer.from([0, 0, 0, 3, 0x63, 1, 2]))
  h.feed({ type: 'have', index: 1 })
  await tick()
  t.same(h.errors, [])
  t.same(h.events, [['have', 1]])
  h.wire.destroy()
})

/** The n-th distinct 16-byte block of SHAPE's first nine pieces (32 KiB each; the tenth has 1000 bytes). */
const nth = (n: number): Message => ({ type: 'request', index: n % 9, offset: Math.floor(n / 9) * 16, length: 16 })
const requests = (from: number, to: number): Message[] => Array.from({ length: to - from }, (_, i) => nth(from + i))
const LIMITS = { reqq: 3, maxPeerRequests: 5, maxRefusedRequests: 10, maxRepeatedRequests: 4 }

t.test('past reqq requests are still held and served; past maxPeerRequests refused, not fatal', async t => {
  for (const fast of [false, true]) {
    const h = harness(LIMITS, { fast })
    h.handshake()
    h.wire.unchoke()
    h.feed(...requests(0, 8))
    await tick()
    t.equal(h.events.filter(([name]) => name === 'request').length, 5, `fast ${fast}: five held (reqq 3 is only advertised)`)
    t.equal(h.wire.peerRequests.count, 5)
    t.equal(h.types().filter((x) => x === 'reject').length, fast ? 3 : 0, `fast ${fast}: the rest ${fast ? 'rejected (BEP 6)' : 'dropped silently (BEP 3)'}`)
    t.same(h.errors, [], `fast ${fast}: not dropped`)
    h.wire.piece(0, 0, Buffer.alloc(16))
    h.feed(nth(8))
    await tick()
    t.equal(h.wire.peerRequests.count, 5, 'a served block makes room for one more')
    h.wire.destroy()
  }
})

t.test('a real flood is REQUEST_FLOOD: refused requests far past the queue without a block served between', async t => {
  for (const fast of [false, true]) {
    const h = harness(LIMITS, { fast })
    h.handshake()
    h.wire.unchoke()
    h.feed(...requests(0, 5 + 10))
    await tick()
    t.same(h.errors, [], `fast ${fast}: ten refused are tolerated`)
    h.feed(nth(15))
    await expectCode(t, h, 'REQUEST_FLOOD')
  }
})

t.test('asking again and again for refused blocks is REQUEST_FLOOD', async t => {
  const h = harness({ ...LIMITS, maxRefusedRequests: 1000 })
  h.handshake()
  h.wire.unchoke()
  h.feed(...requests(0, 6))
  for (let i = 0; i < 4; i++) h.feed(nth(5))
  await tick()
  t.same(h.errors, [], 'four repeats are tolerated')
  h.feed(nth(5))
  await expectCode(t, h, 'REQUEST_FLOOD')
})

t.test('serving a block resets the flood counts', async t => {
  const h = harness(LIMITS)
  h.handshake()
  h.wire.unchoke()
  h.feed(...requests(0, 5))
  let next = 1000
  for (let round = 0; round < 20; round++) {
    // each round: six refused, three of them repeats, then one block served and the queue filled again
    h.feed(nth(100), nth(101), nth(102), nth(100), nth(101), nth(102))
    await tick()
    const held = h.wire.peerRequests.list()[0]!
    h.wire.piece(held.index, held.offset, Buffer.alloc(held.length))
    h.feed(nth(next++))
    await tick()
  }
  t.same(h.errors, [], '120 refused and 60 repeats in all, never more than 6 and 3 between two blocks')
  t.equal(h.wire.uploaded, 20 * 16)
  h.wire.destroy()
})

t.test('requests while we choke count as refused: a flood of them is REQUEST_FLOOD', async t => {
  const h = harness(LIMITS, { fast: false })
  h.handshake()
  h.feed(...requests(0, 10))
  await tick()
  t.same(h.errors, [])
  t.same(h.events, [], 'discarded (BEP 3)')
  h.feed(nth(10))
  await expectCode(t, h, 'REQUEST_FLOOD')
})

t.test('defaults: rtorrent\'s 700 outstanding requests (it ignores reqq) are all held; libtorrent\'s bounds', async t => {
  t.equal(WIRE_DEFAULTS.reqq, 500)
  t.equal(WIRE_DEFAULTS.maxPeerRequests, 2000, 'libtorrent\'s max_allowed_in_request_queue')
  t.ok(WIRE_DEFAULTS.maxRefusedRequests >= 10 * WIRE_DEFAULTS.maxPeerRequests, 'a flood is an order of magnitude past the queue')
  const h = harness({ pieceCount: 100, pieceLength: 1 << 20, lastPieceLength: 1 << 20 }, { fast: false })
  h.handshake()
  h.wire.unchoke()
  const many: Message[] = []
  for (let n = 0; n < 700; n++) many.push({ type: 'request', index: n % 100, offset: Math.floor(n / 100) * 16384, length: 16384 })
  h.feed(...many)
  await tick()
  t.same(h.errors, [])
  t.equal(h.wire.peerRequests.count, 700)
  t.equal(h.events.filter(([name]) => name === 'request').length, 700)
  h.wire.destroy()
})

t.test('requests while we choke: ignored without Fast, rejected with it (unless allowed-fast)', async t => {
  const plain = harness({}, { fast: false })
  plain.handshake()
  plain.feed({ type: 'request', index: 0, offset: 0, length: 16384 })
  await tick()
  t.same(plain.events, [])
  t.same(plain.types(), ['handshake'])
  plain.wire.destroy()

  const fast = harness()
  fast.handshake()
  fast.wire.allowedFast(2)
  fast.feed({ type: 'request', index: 0, offset: 0, length: 16384 }, { type: 'request', index: 2, offset: 0, length: 16384 })
  await tick()
  t.same(fast.types(), ['handshake', 'allowed-fast', 'reject'])
  t.same(fast.events, [['request', 2, 0, 16384]], 'the allowed-fast piece may be requested while choked')
  fast.wire.destroy()
})

t.test('our choke: BEP 3 drops their requests; with Fast each is rejected', async t => {
  for (const peerFast of [false, true]) {
    const h = harness({}, { fast: peerFast })
    h.handshake()
    h.wire.unchoke()
    h.feed({ type: 'request', index: 0, offset: 0, length: 16384 }, { type: 'request', index: 1, offset: 0, length: 16384 })
    await tick()
    t.equal(h.wire.peerRequests.count, 2)
    h.wire.choke()
    await tick()
    t.equal(h.wire.peerRequests.count, 0)
    t.same(h.types(), peerFast ? ['handshake', 'unchoke', 'choke', 'reject', 'reject'] : ['handshake', 'unchoke', 'choke'])
    h.wire.destroy()
  }
})

t.test('their choke without Fast voids our requests; a block still in flight is dropped quietly', async t => {
  const h = harness({}, { fast: false })
  h.handshake()
  h.feed({ type: 'unchoke' })
  h.wire.request(0, 0, 16384)
  h.wire.request(0, 16384, 16384)
  h.feed({ type: 'choke' })
  await tick()
  t.equal(h.wire.requests.count, 0)
  t.same(h.events[1], ['choke', [{ index: 0, offset: 0, length: 16384 }, { index: 0, offset: 16384, length: 16384 }]])
  h.feed({ type: 'piece', index: 0, offset: 0, data: Buffer.alloc(16384) })
  await tick()
  t.equal(h.wire.unrequestedPieces, 0)
  t.equal(h.wire.downloaded, 0)
  t.same(h.errors, [])
  h.wire.destroy()
})

t.test('their choke with Fast keeps our requests until rejected (BEP 6)', async t => {
  const h = harness()
  h.handshake()
  h.feed({ type: 'unchoke' })
  h.wire.request(0, 0, 16384)
  h.wire.request(0, 16384, 16384)
  h.feed({ type: 'choke' })
  await tick()
  t.equal(h.wire.requests.count, 2)
  h.feed({ type: 'reject', index: 0, offset: 0, length: 16384 })
  await tick()
  t.same(h.wire.requests.list(), [{ index: 0, offset: 16384, length: 16384 }])
  t.same(h.events.at(-1), ['reject', 0, 0, 16384])
  h.wire.destroy()
})

t.test('unrequested blocks are dropped and counted; past the limit UNREQUESTED_PIECE', async t => {
  const h = harness({ maxUnrequestedPieces: 2 })
  h.handshake()
  h.feed({ type: 'piece', index: 0, offset: 0, data: Buffer.alloc(10) }, { type: 'piece', index: 0, offset: 10, data: Buffer.alloc(10) })
  await tick()
  t.equal(h.wire.unrequestedPieces, 2)
  t.equal(h.wire.downloaded, 0)
  t.same(h.errors, [])
  t.same(h.events.map((e) => e[0]), ['unrequested-piece', 'unrequested-piece'])
  h.feed({ type: 'piece', index: 0, offset: 20, data: Buffer.alloc(10) })
  await expectCode(t, h, 'UNREQUESTED_PIECE')
})

t.test('a block of another length than requested is unrequested', async t => {
  const h = harness()
  h.handshake()
  h.feed({ type: 'unchoke' })
  h.wire.request(0, 0, 16384)
  h.feed({ type: 'piece', index: 0, offset: 0, data: Buffer.alloc(100) })
  await tick()
  t.equal(h.wire.unrequestedPieces, 1)
  t.equal(h.wire.requests.count, 1)
  h.wire.destroy()
})

t.test('a block after requests.clear() is late, not hostile', async t => {
  const h = harness({ maxUnrequestedPieces: 0 })
  h.handshake()
  h.wire.request(3, 0, 16384)
  t.same(h.wire.requests.clear(), [{ index: 3, offset: 0, length: 16384 }])
  h.feed({ type: 'piece', index: 3, offset: 0, data: Buffer.alloc(16384) })
  await tick()
  t.same(h.errors, [])
  h.wire.destroy()
})

t.test('have, bitfield, have-all and have-none fill peerPieces', async t => {
  const h = harness()
  h.handshake()
  h.feed({ type: 'bitfield', bitfield: Buffer.from([0x80, 0x40]) })
  t.same([...h.wire.peerPieces], [0, 9])
  h.feed({ type: 'have', index: 4 })
  t.same([...h.wire.peerPieces], [0, 4, 9])
  h.feed({ type: 'have-all' })
  t.ok(h.wire.peerPieces.hasAll())
  h.feed({ type: 'have-none' })
  t.ok(h.wire.peerPieces.hasNone())
  h.wire.destroy()
})

t.test('with an unknown piece count, have grows peerPieces', async t => {
  const h = harness({ pieceCount: undefined, pieceLength: undefined, lastPieceLength: undefined })
  h.handshake()
  h.feed({ type: 'have', index: 100 }, { type: 'request', index: 5000, offset: 0, length: 10 })
  await tick()
  t.equal(h.wire.peerPieces.length, 101)
  t.ok(h.wire.peerPieces.get(100))
  t.same(h.errors, [])
  h.wire.destroy()
})

t.test('keep-alive after keepAliveInterval of our silence; PEER_TIMEOUT after timeout of theirs', async t => {
  const h = harness({ keepAliveInterval: 120_000, timeout: 180_000 })
  h.handshake()
  h.clock.advance(119_999)
  await tick()
  t.same(h.types(), ['handshake'])
  h.clock.advance(1)
  await tick()
  t.same(h.types(), ['handshake', 'keep-alive'])
  h.feed({ type: 'keep-alive' }) // the peer speaks at t=120 s: its deadline moves to 300 s
  t.equal(h.wire.lastMessageAt, 120_000)
  h.clock.advance(179_999)
  await tick()
  t.same(h.errors, [])
  h.clock.advance(1)
  await expectCode(t, h, 'PEER_TIMEOUT')
  t.equal(h.clock.pending, 0, 'timers cleared on destroy')
})

t.test('HANDSHAKE_TIMEOUT when the peer never answers', async t => {
  const h = harness({ handshakeTimeout: 5000 })
  h.clock.advance(4999)
  await tick()
  t.same(h.errors, [])
  h.clock.advance(1)
  await expectCode(t, h, 'HANDSHAKE_TIMEOUT')
  t.equal(h.clock.pending, 0)
})

t.test('HANDSHAKE_TIMEOUT when a responder owner never accepts', async t => {
  const h = harness({ infoHash: undefined, handshakeTimeout: 5000 })
  h.handshake()
  h.clock.advance(5000)
  await expectCode(t, h, 'HANDSHAKE_TIMEOUT')
})

t.test('destroy clears every timer', async t => {
  const h = harness()
  h.handshake()
  t.equal(h.clock.pending, 1)
  h.wire.destroy()
  await tick()
  t.equal(h.clock.pending, 0)
})

t.test('rates over a sliding window, on the injected clock', async t => {
  const h = harness()
  h.handshake()
  h.feed({ type: 'unchoke' })
  for (let i = 0; i < 10; i++) {
    h.wire.request(0, 0, 16384)
    h.feed({ type: 'piece', index: 0, offset: 0, data: Buffer.alloc(16384) })
    h.clock.advance(100)
  }
  t.equal(h.wire.downloaded, 163840)
  t.equal(h.wire.downloadRate(), 163840 * 1000 / 1000, '160 KiB over 1 s')
  h.clock.advance(10_000)
  t.equal(h.wire.downloadRate(), 0, 'forgotten after the window')
  t.equal(h.wire.uploadRate(), 0)
  h.wire.destroy()
})

t.test('backpressure: nothing is pushed past a full readable buffer; SEND_BUFFER_FULL past the bound', async t => {
  const wire = new Wire({ peerId: ID_A, infoHash, ...SHAPE, maxSendBuffer: 100_000 })
  const errors: Error[] = []
  wire.on('error', (err) => errors.push(err))
  const block = Buffer.alloc(16384)
  for (let i = 0; i < 5; i++) wire.piece(0, 0, block)
  t.ok(wire.sendBuffered > 0, 'queued by us, not pushed')
  t.ok(wire.readableLength <= 16384 + 68 + COALESCE_BYTES, 'the stream buffer holds at most one coalesced chunk over its mark')
  // Drain through a PassThrough: everything arrives in order.
  const sink = new PassThrough()
  const received: Buffer[] = []
  sink.on('data', (c: Buffer) => received.push(c))
  wire.pipe(sink)
  await tick()
  t.equal(wire.sendBuffered, 0)
  const all = Buffer.concat(received)
  t.equal(all.length, 68 + 5 * (13 + 16384))
  wire.unpipe(sink)
  wire.pause()
  for (let i = 0; i < 10; i++) wire.piece(0, 0, block)
  await tick()
  t.equal(codeOf(errors[0]), 'SEND_BUFFER_FULL')
})

t.test('send methods for Fast messages refuse when Fast was not negotiated', async t => {
  const h = harness({}, { fast: false })
  h.handshake()
  await tick()
  t.throws(() => { h.wire.haveAll() }, { code: 'BAD_ARGUMENT' })
  t.throws(() => { h.wire.reject(0, 0, 1) }, { code: 'BAD_ARGUMENT' })
  t.throws(() => { h.wire.request(0, 0, 16385) }, { code: 'BAD_ARGUMENT' })
  h.wire.destroy()
})

t.test('the peer ending its side ends ours after what is queued', async t => {
  const h = harness()
  h.handshake()
  h.wire.interested()
  const ended = new Promise((resolve) => h.wire.on('end', resolve))
  h.wire.end()
  await ended
  t.same(h.types(), ['handshake', 'interested'])
})
