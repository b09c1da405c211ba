import t from 'tap'
import { UdpTracker, type AnnounceRequest } from '../lib/tracker/index.js'
import { scriptedUdp, connectThen, udpReply, u32, compactPeers, closedPort, type UdpPacket } from './helpers/tracker-scripted.js'
import { HANG_BOUND_MS } from './helpers/bounds.js'

const infoHash = Buffer.alloc(20, 0xab)
const peerId = Buffer.from('-ZT0001-abcdefghijkl')
const request: AnnounceRequest = { infoHash, peerId, port: 6881, uploaded: 1, downloaded: 2, left: 3, numwant: 50, key: 0x01020304 }
// Generous for the exchanges that must not retransmit (a loaded CI machine); the timeout tests use tiny ones.
const fast = { baseTimeout: 1000, retries: 2 }

/** An announce reply: interval, leechers, seeders, peers. */
const announceReply = (p: UdpPacket, peers: Buffer, interval = 1800): Buffer => udpReply(1, p.transactionId, u32(interval, 7, 8), peers)

t.test('connect then announce: fields in place, IPv4 peers', async (t) => {
  const server = await scriptedUdp(connectThen((p) => p.reply(announceReply(p, compactPeers(3)))))
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, fast)
  t.teardown(() => client.close())
  const reply = await client.announce({ ...request, event: 'started' })
  t.same(reply, { interval: 1800, incomplete: 7, complete: 8, peers: [
    { host: '10.0.0.1', port: 6881, family: 4 }, { host: '10.0.0.2', port: 6881, family: 4 }, { host: '10.0.0.3', port: 6881, family: 4 }] })
  const connect = server.received.find((p) => p.action === 0)!
  const announce = server.received.find((p) => p.action === 1)!
  t.equal(connect.packet.readBigUInt64BE(0), 0x41727101980n, 'protocol id')
  const a = announce.packet
  t.equal(a.length, 98)
  t.equal(a.subarray(0, 8).toString('hex'), '0011223344556677', 'connection id')
  t.equal(announce.action, 1)
  t.same(a.subarray(16, 36), infoHash)
  t.same(a.subarray(36, 56), peerId)
  t.same([a.readBigUInt64BE(56), a.readBigUInt64BE(64), a.readBigUInt64BE(72)], [2n, 3n, 1n], 'downloaded, left, uploaded')
  t.equal(a.readUInt32BE(80), 2, 'event started = 2')
  t.equal(a.readUInt32BE(88), 0x01020304, 'key')
  t.equal(a.readInt32BE(92), 50, 'numwant')
  t.equal(a.readUInt16BE(96), 6881, 'port')
})

t.test('an IPv6 tracker returns 18-byte peers', async (t) => {
  const v6 = Buffer.alloc(18)
  Buffer.from('fe800000000000000000000000000001', 'hex').copy(v6)
  v6.writeUInt16BE(7000, 16)
  const server = await scriptedUdp(connectThen((p) => p.reply(announceReply(p, v6))), 6)
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, fast)
  t.teardown(() => client.close())
  t.same((await client.announce(request)).peers, [{ host: 'fe80::1', port: 7000, family: 6 }])
})

t.test('the connection id is reused for a minute, then renewed', async (t) => {
  let now = 1_000_000
  const server = await scriptedUdp(connectThen((p) => p.reply(announceReply(p, Buffer.alloc(0)))))
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, { ...fast, now: () => now })
  t.teardown(() => client.close())
  await client.announce(request)
  now += 59_000
  await client.announce(request)
  t.same(server.received.map((p) => p.action), [0, 1, 1], 'one connect for two announces')
  now += 2_000
  await client.announce(request)
  t.same(server.received.map((p) => p.action), [0, 1, 1, 0, 1], 'connect again after 60 s')
})

t.test('a wrong transaction id is ignored and the right one accepted; so is a short packet', async (t) => {
  const server = await scriptedUdp(connectThen((p) => {
    p.reply(Buffer.from([1, 2, 3]))
    p.reply(announceReply({ ...p, transactionId: (p.transactionId + 1) >>> 0 }, compactPeers(9)))
    setTimeout(() => p.reply(announceReply(p, compactPeers(1))), 10)
  }))
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, fast)
  t.teardown(() => client.close())
  t.equal((await client.announce(request)).peers.length, 1, 'the matching reply')
})

t.test('transaction ids are random', async (t) => {
  const server = await scriptedUdp(connectThen((p) => p.reply(announceReply(p, Buffer.alloc(0)))))
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, fast)
  t.teardown(() => client.close())
  for (let i = 0; i < 5; i++) await client.announce(request)
  t.equal(new Set(server.received.map((p) => p.transactionId)).size, 6)
})

t.test('bad replies have codes', async (t) => {
  const cases: [string, (p: UdpPacket) => void, string, RegExp?][] = [
    ['error action', (p) => p.reply(udpReply(3, p.transactionId, Buffer.from('torrent not registered'))), 'TRACKER_FAILURE', /torrent not registered/],
    ['announce reply of 12 bytes', (p) => p.reply(udpReply(1, p.transactionId, u32(60))), 'TRACKER_BAD_REPLY', /shorter than 20/],
    ['peers of 7 bytes', (p) => p.reply(announceReply(p, Buffer.alloc(7))), 'TRACKER_BAD_REPLY', /multiple of 6/]
  ]
  for (const [name, onRequest, code, message] of cases) {
    const server = await scriptedUdp(connectThen(onRequest))
    const client = new UdpTracker(server.url, fast)
    await t.rejects(client.announce(request), { code, ...(message === undefined ? {} : { message }) }, name)
    client.close()
    await server.close()
  }
  const failing = await scriptedUdp((p) => p.reply(udpReply(3, p.transactionId, Buffer.from('go away'))))
  const client = new UdpTracker(failing.url, fast)
  await t.rejects(client.announce(request), { code: 'TRACKER_FAILURE', message: /go away/ }, 'an error to the connect')
  client.close()
  await failing.close()
})

t.test('a silent tracker: retransmissions with doubling waits, then TRACKER_TIMEOUT', async (t) => {
  const arrivals: number[] = []
  const server = await scriptedUdp(() => { arrivals.push(Date.now()) })
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, { baseTimeout: 40, retries: 3 })
  t.teardown(() => client.close())
  const started = Date.now()
  await t.rejects(client.announce(request), { code: 'TRACKER_TIMEOUT' })
  const elapsed = Date.now() - started
  t.equal(arrivals.length, 4, 'first send and 3 retransmissions')
  t.ok(elapsed >= 40 * 15 - 20 && elapsed < HANG_BOUND_MS, `40·(1+2+4+8) ms, took ${elapsed}`)
  const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!)
  t.ok(gaps[2]! > gaps[0]!, `waits grow: ${gaps.join(', ')}`)
})

t.test('a lost announce reply is retransmitted under the same connection id', async (t) => {
  let dropped = false
  const server = await scriptedUdp(connectThen((p) => {
    if (!dropped) { dropped = true; return }
    p.reply(announceReply(p, compactPeers(2)))
  }))
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, { baseTimeout: 200, retries: 2 })
  t.teardown(() => client.close())
  t.equal((await client.announce(request)).peers.length, 2)
  t.same(server.received.map((p) => p.action), [0, 1, 1])
})

t.test('a closed port is TRACKER_UNREACHABLE without waiting out the retries', async (t) => {
  const port = await closedPort()
  const client = new UdpTracker(`udp://127.0.0.1:${port}`, { baseTimeout: 5_000, retries: 8 })
  t.teardown(() => client.close())
  const started = Date.now()
  await t.rejects(client.announce(request), { code: 'TRACKER_UNREACHABLE' })
  t.ok(Date.now() - started < 2_000) // not HANG_BOUND_MS: waiting out one 5 s retry must fail this
})

t.test('thousands of peers are bounded', async (t) => {
  // 1400 peers fit one datagram (8400 bytes); ask for 100.
  const server = await scriptedUdp(connectThen((p) => p.reply(announceReply(p, compactPeers(1400)))))
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, { ...fast, maxPeers: 1000 })
  t.teardown(() => client.close())
  t.equal((await client.announce(request)).peers.length, 50, 'numwant')
  const { numwant: _, ...noNumwant } = request
  t.equal((await client.announce(noNumwant)).peers.length, 1000, 'cap')
})

t.test('scrape', async (t) => {
  const other = Buffer.alloc(20, 0xcd)
  const server = await scriptedUdp(connectThen((p) => {
    t.equal(p.action, 2)
    t.equal(p.packet.length, 16 + 40)
    p.reply(udpReply(2, p.transactionId, u32(5, 6, 7, 8, 9, 10)))
  }))
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, fast)
  t.teardown(() => client.close())
  const reply = await client.scrape([infoHash, other])
  t.same(reply.get(infoHash.toString('hex')), { complete: 5, downloaded: 6, incomplete: 7 })
  t.same(reply.get(other.toString('hex')), { complete: 8, downloaded: 9, incomplete: 10 })
  await t.rejects(client.scrape([]), { code: 'BAD_ARGUMENT' })
})

t.test('close() and abort end a pending request with ABORTED', async (t) => {
  const server = await scriptedUdp(() => {})
  t.teardown(() => server.close())
  const client = new UdpTracker(server.url, { baseTimeout: 10_000 })
  const pending = client.announce(request)
  setTimeout(() => client.close(), 30)
  await t.rejects(pending, { code: 'ABORTED' })
  await t.rejects(client.announce(request), { code: 'ABORTED' }, 'a closed client stays closed')

  const other = new UdpTracker(server.url, { baseTimeout: 10_000 })
  t.teardown(() => other.close())
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 30)
  await t.rejects(other.announce(request, { signal: controller.signal }), { code: 'ABORTED' })
})

t.test('URLs without a port or of another scheme are refused', async (t) => {
  t.throws(() => new UdpTracker('udp://tracker.example/announce'), { code: 'TRACKER_UNSUPPORTED' })
  t.throws(() => new UdpTracker('http://127.0.0.1:80'), { code: 'TRACKER_UNSUPPORTED' })
})
