/**
 * Our clients against a real tracker: Debian's opentracker on loopback, HTTP and UDP on one port.
 * A missing opentracker fails these tests (it is a declared test dependency), it does not skip them.
 */
import t from 'tap'
import { once } from 'node:events'
import { startOpentracker } from './helpers/opentracker.js'
import { HttpTracker, UdpTracker, Announcer, type AnnounceRequest, type PeerAddress, type TrackerClient } from '../lib/tracker/index.js'

const infoHash = Buffer.from('5a5b5c5d5e5f606162636465666768696a6b6c6d', 'hex')
const request = (name: string, port: number, extra: Partial<AnnounceRequest> = {}): AnnounceRequest =>
  ({ infoHash, peerId: Buffer.from(name.padEnd(20, '-')), port, uploaded: 0, downloaded: 0, left: 1000, numwant: 50, ...extra })
const has = (peers: readonly PeerAddress[], port: number): boolean => peers.some((p) => p.host === '127.0.0.1' && p.port === port)

for (const kind of ['http', 'udp'] as const) {
  t.test(`${kind}: two announces see each other, scrape counts follow, stopped removes us`, async (t) => {
    const tracker = await startOpentracker({ infoHashes: [infoHash] })
    t.teardown(() => tracker.stop())
    const url = kind === 'http' ? tracker.httpUrl : tracker.udpUrl
    const client: TrackerClient = kind === 'http' ? new HttpTracker(url) : new UdpTracker(url, { baseTimeout: 500, retries: 2 })
    t.teardown(() => client.close())
    // Distinct ports per transport: opentracker keys peers by address:port.
    const [portA, portB] = kind === 'http' ? [41001, 41002] : [42001, 42002]

    const a = await client.announce(request('A', portA, { event: 'started' }))
    t.ok(a.interval > 0, 'an interval')
    const b = await client.announce(request('B', portB, { event: 'started', left: 0 }))
    t.ok(has(b.peers, portA), 'B is told about A')
    const a2 = await client.announce(request('A', portA))
    t.ok(has(a2.peers, portB), 'A is told about B')
    t.equal(a2.complete, 1, 'one seeder (B)')
    t.equal(a2.incomplete, 1, 'one leecher (A)')

    let counts = (await client.scrape([infoHash])).get(infoHash.toString('hex'))
    t.same(counts, { complete: 1, incomplete: 1, downloaded: 0 })
    await client.announce(request('A', portA, { event: 'completed', left: 0 }))
    counts = (await client.scrape([infoHash])).get(infoHash.toString('hex'))
    t.same(counts, { complete: 2, incomplete: 0, downloaded: 1 }, 'completed counted')

    await client.announce(request('A', portA, { event: 'stopped', left: 0, numwant: 0 }))
    const b2 = await client.announce(request('B', portB, { left: 0 }))
    t.notOk(has(b2.peers, portA), 'A is gone after stopped')
    counts = (await client.scrape([infoHash])).get(infoHash.toString('hex'))
    t.equal(counts?.complete, 1, 'one seeder left')
  })
}

t.test('a torrent the tracker does not serve: HTTP failure reason, UDP truncated reply', async (t) => {
  const tracker = await startOpentracker({ infoHashes: [infoHash] })
  t.teardown(() => tracker.stop())
  const other = { ...request('A', 41003), infoHash: Buffer.alloc(20, 7) }
  await t.rejects(new HttpTracker(tracker.httpUrl).announce(other), { code: 'TRACKER_FAILURE', message: /not authorized/ })
  const udp = new UdpTracker(tracker.udpUrl, { baseTimeout: 300, retries: 1 })
  t.teardown(() => udp.close())
  // opentracker answers a non-whitelisted UDP announce with the 8-byte header alone, no error action.
  await t.rejects(udp.announce(other), { code: 'TRACKER_BAD_REPLY' })
})

t.test('two Announcers through opentracker find each other; stop() says goodbye', async (t) => {
  const tracker = await startOpentracker({ infoHashes: [infoHash] })
  t.teardown(() => tracker.stop())
  const make = (name: string, port: number): Announcer => new Announcer({
    tiers: [[tracker.udpUrl], [tracker.httpUrl]],
    infoHash,
    peerId: Buffer.from(name.padEnd(20, '-')),
    port,
    getStats: () => ({ uploaded: 0, downloaded: 0, left: 1000 }),
    udp: { baseTimeout: 300, retries: 1 }
  })
  const a = make('A', 43001)
  const b = make('B', 43002)
  t.teardown(() => Promise.all([a.stop(), b.stop()]))
  const ownSeen: PeerAddress[] = []
  a.on('peer', (p) => { if (p.port === 43001) ownSeen.push(p) })
  a.start()
  await once(a, 'response')
  const found = once(b, 'peer')
  b.start()
  const [peer] = await found as [PeerAddress]
  t.same(peer, { host: '127.0.0.1', port: 43001, family: 4 }, 'B learns of A')
  t.same(ownSeen, [], 'A is not offered itself (opentracker returns the asker too)')
  await a.stop()
  const http = new HttpTracker(tracker.httpUrl)
  const reply = await http.announce(request('C', 43003))
  t.notOk(has(reply.peers, 43001), 'A has left the swarm')
  t.ok(has(reply.peers, 43002), 'B is still there')
})
