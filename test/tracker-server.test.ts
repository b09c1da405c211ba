import t from 'tap'
import { once } from 'node:events'
import { startTracker, HttpTracker, type AnnounceRequest } from '../lib/tracker/index.js'

const infoHash = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex')
const peerId = (name: string): Buffer => Buffer.from(name.padEnd(20, '-'))
const request = (name: string, port: number, extra: Partial<AnnounceRequest> = {}): AnnounceRequest =>
  ({ infoHash, peerId: peerId(name), port, uploaded: 0, downloaded: 0, left: 100, ...extra })

t.test('two peers see each other; completed and stopped are counted', async (t) => {
  const server = await startTracker({ host: '127.0.0.1', port: 0, interval: 120 })
  t.teardown(() => server.close())
  t.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/announce$/)
  t.equal(server.scrapeUrl, server.url.replace('/announce', '/scrape'))
  const client = new HttpTracker(server.url)

  const first = await client.announce(request('A', 1111, { event: 'started' }))
  t.equal(first.interval, 120)
  t.equal(first.minInterval, 60)
  t.same(first.peers, [], 'alone in the swarm')
  const second = await client.announce(request('B', 2222, { event: 'started' }))
  t.same(second.peers, [{ host: '127.0.0.1', port: 1111, family: 4 }])
  t.equal(second.incomplete, 2)

  await client.announce(request('A', 1111, { event: 'completed', left: 0 }))
  let counts = (await client.scrape([infoHash])).get(infoHash.toString('hex'))
  t.same(counts, { complete: 1, incomplete: 1, downloaded: 1 })

  const bye = await client.announce(request('A', 1111, { event: 'stopped', left: 0 }))
  t.same(bye.peers, [], 'no peers for a goodbye')
  counts = (await client.scrape([infoHash])).get(infoHash.toString('hex'))
  t.same(counts, { complete: 0, incomplete: 1, downloaded: 1 })
})

t.test('dictionary model when compact=0 is asked for', async (t) => {
  const server = await startTracker()
  t.teardown(() => server.close())
  const client = new HttpTracker(server.url)
  await client.announce(request('A', 1111))
  // Build by hand: compact=0 is not something our client sends.
  const query = `?info_hash=${[...infoHash].map((b) => '%' + b.toString(16).padStart(2, '0')).join('')}&peer_id=${'B'.padEnd(20, '-')}&port=2222&left=5&compact=0`
  const res = await fetch(server.url + query)
  const bencode = (await import('bencode')).default
  const reply = bencode.decode(Buffer.from(await res.arrayBuffer())) as { peers: { ip: Uint8Array, port: number, 'peer id': Uint8Array }[] }
  t.equal(reply.peers.length, 1)
  t.equal(Buffer.from(reply.peers[0]!.ip).toString(), '127.0.0.1')
  t.equal(reply.peers[0]!.port, 1111)
  t.same(Buffer.from(reply.peers[0]!['peer id']), peerId('A'))
})

t.test('bad announces get a failure reason; unknown paths a 404', async (t) => {
  const server = await startTracker()
  t.teardown(() => server.close())
  const client = new HttpTracker(server.url)
  await t.rejects(client.announce({ ...request('A', 1111), infoHash: Buffer.alloc(19) }), { code: 'TRACKER_FAILURE', message: /info_hash/ })
  await t.rejects(new HttpTracker(server.url.replace('/announce', '/nothing/announce-x')).announce(request('A', 1)), { code: 'TRACKER_HTTP_STATUS' })
  t.same([...(await client.scrape([Buffer.alloc(20, 9)])).keys()], [], 'unknown torrent: no entry')
})

t.test('closes promptly with a client still connected', async (t) => {
  const server = await startTracker()
  const socket = (await import('node:net')).connect(server.port, '127.0.0.1')
  await once(socket, 'connect')
  t.teardown(() => socket.destroy())
  await server.close()
  t.pass('closed')
})
