import t from 'tap'
import bencode from 'bencode'
import { decodePex, encodePex, Pex, PEX_DEFAULTS, PEX_FLAGS, type PexOptions } from '../lib/discovery/pex.js'
import { encodeCompact, type PeerAddress } from '../lib/peers/address.js'
import { composeExtendedHandshake } from '../lib/wire/extensions.js'
import { Wire } from '../lib/wire/index.js'
import { rawPeer, tick, type Chunking, type RawPeer } from './helpers/raw-peer.js'
import { FakeClock } from './helpers/fake-clock.js'

const LIMITS = { maxAdded: 100, maxDropped: 100 }
const S = 1000

function bencodeBuf (value: Record<string, unknown>): Buffer {
  const u8 = bencode.encode(value)
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

t.test('codec: IPv4 and IPv6 contacts with flags round-trip; the bytes are the compact forms, keys sorted', async (t) => {
  const added = [
    { host: '1.2.3.4', port: 6881, flags: PEX_FLAGS.seed | PEX_FLAGS.reachable },
    { host: '2a00:1450::1', port: 443, flags: PEX_FLAGS.encryption | PEX_FLAGS.utp },
    { host: '10.0.0.1', port: 1, flags: 0 }
  ]
  const dropped = [{ host: '5.6.7.8', port: 80 }, { host: '::1', port: 2 }]
  const payload = encodePex({ added, dropped })
  t.equal(payload.toString('latin1'), 'd' +
    '5:added12:' + Buffer.concat([encodeCompact(added[0]!), encodeCompact(added[2]!)]).toString('latin1') +
    '7:added.f2:' + String.fromCharCode(0x12, 0) +
    '6:added618:' + encodeCompact(added[1]!).toString('latin1') +
    '8:added6.f1:' + String.fromCharCode(0x05) +
    '7:dropped6:' + encodeCompact(dropped[0]!).toString('latin1') +
    '8:dropped618:' + encodeCompact(dropped[1]!).toString('latin1') + 'e')
  const decoded = decodePex(payload, LIMITS)
  t.same(decoded.added, [added[0], added[2], added[1]], 'IPv4 first, then IPv6')
  t.same(decoded.dropped, dropped)
  t.equal(decoded.excess + decoded.malformed, 0)
  t.equal(encodePex({ added: [], dropped: [] }).toString(), 'de')
  t.throws(() => encodePex({ added: [{ host: 'localhost', port: 1, flags: 0 }], dropped: [] }), { code: 'BAD_ARGUMENT' })
})

t.test('codec: limits, partial contacts and flag strings of the wrong length are counted, not fatal', async (t) => {
  const many = Buffer.concat(Array.from({ length: 300 }, (_, i) => encodeCompact({ host: `10.0.${i >> 8}.${i & 255}`, port: 1000 + i })))
  const big = decodePex(bencodeBuf({ added: many, 'added.f': Buffer.alloc(300, 2), dropped: many }), { maxAdded: 50, maxDropped: 10 })
  t.equal(big.added.length, 50)
  t.equal(big.dropped.length, 10)
  t.equal(big.excess, 250 + 290)
  t.ok(big.added.every((p) => p.flags === 2))
  const partial = decodePex(bencodeBuf({ added: Buffer.concat([encodeCompact({ host: '1.1.1.1', port: 5 }), Buffer.from([1, 2, 3])]) }), LIMITS)
  t.same(partial.added, [{ host: '1.1.1.1', port: 5, flags: 0 }])
  t.equal(partial.malformed, 2, 'partial contact + missing flags')
  const wrongFlags = decodePex(bencodeBuf({ added: encodeCompact({ host: '1.1.1.1', port: 5 }), 'added.f': Buffer.from([1, 2]) }), LIMITS)
  t.same(wrongFlags.added, [{ host: '1.1.1.1', port: 5, flags: 0 }])
  t.equal(wrongFlags.malformed, 1)
  const odd = decodePex(bencodeBuf({ added: 42, dropped: [1, 2], unknown: 'x' }), LIMITS)
  t.same(odd.added, [])
  t.same(odd.dropped, [])
  for (const bad of ['', 'le', 'i3e', '4:abcd', 'd5:added', 'xyz', 'd3:fooi1e']) {
    if (bad === 'd3:fooi1e') continue
    t.throws(() => decodePex(Buffer.from(bad), LIMITS), { code: 'BAD_MESSAGE' }, JSON.stringify(bad))
  }
  t.same(decodePex(Buffer.from('d3:fooi1ee'), LIMITS).added, [], 'unknown keys ignored')
})

interface Harness {
  clock: FakeClock
  pex: Pex
  received: Array<{ host: string, port: number, flags: number }>
  /** A handshaken peer that speaks ut_pex (its id for it: 7), registered as connected at `remote`/`listen`. */
  peer: (remote: PeerAddress, listen?: PeerAddress | null, flags?: number) => RawPeer
  /** A connected peer without a wire of interest (just a Wire object to register). */
  other: (listen: PeerAddress, flags?: number) => Wire
}

function harness (opts: Partial<PexOptions> = {}): Harness {
  const clock = new FakeClock()
  const received: Harness['received'] = []
  const pex = new Pex({ private: false, onPeer: (a, flags) => received.push({ ...a, flags }), clock, ...opts })
  return {
    clock,
    pex,
    received,
    peer (remote, listen = remote, flags = 0) {
      const p = rawPeer()
      pex.attach(p.wire)
      pex.peerConnected(p.wire, { remote, listen, flags })
      p.handshake({ m: { ut_pex: 7 } })
      return p
    },
    other (listen, flags = 0) {
      const w = new Wire({ peerId: Buffer.alloc(20, 1), infoHash: Buffer.alloc(20, 2) })
      w.on('error', () => {})
      pex.peerConnected(w, { remote: listen, listen, flags })
      return w
    }
  }
}

function pexMessages (p: RawPeer): Array<ReturnType<typeof decodePex>> {
  return p.extended().filter((m) => m.id === 7).map((m) => decodePex(m.payload, LIMITS))
}

t.test('sending: the connected peers go out after the first delay, then at most one message a minute, with drops', async (t) => {
  const h = harness()
  const a = h.peer({ host: '10.0.0.1', port: 6881 })
  const b = h.other({ host: '10.0.0.2', port: 6881 }, PEX_FLAGS.seed | PEX_FLAGS.reachable)
  const c = h.other({ host: '2001:db8::3', port: 7000 })
  await tick()
  t.same(pexMessages(a), [], 'nothing before firstMessageDelay')
  h.clock.advance(PEX_DEFAULTS.firstMessageDelay)
  await tick()
  let msgs = pexMessages(a)
  t.equal(msgs.length, 1)
  t.same(msgs[0]!.added, [{ host: '10.0.0.2', port: 6881, flags: 0x12 }, { host: '2001:db8::3', port: 7000, flags: 0 }],
    'the others, never the peer itself')
  t.same(msgs[0]!.dropped, [])
  // c leaves and d arrives right away: a hears of it only a minute after the first message
  h.pex.peerDisconnected(c)
  h.other({ host: '10.0.0.4', port: 6881 })
  h.clock.advance(59 * S)
  await tick()
  t.equal(pexMessages(a).length, 1, 'no second message within the minute')
  h.clock.advance(1 * S)
  await tick()
  msgs = pexMessages(a)
  t.equal(msgs.length, 2)
  t.same(msgs[1]!.added, [{ host: '10.0.0.4', port: 6881, flags: 0 }])
  t.same(msgs[1]!.dropped, [{ host: '2001:db8::3', port: 7000 }])
  // nothing changes: nothing is sent (BEP 11: a message has at least one contact)
  h.clock.advance(10 * 60 * S)
  await tick()
  t.equal(pexMessages(a).length, 2)
  // a change is sent at the next idle check, since the last message is long past
  h.pex.peerDisconnected(b)
  h.clock.advance(PEX_DEFAULTS.idleCheck)
  await tick()
  t.same(pexMessages(a)[2]?.dropped, [{ host: '10.0.0.2', port: 6881 }])
  t.equal(h.pex.stats().messagesSent, 3)
  h.pex.close()
  t.equal(h.clock.pending, 0, 'close cancels every timer')
})

t.test('sending: at most 50 added and 50 dropped per message; the rest follows a minute later', async (t) => {
  const h = harness()
  const a = h.peer({ host: '10.0.0.1', port: 6881 })
  const others = Array.from({ length: 120 }, (_, i) => h.other({ host: `10.1.0.${i}`, port: 6881 }))
  h.clock.advance(PEX_DEFAULTS.firstMessageDelay)
  for (const n of [50, 50, 20]) {
    await tick()
    const last = pexMessages(a).at(-1)!
    t.equal(last.added.length, n)
    h.clock.advance(60 * S)
  }
  const told = new Set(pexMessages(a).flatMap((m) => m.added.map((p) => p.host)))
  t.equal(told.size, 120, 'every peer told once, no duplicates')
  for (const w of others) h.pex.peerDisconnected(w)
  h.clock.advance(PEX_DEFAULTS.idleCheck)
  for (const n of [50, 50, 20]) {
    await tick()
    t.equal(pexMessages(a).at(-1)!.dropped.length, n)
    h.clock.advance(60 * S)
  }
  t.equal(pexMessages(a).length, 6)
  h.pex.close()
})

t.test('sending: a peer without ut_pex, or that turns it off, gets nothing; an incoming peer without a listen port is not advertised', async (t) => {
  const h = harness()
  const plain = rawPeer()
  h.pex.attach(plain.wire)
  h.pex.peerConnected(plain.wire, { remote: { host: '10.0.0.9', port: 50000 }, listen: null, flags: 0 })
  plain.handshake({ m: {} })
  const a = h.peer({ host: '10.0.0.1', port: 6881 })
  h.clock.advance(5 * 60 * S)
  await tick()
  t.same(plain.extended(), [], 'no ut_pex in its handshake: nothing sent')
  t.same(pexMessages(a), [], 'the only other peer has no known listen port: nothing to say')
  h.pex.peerUpdated(plain.wire, { listen: { host: '10.0.0.9', port: 6881 } }) // BEP 10 `p` arrived
  h.clock.advance(PEX_DEFAULTS.idleCheck)
  await tick()
  t.same(pexMessages(a).at(-1)?.added, [{ host: '10.0.0.9', port: 6881, flags: 0 }])
  a.message({ type: 'extended', id: 0, payload: Buffer.from('d1:md6:ut_pexi0eee') })
  h.pex.peerUpdated(plain.wire, { flags: PEX_FLAGS.seed })
  h.other({ host: '10.0.0.10', port: 1 })
  h.clock.advance(10 * 60 * S)
  await tick()
  t.equal(pexMessages(a).length, 1, 'ut_pex turned off: nothing more')
  h.pex.close()
})

t.test('sending: a peer whose wire closes is dropped even when the session forgets to say so', async (t) => {
  const h = harness()
  const a = h.peer({ host: '10.0.0.1', port: 6881 })
  const b = h.other({ host: '10.0.0.2', port: 6881 })
  h.clock.advance(PEX_DEFAULTS.firstMessageDelay)
  await tick()
  t.same(pexMessages(a)[0]?.added.map((p) => p.host), ['10.0.0.2'])
  b.destroy()
  await tick()
  h.clock.advance(60 * S)
  await tick()
  t.same(pexMessages(a)[1]?.dropped, [{ host: '10.0.0.2', port: 6881 }])
  h.pex.close()
})

const HOSTILE_SENDER = { host: '8.8.4.4', port: 6881 }

async function receive (h: Harness, from: PeerAddress, payload: Buffer, chunking: Chunking = 'whole'): Promise<void> {
  const p = h.peer(from)
  p.message({ type: 'extended', id: 1, payload }, chunking)
  await tick()
}

t.test('receiving: the same message whole, a byte at a time and in odd chunks gives the same contacts', async (t) => {
  const payload = encodePex({
    added: [{ host: '1.2.3.4', port: 6881, flags: 2 }, { host: '2a00:1450::2', port: 51413, flags: 0x10 }],
    dropped: [{ host: '9.9.9.9', port: 9 }]
  })
  const results: unknown[] = []
  for (const chunking of ['whole', 'bytes', 'odd'] as const) {
    const h = harness()
    await receive(h, HOSTILE_SENDER, payload, chunking)
    results.push(h.received)
    h.pex.close()
  }
  t.same(results[0], [{ host: '1.2.3.4', port: 6881, flags: 2 }, { host: '2a00:1450::2', port: 51413, flags: 0x10 }])
  t.same(results[1], results[0])
  t.same(results[2], results[0])
})

t.test('receiving, hostile: bogus addresses, local ones from a remote sender, one host many times, floods', async (t) => {
  const h = harness()
  const added = [
    { host: '1.2.3.4', port: 0, flags: 0 }, // port 0
    { host: '0.0.0.0', port: 1, flags: 0 },
    { host: '224.0.0.251', port: 5353, flags: 0 },
    { host: '255.255.255.255', port: 1, flags: 0 },
    { host: '203.0.113.7', port: 1, flags: 0 }, // documentation range
    { host: '127.0.0.1', port: 22, flags: 0 }, // our own machine, pointed at by a remote peer
    { host: '192.168.1.1', port: 80, flags: 0 },
    { host: 'ff02::1', port: 1, flags: 0 },
    { host: '5.5.5.5', port: 1, flags: 0 },
    { host: '5.5.5.5', port: 2, flags: 0 },
    { host: '5.5.5.5', port: 3, flags: 0 }, // third on one host
    { host: '6.6.6.6', port: 6881, flags: 0 }
  ]
  await receive(h, HOSTILE_SENDER, encodePex({ added, dropped: [] }))
  t.same(h.received.map((p) => `${p.host}:${p.port}`), ['5.5.5.5:1', '5.5.5.5:2', '6.6.6.6:6881'])
  t.equal(h.pex.stats().refused, 9)
  h.pex.close()

  // a local sender's local contacts are fine (how the loopback tests work), and allowLocal overrides both ways
  for (const [allowLocal, from, expect] of [
    [undefined, { host: '127.0.0.1', port: 1 }, 2],
    [true, HOSTILE_SENDER, 2],
    [false, { host: '127.0.0.1', port: 1 }, 0]
  ] as const) {
    const g = harness(allowLocal === undefined ? {} : { allowLocal })
    await receive(g, from, encodePex({ added: [{ host: '127.0.0.1', port: 7000, flags: 0 }, { host: '10.0.0.5', port: 7001, flags: 0 }], dropped: [] }))
    t.equal(g.received.length, expect, `allowLocal ${String(allowLocal)} from ${from.host}`)
    g.pex.close()
  }

  // a flood: only one message per minReceiveInterval counts; an oversized payload is not even decoded
  const f = harness()
  const p = f.peer(HOSTILE_SENDER)
  const one = (i: number): Buffer => encodePex({ added: [{ host: `7.7.${i >> 8}.${i & 255}`, port: 1, flags: 0 }], dropped: [] })
  for (let i = 0; i < 1000; i++) p.message({ type: 'extended', id: 1, payload: one(i) })
  t.equal(f.received.length, 1, '999 of 1000 messages in the same instant ignored')
  f.clock.advance(PEX_DEFAULTS.minReceiveInterval)
  p.message({ type: 'extended', id: 1, payload: Buffer.concat([one(5000), Buffer.alloc(PEX_DEFAULTS.maxMessageBytes)]) })
  t.equal(f.received.length, 1, 'oversized: dropped')
  p.message({ type: 'extended', id: 1, payload: Buffer.from('garbage') })
  f.clock.advance(PEX_DEFAULTS.minReceiveInterval)
  p.message({ type: 'extended', id: 1, payload: Buffer.from('d5:added') })
  t.equal(f.pex.stats().malformed, 2)
  t.equal(f.pex.stats().messagesIgnored, 1000)
  t.notOk(p.wire.destroyed, 'garbage is dropped, the connection stays')

  // one message with 1000 contacts: maxReceived read; over the wire's life at most maxPeersPerWire
  const many = (base: number): Buffer => encodePex({
    added: Array.from({ length: 1000 }, (_, i) => ({ host: `8.${base}.${i >> 8}.${i & 255}`, port: 1, flags: 0 })),
    dropped: []
  })
  const before = f.received.length
  for (let round = 0; round < 10; round++) {
    f.clock.advance(PEX_DEFAULTS.minReceiveInterval)
    p.message({ type: 'extended', id: 1, payload: many(round) })
    if (round === 0) t.equal(f.received.length - before, PEX_DEFAULTS.maxReceived)
  }
  t.equal(f.received.length, PEX_DEFAULTS.maxPeersPerWire, 'bounded over the wire\'s life')
  f.pex.close()
})

t.test('private torrents: no ut_pex offered, nothing sent or taken', async (t) => {
  const clock = new FakeClock()
  const got: unknown[] = []
  const pex = new Pex({ private: true, onPeer: (a) => got.push(a), clock })
  t.same(composeExtendedHandshake([pex.handshakePart()]), { m: {} }, 'no ut_pex in our handshake')
  const p = rawPeer()
  pex.attach(p.wire)
  pex.peerConnected(p.wire, { remote: HOSTILE_SENDER, listen: HOSTILE_SENDER, flags: 0 })
  p.handshake({ m: { ut_pex: 1 } })
  p.message({ type: 'extended', id: 1, payload: encodePex({ added: [{ host: '1.1.1.1', port: 1, flags: 0 }], dropped: [] }) })
  clock.advance(10 * 60 * S)
  await tick()
  t.same(got, [])
  t.same(p.extended(), [])
  t.equal(clock.pending, 0)
})
