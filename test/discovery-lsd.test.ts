import t from 'tap'
import { EventEmitter } from 'node:events'
import type { RemoteInfo, Socket, SocketType } from 'node:dgram'
import {
  decodeLsd,
  encodeLsd,
  Lsd,
  LSD_DEFAULTS,
  LSD_GROUP_IPV4,
  LSD_GROUP_IPV6,
  LSD_MAX_PACKET,
  lsdCapacity,
  type LsdOptions
} from '../lib/discovery/lsd.js'
import { FakeClock } from './helpers/fake-clock.js'

const hash = (n: number): Buffer => Buffer.alloc(20, n)
const S = 1000
const MIN = 60 * S

t.test('codec: the BEP 14 announce, byte for byte, and back', async (t) => {
  const packet = encodeLsd(4, { port: 6881, infoHashes: [hash(0xab), hash(0x01)], cookie: 'zt1' })
  t.equal(packet.toString('latin1'),
    'BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n' +
    `Infohash: ${'ab'.repeat(20)}\r\nInfohash: ${'01'.repeat(20)}\r\ncookie: zt1\r\n\r\n\r\n`)
  t.same(decodeLsd(packet), { port: 6881, infoHashes: [hash(0xab), hash(0x01)], cookie: 'zt1' })
  t.match(encodeLsd(6, { port: 1, infoHashes: [hash(1)], cookie: null }).toString(), /^BT-SEARCH \* HTTP\/1\.1\r\nHost: \[ff15::efc0:988f\]:6771\r\nPort: 1\r\nInfohash: 0{0}/)
  t.notMatch(encodeLsd(6, { port: 1, infoHashes: [hash(1)], cookie: null }).toString(), /cookie/)
  // capacity: the largest announce that fits is within 1400 bytes, one more hash is not
  for (const family of [4, 6] as const) {
    const n = lsdCapacity(family, 65535, 'c'.repeat(64))
    const fits = encodeLsd(family, { port: 65535, infoHashes: Array.from({ length: n }, (_, i) => hash(i)), cookie: 'c'.repeat(64) })
    t.ok(fits.length <= LSD_MAX_PACKET, `${n} hashes over IPv${family}: ${fits.length} bytes`)
    t.throws(() => encodeLsd(family, { port: 65535, infoHashes: Array.from({ length: n + 1 }, (_, i) => hash(i)), cookie: 'c'.repeat(64) }), { code: 'BAD_ARGUMENT' })
  }
  t.throws(() => encodeLsd(4, { port: 1, infoHashes: [], cookie: null }), { code: 'BAD_ARGUMENT' })
  t.throws(() => encodeLsd(4, { port: 1, infoHashes: [hash(1)], cookie: 'has space' }), { code: 'BAD_ARGUMENT' })
})

t.test('codec: lenient like HTTP, strict where it matters', async (t) => {
  const hex = 'Ab'.repeat(20)
  t.same(decodeLsd(Buffer.from(`BT-SEARCH * HTTP/1.1\nhost: x\nPORT: 51413\nX-Other: y\ninfohash: ${hex}\nINFOHASH: ${hex}\nInfohash: nothex\n\n`)),
    { port: 51413, infoHashes: [Buffer.from(hex, 'hex')], cookie: null }, 'LF line ends, any case, duplicates and bad hashes dropped')
  const bad = [
    '',
    'GET / HTTP/1.1\r\nPort: 1\r\nInfohash: ' + hex + '\r\n\r\n',
    'BT-SEARCH * HTTP/1.1\r\nInfohash: ' + hex + '\r\n\r\n', // no port
    'BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: ' + hex + '\r\n\r\n',
    'BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\nInfohash: ' + hex + '\r\n\r\n',
    'BT-SEARCH * HTTP/1.1\r\nPort: 6881x\r\nInfohash: ' + hex + '\r\n\r\n',
    'BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\n\r\n', // no info hash
    'BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: ' + hex.slice(1) + '\r\n\r\n'
  ]
  for (const text of bad) t.equal(decodeLsd(Buffer.from(text)), null, JSON.stringify(text.slice(0, 40)))
  const flood = 'BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n' + Array.from({ length: 100 }, (_, i) => `Infohash: ${i.toString(16).padStart(40, '0')}\r\n`).join('')
  t.equal(decodeLsd(Buffer.from(flood), { maxBytes: 1 << 16, maxInfoHashes: 64 })?.infoHashes.length, 64, 'at most maxInfoHashes')
  t.equal(decodeLsd(Buffer.from(flood)), null, 'over maxBytes: not read')
})

/** A stand-in dgram socket: records what is sent and what the LSD module set on it. */
class FakeSocket extends EventEmitter {
  readonly sent: Array<{ text: string, port: number, host: string }> = []
  readonly memberships: Array<[string, string | undefined]> = []
  ttl = -1
  loopback = false
  closed = false
  constructor (readonly type: SocketType) { super() }
  bind (_port: number, _host: string, cb: () => void): void { process.nextTick(cb) }
  addMembership (group: string, iface?: string): void { this.memberships.push([group, iface]) }
  setMulticastInterface (): void {}
  setMulticastTTL (ttl: number): void { this.ttl = ttl }
  setMulticastLoopback (on: boolean): void { this.loopback = on }
  send (buf: Buffer, port: number, host: string, cb: (err: Error | null) => void): void { this.sent.push({ text: buf.toString('latin1'), port, host }); cb(null) }
  close (): void { this.closed = true }
  deliver (text: string | Buffer, address: string): void {
    const buf = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1')
    this.emit('message', buf, { address, port: 6771, family: address.includes(':') ? 'IPv6' : 'IPv4', size: buf.length } satisfies RemoteInfo)
  }
}

async function harness (opts: Partial<LsdOptions> = {}): Promise<{ lsd: Lsd, clock: FakeClock, v4: FakeSocket, v6: FakeSocket | undefined, peers: string[] }> {
  const clock = new FakeClock()
  const sockets: FakeSocket[] = []
  const lsd = new Lsd({
    port: 6881,
    clock,
    ipv6: true,
    cookie: 'ours',
    createSocket: (type) => { const s = new FakeSocket(type); sockets.push(s); return s as unknown as Socket },
    ...opts
  })
  const peers: string[] = []
  lsd.on('peer', (a, h) => peers.push(`${a.host}:${a.port} ${h.toString('hex').slice(0, 4)}`))
  await lsd.start()
  return { lsd, clock, v4: sockets.find((s) => s.type === 'udp4')!, v6: sockets.find((s) => s.type === 'udp6'), peers }
}

const hashesIn = (text: string): string[] => [...text.matchAll(/Infohash: ([0-9a-f]{40})/g)].map((m) => m[1]!.slice(0, 4))

t.test('sockets: both groups joined, TTL 1, loopback on; announces go to the groups', async (t) => {
  const { lsd, v4, v6, clock } = await harness()
  t.same(v4.memberships, [[LSD_GROUP_IPV4, undefined]])
  t.same(v6?.memberships, [[LSD_GROUP_IPV6, undefined]])
  t.equal(v4.ttl, LSD_DEFAULTS.multicastTtl)
  t.ok(v4.loopback)
  lsd.add({ infoHash: hash(1), private: false })
  clock.advance(0)
  t.same(v4.sent.map((s) => [s.host, s.port]), [[LSD_GROUP_IPV4, 6771]])
  t.same(v6!.sent.map((s) => [s.host, s.port]), [[LSD_GROUP_IPV6, 6771]])
  t.match(v6!.sent[0]!.text, /Host: \[ff15::efc0:988f\]:6771/)
  lsd.close()
  t.ok(v4.closed && v6!.closed)
  t.equal(clock.pending, 0)
})

t.test('timing: at once on add, every 5 minutes, never more than one announce a minute', async (t) => {
  const { lsd, v4, clock } = await harness({ ipv6: false })
  lsd.add({ infoHash: hash(0xa1), private: false })
  clock.advance(0)
  t.same(v4.sent.map((s) => hashesIn(s.text)), [['a1a1']], 'announced at once')
  clock.advance(10 * S)
  lsd.add({ infoHash: hash(0xb2), private: false })
  clock.advance(49 * S)
  t.equal(v4.sent.length, 1, 'the second torrent waits for the minute to pass')
  clock.advance(1 * S)
  t.same(hashesIn(v4.sent[1]!.text), ['b2b2'])
  // from here both are due every 5 minutes: a1 at 5:00, b2 at 6:00 — one a minute
  const times: Array<[number, string[]]> = []
  const start = clock.now() - 60 * S
  for (let s = 0; s < 20 * 60; s++) {
    const before = v4.sent.length
    clock.advance(S)
    for (const p of v4.sent.slice(before)) times.push([(clock.now() - start) / S, hashesIn(p.text)])
  }
  t.same(times.slice(0, 6), [[300, ['a1a1']], [360, ['b2b2']], [600, ['a1a1']], [660, ['b2b2']], [900, ['a1a1']], [960, ['b2b2']]])
  const gaps = times.slice(1).map(([at], i) => at - times[i]![0])
  t.ok(gaps.every((g) => g >= 60), 'at least a minute between announces')
  // refresh (the session has no peers): announced now, unless it just went out
  const sent = v4.sent.length
  t.equal(lsd.refresh(hash(0xcc)), false, 'not ours')
  clock.advance(30 * S)
  t.equal(lsd.refresh(hash(0xa1)), true)
  clock.advance(0)
  t.equal(v4.sent.length, sent, 'b2 went out 30 s ago: the minute cap holds')
  clock.advance(30 * S)
  t.equal(v4.sent.length, sent + 1)
  t.same(hashesIn(v4.sent.at(-1)!.text), ['a1a1'])
  t.equal(lsd.refresh(hash(0xa1)), false, 'right after: refused')
  lsd.close()
})

t.test('timing: more torrents than one datagram holds go round robin, one datagram a minute', async (t) => {
  const { lsd, v4, clock } = await harness({ ipv6: false })
  const capacity = lsdCapacity(6, 6881, 'ours')
  const total = capacity * 2 + 3
  for (let i = 0; i < total; i++) lsd.add({ infoHash: hash(i), private: false })
  clock.advance(0)
  clock.advance(MIN)
  clock.advance(MIN)
  t.same(v4.sent.map((s) => hashesIn(s.text).length), [capacity, capacity, 3])
  t.equal(new Set(v4.sent.flatMap((s) => hashesIn(s.text))).size, total, 'every torrent announced once')
  t.ok(v4.sent.every((s) => Buffer.byteLength(s.text) <= LSD_MAX_PACKET))
  lsd.close()
})

t.test('receiving: peers for our torrents only; our own cookie ignored; a newcomer gets a reply within the rate', async (t) => {
  const { lsd, v4, clock, peers } = await harness({ ipv6: false })
  lsd.add({ infoHash: hash(0xa1), private: false })
  clock.advance(0)
  t.equal(v4.sent.length, 1)
  const theirs = (port: number, ...hashes: Buffer[]): Buffer => encodeLsd(4, { port, infoHashes: hashes, cookie: 'theirs' })
  v4.deliver(v4.sent[0]!.text, '192.168.1.10') // our own, looped back
  t.same(peers, [], 'our own announce')
  v4.deliver(theirs(51413, hash(0xa1), hash(0xcc)), '192.168.1.20')
  t.same(peers, ['192.168.1.20:51413 a1a1'], 'only the torrent we have')
  clock.advance(59 * S)
  t.equal(v4.sent.length, 1, 'no reply within a minute of our announce')
  clock.advance(1 * S)
  t.equal(v4.sent.length, 1, 'and none after: that newcomer arrived while we had just announced')
  clock.advance(60 * S) // two minutes after our announce
  v4.deliver(theirs(6000, hash(0xa1)), '192.168.1.30')
  clock.advance(0)
  t.equal(v4.sent.length, 2, 'a newcomer a while after our announce: we reply at once')
  t.same(hashesIn(v4.sent[1]!.text), ['a1a1'])
  for (let i = 0; i < 10; i++) v4.deliver(theirs(7000 + i, hash(0xa1)), '192.168.1.40')
  clock.advance(0)
  t.equal(v4.sent.length, 2, 'a burst of newcomers: the minute cap holds')
  t.equal(peers.filter((p) => p.startsWith('192.168.1.40')).length, LSD_DEFAULTS.maxMessagesPerMinute, 'one host: 6 datagrams a minute')
  v4.deliver('garbage', '192.168.1.50')
  v4.deliver(theirs(1, hash(0xa1)), '0.0.0.0')
  t.equal(lsd.stats().ignored, 1 + 4 + 1 + 1, 'own + over the rate + garbage + bogus source')
  lsd.close()
})

t.test('private torrents are never announced', async (t) => {
  const { lsd, v4, clock, peers } = await harness({ ipv6: false })
  lsd.add({ infoHash: hash(0xee), private: true })
  clock.advance(10 * MIN)
  t.same(v4.sent, [])
  v4.deliver(encodeLsd(4, { port: 1, infoHashes: [hash(0xee)], cookie: 'x' }), '10.0.0.9')
  t.same(peers, [])
  lsd.close()
})

t.test('IPv4 failing to join is LSD_UNAVAILABLE; IPv6 failing is a warning', async (t) => {
  const failing = (type: SocketType): Socket => {
    const s = new FakeSocket(type)
    if (type === 'udp6') s.addMembership = () => { throw new Error('no IPv6 multicast route') }
    return s as unknown as Socket
  }
  const lsd = new Lsd({ port: 1, ipv6: true, createSocket: failing, clock: new FakeClock() })
  const warnings: Error[] = []
  lsd.on('warning', (e) => warnings.push(e))
  await lsd.start()
  t.match(warnings[0], { code: 'LSD_UNAVAILABLE' })
  lsd.close()
  const broken = new Lsd({
    port: 1,
    ipv6: false,
    clock: new FakeClock(),
    createSocket: (type) => { const s = new FakeSocket(type); s.addMembership = () => { throw new Error('ENODEV') }; return s as unknown as Socket }
  })
  await t.rejects(broken.start(), { code: 'LSD_UNAVAILABLE' })
  t.throws(() => new Lsd({ port: 0 }), { code: 'BAD_ARGUMENT' })
})
