import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import DHT from 'bittorrent-dht'
import {
  bootstrapNodes,
  defaultDhtStatePath,
  Dht,
  DHT_DEFAULTS,
  DHT_PUBLIC_ROUTERS,
  NO_PUBLIC_DHT_ENV,
  parseDhtState
} from '../lib/discovery/dht.js'
import { compactNode, GUARDED_ENV, localDht, localNetwork, rawNode, spySocket, str, until } from './helpers/dht-network.js'
import { FakeClock } from './helpers/fake-clock.js'
import { tempDir } from './helpers/temp.js'

const infoHash = (n: number): Buffer => Buffer.alloc(20, n)

t.test('the guard: with ZENTORRENT_NO_PUBLIC_DHT=1 the public routers are refused before a socket or a name lookup exists', async (t) => {
  const spy = spySocket()
  let resolved = 0
  const resolve = async (host: string): Promise<string> => { resolved++; return host === 'localhost' ? '127.0.0.1' : '8.8.8.8' }
  t.throws(() => new Dht({ env: GUARDED_ENV, createSocket: spy.createSocket, resolve, statePath: null }), { code: 'DHT_PUBLIC_REFUSED' })
  t.throws(() => new Dht({ env: { [NO_PUBLIC_DHT_ENV]: 'true' }, createSocket: spy.createSocket, resolve }), { code: 'DHT_PUBLIC_REFUSED' })
  t.throws(() => new Dht({ env: GUARDED_ENV, bootstrap: [...DHT_PUBLIC_ROUTERS], createSocket: spy.createSocket, resolve }), { code: 'DHT_PUBLIC_REFUSED' },
    'naming the routers explicitly does not get past it')
  t.throws(() => new Dht({ env: GUARDED_ENV, bootstrap: ['8.8.8.8:6881'], createSocket: spy.createSocket, resolve }), { code: 'DHT_PUBLIC_REFUSED' })
  t.throws(() => new Dht({ env: GUARDED_ENV, bootstrap: ['127.0.0.1:1', 'seed.example:6881'], createSocket: spy.createSocket, resolve }), { code: 'DHT_PUBLIC_REFUSED' })
  t.equal(spy.created(), 0, 'no socket was created')
  t.equal(spy.sent.length, 0, 'no datagram was sent')
  t.equal(resolved, 0, 'no name was resolved')

  // without the guard the routers are the default (nothing is contacted by merely asking)
  t.same(bootstrapNodes(undefined, {}), [
    { host: 'router.bittorrent.com', port: 6881 }, { host: 'dht.transmissionbt.com', port: 6881 }, { host: 'router.utorrent.com', port: 6881 }
  ])
  t.same(bootstrapNodes(['10.0.0.1:6881', { host: '127.0.0.1', port: 7 }], GUARDED_ENV), [{ host: '10.0.0.1', port: 6881 }, { host: '127.0.0.1', port: 7 }])
  t.same(bootstrapNodes([], GUARDED_ENV), [])
  t.throws(() => bootstrapNodes(['[::1]:6881'], {}), { code: 'BAD_ARGUMENT' }, 'the DHT is IPv4 only')
  t.throws(() => bootstrapNodes(['nonsense'], {}), { code: 'BAD_ARGUMENT' })
})

t.test('the guard, at run time: a local node handing out a public node does not make us send to it', async (t) => {
  const evil = await rawNode(t)
  evil.onQuery((msg) => ({
    t: msg.t,
    y: 'r',
    r: {
      id: Buffer.alloc(20, 0xee),
      token: Buffer.from('tok'),
      nodes: Buffer.concat([compactNode(Buffer.alloc(20, 0x01), '8.8.8.8', 6881), compactNode(Buffer.alloc(20, 0x02), '1.1.1.1', 53)])
    }
  }))
  const spy = spySocket()
  let resolved: string | null = null
  const dht = await localDht(t, {
    bootstrap: [`localhost:${evil.port}`],
    createSocket: spy.createSocket,
    resolve: async (host) => { resolved = host; return '127.0.0.1' }
  })
  t.equal(resolved, 'localhost', 'localhost is allowed under the guard, and resolved by us')
  await until(() => dht.ready, 10_000, 'bootstrap')
  await dht.lookup(infoHash(1))
  t.ok(evil.received.length >= 2, 'we talked to the local node')
  t.same(spy.sent.filter((s) => !s.host.startsWith('127.')), [], 'nothing was even handed to the socket for a public address')
  t.ok(dht.stats().outboundBlocked >= 2, 'the blocked sends are counted')
})

t.test('a small local DHT: one node announces, another finds the peer by info hash', async (t) => {
  const nodes = await localNetwork(t, 5)
  const [, a, b] = nodes as [Dht, Dht, Dht]
  t.ok(nodes.every((n) => n.nodeCount >= 1), `routing tables: ${nodes.map((n) => n.nodeCount).join(', ')}`)
  t.ok(await a.announce(infoHash(7), 7777) >= 1, 'announce_peer taken by at least one node')
  const found: string[] = []
  b.on('peer', (peer, hash) => { if (hash.equals(infoHash(7))) found.push(`${peer.host}:${peer.port}`) })
  t.ok(await b.lookup(infoHash(7)) >= 1)
  t.same(found, ['127.0.0.1:7777'])
  t.equal(b.stats().inboundDropped, 0, 'clean traffic passes the checks untouched')
})

t.test('join: a round at once and every announceInterval; refresh is rate-limited; private torrents never reach the DHT', async (t) => {
  // a plain bittorrent-dht node as the whole network, to count the queries it answers
  const plain = new DHT({ bootstrap: false })
  t.teardown(() => { plain.destroy() })
  await new Promise<void>((resolve) => { plain.listen(0, '127.0.0.1', resolve) })
  const seen = { get_peers: [] as string[], announce_peer: [] as string[] }
  plain.on('get_peers', (hash) => seen.get_peers.push(hash.toString('hex')))
  plain.on('announce', (peer, hash) => seen.announce_peer.push(`${hash.toString('hex').slice(0, 4)} ${peer.port}`))
  const clock = new FakeClock()
  const dht = await localDht(t, { bootstrap: [`127.0.0.1:${plain.address().port}`], clock })
  await until(() => dht.ready, 10_000, 'bootstrap')

  const hex = infoHash(3).toString('hex')
  const torrent = dht.join({ infoHash: infoHash(3), port: 6881, private: false })
  t.ok(torrent.active)
  t.equal(dht.join({ infoHash: infoHash(3), port: 6882, private: false }), torrent, 'joining again returns the same handle')
  await until(() => seen.announce_peer.length === 1, 10_000, 'first round')
  t.same(seen.get_peers, [hex])
  t.same(seen.announce_peer, [`${hex.slice(0, 4)} 6882`])
  await until(() => !torrent.running, 5_000, 'round end')
  t.equal(torrent.refresh(), false, 'refresh right after a round: refused')
  clock.advance(DHT_DEFAULTS.announceInterval - 1)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(seen.get_peers.length, 1, 'nothing before the interval')
  clock.advance(1)
  await until(() => seen.announce_peer.length === 2, 10_000, 'second round')
  t.equal(seen.get_peers.length, 2)
  await until(() => !torrent.running, 5_000, 'round end')
  clock.advance(DHT_DEFAULTS.minLookupInterval)
  t.equal(torrent.refresh(), true, 'refresh a minute later: a round now')
  await until(() => seen.announce_peer.length === 3, 10_000, 'refreshed round')

  // private: an inert handle, nothing sent, ever
  const before = seen.get_peers.length + seen.announce_peer.length
  const secret = dht.join({ infoHash: infoHash(4), port: 6881, private: true })
  t.equal(secret.active, false)
  t.equal(secret.refresh(), false)
  clock.advance(10 * DHT_DEFAULTS.announceInterval)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.notOk(seen.get_peers.includes(infoHash(4).toString('hex')), 'the private info hash was never looked up')
  torrent.leave()
  await until(() => !torrent.running, 5_000, 'round end')
  const after = seen.get_peers.length + seen.announce_peer.length
  clock.advance(10 * DHT_DEFAULTS.announceInterval)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(seen.get_peers.length + seen.announce_peer.length, after, 'after leave: no more rounds')
  t.ok(after >= before)
  t.equal(clock.pending, 0, 'no timer left behind')
})

t.test('the routing table is saved on close and used on start instead of the bootstrap nodes', async (t) => {
  const dir = await tempDir(t, 'dht-state')
  const statePath = join(dir, 'cache', 'zentorrent', 'dht.json')
  const network = await localNetwork(t, 4)
  const first = new Dht({ host: '127.0.0.1', env: GUARDED_ENV, statePath, bootstrap: [`127.0.0.1:${network[0]!.port}`] })
  await first.start()
  await until(() => first.ready && first.nodeCount >= 3, 10_000, 'a full table')
  const id = Buffer.from(first.nodeId!)
  await first.close()
  const saved = JSON.parse(await readFile(statePath, 'utf8')) as { version: number, nodeId: string, nodes: Array<{ host: string, port: number }> }
  t.equal(saved.version, 1)
  t.equal(saved.nodeId, id.toString('hex'))
  t.same(saved.nodes.map((n) => n.port).sort(), network.map((n) => n.port).sort(), 'every node of the network was saved')

  // restart: the bootstrap node named now is dead (nothing listens there); the saved table is enough
  const dead = await rawNode(t)
  const deadPort = dead.port
  dead.close()
  const spy = spySocket()
  const second = new Dht({ host: '127.0.0.1', env: GUARDED_ENV, statePath, bootstrap: [`127.0.0.1:${deadPort}`], createSocket: spy.createSocket })
  t.teardown(async () => { await second.close() })
  await second.start()
  t.same(second.nodeId, id, 'the same node id as before')
  await until(() => second.ready && second.nodeCount >= 3, 10_000, 'the saved nodes answering')
  t.same(spy.sent.filter((s) => s.port === deadPort), [], 'the bootstrap node was never asked')
  const found: string[] = []
  second.on('peer', (p) => found.push(`${p.host}:${p.port}`))
  await network[1]!.announce(infoHash(9), 9999)
  await second.lookup(infoHash(9))
  t.same(found, ['127.0.0.1:9999'], 'and it works')
})

t.test('saved nodes that all fail: the configured bootstrap nodes are asked after all', async (t) => {
  const dir = await tempDir(t, 'dht-state')
  const statePath = join(dir, 'dht.json')
  const gone = await rawNode(t)
  const gonePort = gone.port
  gone.close()
  await writeFile(statePath, JSON.stringify({ version: 1, nodeId: 'ab'.repeat(20), nodes: [{ host: '127.0.0.1', port: gonePort }] }))
  const [router] = await localNetwork(t, 2)
  const dht = new Dht({ host: '127.0.0.1', env: GUARDED_ENV, statePath, bootstrap: [`127.0.0.1:${router!.port}`], queryTimeout: 500 })
  t.teardown(async () => { await dht.close() })
  await dht.start()
  t.equal(dht.nodeId?.toString('hex'), 'ab'.repeat(20))
  await until(() => dht.nodeCount >= 2, 15_000, 'falling back to the bootstrap node')
  t.pass(`table of ${dht.nodeCount} after the fallback`)
})

t.test('state files: a corrupt one is a warning, not a failure; the default path is per user', async (t) => {
  const dir = await tempDir(t, 'dht-state')
  const statePath = join(dir, 'dht.json')
  await writeFile(statePath, '{ not json')
  const dht = new Dht({ host: '127.0.0.1', env: GUARDED_ENV, statePath, bootstrap: [] })
  const warnings: Error[] = []
  dht.on('warning', (err) => warnings.push(err))
  await dht.start()
  await dht.close()
  t.equal(warnings.length, 1)
  t.match(warnings[0]!.message, /not a DHT state file/)
  t.equal(await readFile(statePath, 'utf8'), '{ not json', 'an empty table does not overwrite the file')

  t.equal(parseDhtState('{"version":2}'), null)
  t.same(parseDhtState(JSON.stringify({
    version: 1,
    nodeId: 'zz',
    nodes: [{ host: '1.2.3.4', port: 1 }, { host: '::1', port: 2 }, { host: 'x', port: 3 }, { host: '1.2.3.4', port: 0 }, 'junk', null, { host: '::ffff:5.6.7.8', port: 4 }]
  })), { nodeId: null, nodes: [{ host: '1.2.3.4', port: 1 }, { host: '5.6.7.8', port: 4 }] })
  const many = { version: 1, nodes: Array.from({ length: 1000 }, (_, i) => ({ host: '10.0.0.1', port: i + 1 })) }
  t.equal(parseDhtState(JSON.stringify(many))!.nodes.length, DHT_DEFAULTS.maxSavedNodes, 'bounded')

  t.equal(defaultDhtStatePath({ XDG_CACHE_HOME: '/x/cache' }, '/home/u'), '/x/cache/zentorrent/dht.json')
  t.equal(defaultDhtStatePath({}, '/home/u'), '/home/u/.cache/zentorrent/dht.json')
  t.equal(defaultDhtStatePath({ XDG_CACHE_HOME: 'relative' }, '/home/u'), '/home/u/.cache/zentorrent/dht.json', 'XDG paths must be absolute')
})

t.test('start and close: a port in use is DHT_UNAVAILABLE; close is idempotent; lookups need start', async (t) => {
  const taken = await localDht(t)
  const clash = new Dht({ host: '127.0.0.1', port: taken.port, env: GUARDED_ENV, statePath: null, bootstrap: [] })
  await t.rejects(clash.start(), { code: 'DHT_UNAVAILABLE' })
  await clash.close()
  const idle = new Dht({ env: GUARDED_ENV, statePath: null, bootstrap: [] })
  await t.rejects(idle.lookup(infoHash(1)), { code: 'BAD_ARGUMENT' })
  await idle.close()
  await idle.close()
  t.equal(idle.nodeCount, 0)
  t.equal(idle.port, 0)
})

t.test('the BEP 5 port message: addNode pings the node and adds it; a public one is ignored under the guard', async (t) => {
  const [a, b] = [await localDht(t), await localDht(t)]
  a.addNode({ host: '127.0.0.1', port: b.port })
  a.addNode({ host: '8.8.8.8', port: 6881 })
  await until(() => a.nodeCount === 1, 5_000, 'the ping answered')
  t.equal(a.stats().outboundBlocked, 0, 'the public one was not even tried')
  const seen: string[] = []
  const evil = await rawNode(t)
  evil.onQuery((msg) => { seen.push(str(msg.q)); return null })
  a.addNode({ host: '127.0.0.1', port: evil.port })
  await until(() => seen.length === 1, 5_000, 'ping')
  t.same(seen, ['ping'])
})
