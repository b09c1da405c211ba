/**
 * Hostile KRPC on loopback: raw UDP datagrams sent to our DHT node, and a scripted node that answers our queries
 * with poison. Three of these (an integer `token`, an integer `target`, an integer `r.id`) end the process when
 * they reach the bittorrent-dht package unchecked (checked against the package alone); this file would not finish.
 */
import t from 'tap'
import { createSocket } from 'node:dgram'
import bencode from 'bencode'
import { checkInbound, checkOutbound, KRPC_LIMITS } from '../lib/discovery/krpc.js'
import { DHT_DEFAULTS } from '../lib/discovery/dht.js'
import { compactNode, compactPeer, localDht, rawNode, spySocket, str, until, type KrpcMessage } from './helpers/dht-network.js'

const ID = Buffer.alloc(20, 0x42)
const enc = (m: KrpcMessage): Buffer => Buffer.from(bencode.encode(m))

t.test('krpc checks: the shapes BEP 5 defines pass byte for byte, anything else is refused', async (t) => {
  const good = [
    { t: 'aa', y: 'q', q: 'ping', a: { id: ID } },
    { t: 'aa', y: 'q', q: 'find_node', a: { id: ID, target: ID } },
    { t: 'aa', y: 'q', q: 'get_peers', a: { id: ID, info_hash: ID } },
    { t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 6881, token: Buffer.from('tok') } },
    { t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, implied_port: 1, token: Buffer.from('tok') } },
    { t: 'aa', y: 'r', r: { id: ID, nodes: compactNode(ID, '1.2.3.4', 1) } },
    { t: 'aa', y: 'r', r: { id: ID, token: Buffer.from('x'), values: [compactPeer('1.2.3.4', 5)] } },
    { t: 'aa', y: 'e', e: [201, 'A Generic Error Ocurred'] }
  ]
  for (const m of good) {
    const packet = enc(m)
    const v = checkInbound(packet)
    t.ok(v.ok, `${str(m.y)} ${str((m as { q?: unknown }).q ?? '')}`)
    if (v.ok) t.equal(v.packet, packet, 'passed as is')
  }
  const bad: Array<[string, Buffer]> = [
    ['garbage', Buffer.from('\x00\xffnot bencode')],
    ['empty', Buffer.alloc(0)],
    ['an integer', Buffer.from('i5e')],
    ['a list', Buffer.from('le')],
    ['deep nesting', Buffer.from('l'.repeat(3000) + 'e'.repeat(3000))],
    ['oversized', Buffer.concat([Buffer.from('d1:t2:aa1:y1:q1:q4:ping1:ad2:id20:'), ID, Buffer.from('1:x9000:'), Buffer.alloc(9000), Buffer.from('ee')])],
    ['no t', enc({ y: 'q', q: 'ping', a: { id: ID } })],
    ['t an integer', enc({ t: 5, y: 'q', q: 'ping', a: { id: ID } })],
    ['t too long', enc({ t: Buffer.alloc(17), y: 'q', q: 'ping', a: { id: ID } })],
    ['bad y', enc({ t: 'aa', y: 'z' })],
    ['BEP 44 put', enc({ t: 'aa', y: 'q', q: 'put', a: { id: ID, v: 'x', token: 'tt', k: 5 } })],
    ['unknown method', enc({ t: 'aa', y: 'q', q: 'vote', a: { id: ID } })],
    ['short id', enc({ t: 'aa', y: 'q', q: 'ping', a: { id: Buffer.alloc(19) } })],
    ['a not a dict', enc({ t: 'aa', y: 'q', q: 'ping', a: 'x' })],
    ['integer target', enc({ t: 'aa', y: 'q', q: 'find_node', a: { id: ID, target: 5 } })],
    ['integer info_hash', enc({ t: 'aa', y: 'q', q: 'get_peers', a: { id: ID, info_hash: 5 } })],
    ['integer token', enc({ t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 1, token: 5 } })],
    ['port out of range', enc({ t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 70000, token: 'x' } })],
    ['no port', enc({ t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, token: 'x' } })],
    ['long token', enc({ t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 1, token: Buffer.alloc(65) } })],
    ['integer r.id', enc({ t: 'aa', y: 'r', r: { id: 5 } })],
    ['r not a dict', enc({ t: 'aa', y: 'r', r: [] })],
    ['nodes a list', enc({ t: 'aa', y: 'r', r: { id: ID, nodes: [1] } })],
    ['values a string', enc({ t: 'aa', y: 'r', r: { id: ID, values: 'abcdef' } })]
  ]
  for (const [what, packet] of bad) {
    const v = checkInbound(packet)
    t.notOk(v.ok, what)
  }
  // cut, not refused: too many nodes, a partial node, values of the wrong size or too many
  const nodes = Buffer.concat([...Array.from({ length: 40 }, (_, i) => compactNode(ID, '10.0.0.1', i + 1)), Buffer.alloc(7)])
  const values = [...Array.from({ length: 150 }, (_, i) => compactPeer('10.0.0.2', i + 1)), Buffer.alloc(18), Buffer.alloc(3)]
  const v = checkInbound(enc({ t: 'aa', y: 'r', r: { id: ID, nodes, values } }))
  t.ok(v.ok && v.trimmed)
  if (v.ok) {
    const r = (bencode.decode(v.packet) as { r: { nodes: Uint8Array, values: Uint8Array[] } }).r
    t.equal(r.nodes.length, KRPC_LIMITS.maxNodes * 26)
    t.equal(r.values.length, KRPC_LIMITS.maxValues)
    t.ok(r.values.every((x) => x.length === 6))
  }
  // outbound: our own replies are cut to maxValues; queries report their transaction id
  const reply = checkOutbound(enc({ t: 'bb', y: 'r', r: { id: ID, values } }))
  t.equal((bencode.decode(reply.packet) as { r: { values: unknown[] } }).r.values.length, KRPC_LIMITS.maxValues)
  const query = checkOutbound(enc({ t: 'cc', y: 'q', q: 'ping', a: { id: ID } }))
  t.same([query.y, query.t?.toString()], ['q', 'cc'])
})

t.test('raw datagrams: malformed and poisoned queries are dropped and our node keeps answering', async (t) => {
  const dht = await localDht(t)
  const sender = await rawNode(t)
  const poison = [
    Buffer.from('\x00\xffnot bencode'),
    Buffer.alloc(0),
    Buffer.from('l'.repeat(3000) + 'e'.repeat(3000)),
    Buffer.alloc(60_000, 0x64), // 'd' × 60000: an unterminated giant
    enc({ t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 1, token: 5 } }), // crashes the package
    enc({ t: 'aa', y: 'q', q: 'find_node', a: { id: ID, target: 5 } }), // crashes the package
    enc({ t: 'aa', y: 'q', q: 'put', a: { id: ID, v: 'x', token: 'tt', k: 5 } }),
    enc({ t: 'aa', y: 'q', q: 'get_peers', a: { id: ID, info_hash: [1, 2] } }),
    enc({ t: 5, y: 'r', r: { id: ID } }),
    enc({ t: 'zz', y: 'r', r: { id: ID } }) // unsolicited: no query of ours has this id
  ]
  for (const p of poison) await sender.send(p, dht.port)
  await sender.send({ t: 'pp', y: 'q', q: 'ping', a: { id: ID } }, dht.port)
  await until(() => sender.received.some((r) => str(r.msg.t) === 'pp'), 5_000, 'a pong')
  const pong = sender.received.find((r) => str(r.msg.t) === 'pp')!.msg as { y: unknown, r: { id: Uint8Array } }
  t.equal(str(pong.y), 'r')
  t.equal(pong.r.id.length, 20)
  t.equal(sender.received.length, 1, 'nothing answered but the ping')
  t.equal(dht.stats().inboundDropped, poison.length)
  t.equal(dht.nodeCount, 1, 'only the well-formed pinger got into the routing table')
})

t.test('a node that answers our query with an integer r.id, or answers what we never asked, is dropped', async (t) => {
  const evil = await rawNode(t)
  evil.onQuery((msg) => ({ t: msg.t, y: 'r', r: { id: 5, nodes: 'x' } }))
  const dht = await localDht(t, { bootstrap: [`127.0.0.1:${evil.port}`], queryTimeout: 300 })
  await until(() => dht.ready, 10_000, 'bootstrap to end')
  t.ok(evil.received.length >= 1, 'we asked it')
  t.equal(dht.nodeCount, 0)
  // unsolicited responses from a third party do not get it into our table
  const stranger = await rawNode(t)
  for (let i = 0; i < 50; i++) await stranger.send({ t: Buffer.from([i, i]), y: 'r', r: { id: Buffer.alloc(20, i) } }, dht.port)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(dht.nodeCount, 0, 'no unsolicited node in the table')
  t.ok(dht.stats().inboundDropped >= 51)
  t.ok(await dht.lookup(ID) >= 0, 'still working')
})

t.test('replies pointing many info hashes at one address: believed for maxInfoHashesPerAddress of them', async (t) => {
  const evil = await rawNode(t)
  let lookups = 0
  evil.onQuery((msg) => {
    const q = str(msg.q)
    if (q === 'get_peers') {
      const hash = Buffer.from((msg.a as { info_hash: Uint8Array }).info_hash)
      lookups++
      return { t: msg.t, y: 'r', r: { id: Buffer.alloc(20, 0xee), token: 'tk', values: [compactPeer('127.0.0.1', 9999), compactPeer('127.0.0.2', 1000 + hash[0]!)] } }
    }
    return { t: msg.t, y: 'r', r: { id: Buffer.alloc(20, 0xee) } }
  })
  const dht = await localDht(t, { bootstrap: [`127.0.0.1:${evil.port}`] })
  await until(() => dht.ready, 10_000, 'bootstrap')
  const seen = new Map<string, number>()
  dht.on('peer', (p) => seen.set(`${p.host}:${p.port}`, (seen.get(`${p.host}:${p.port}`) ?? 0) + 1))
  for (let i = 1; i <= 20; i++) await dht.lookup(Buffer.alloc(20, i))
  t.equal(lookups, 20)
  t.equal(seen.get('127.0.0.1:9999'), DHT_DEFAULTS.maxInfoHashesPerAddress, 'the victim: 8 of 20 info hashes')
  for (let i = 1; i <= 20; i++) t.equal(seen.get(`127.0.0.2:${1000 + i}`), 1, `the honest peer of hash ${i}`)
  t.equal(dht.stats().peersDropped, 20 - DHT_DEFAULTS.maxInfoHashesPerAddress)
})

t.test('huge replies: 700 values and 300 nodes are cut; a 60 KB datagram is dropped; the lookup stays bounded', async (t) => {
  const evil = await rawNode(t)
  const many = Array.from({ length: 700 }, (_, i) => compactPeer('127.0.1.1', 1 + i))
  const nodes = Buffer.concat(Array.from({ length: 300 }, (_, i) => compactNode(Buffer.alloc(20, i & 255), '127.0.2.1', 20000 + i)))
  evil.onQuery((msg, from) => {
    // find_node: 300 contacts (7.8 KB). get_peers: first a 60 KB datagram, then 700 values and 40 contacts (6.7 KB).
    const id = Buffer.alloc(20, 0xee)
    if (str(msg.q) === 'find_node') return { t: msg.t, y: 'r', r: { id, nodes } }
    void evil.send({ t: msg.t, y: 'r', r: { id, nodes: Buffer.concat(Array.from({ length: 8 }, () => nodes)) } }, from.port)
      .then(async () => { await evil.send({ t: msg.t, y: 'r', r: { id, token: 'tk', nodes: nodes.subarray(0, 40 * 26), values: many } }, from.port) })
    return null
  })
  const spy = spySocket()
  const dht = await localDht(t, { bootstrap: [`127.0.0.1:${evil.port}`], createSocket: spy.createSocket, queryTimeout: 300 })
  await until(() => dht.ready, 10_000, 'bootstrap')
  const peers = new Set<string>()
  dht.on('peer', (p) => peers.add(`${p.host}:${p.port}`))
  await dht.lookup(ID)
  t.equal(peers.size, KRPC_LIMITS.maxValues, '700 values → 100 peers')
  const destinations = new Set(spy.sent.map((s) => `${s.host}:${s.port}`))
  t.ok(destinations.size <= 1 + KRPC_LIMITS.maxNodes, `${destinations.size} nodes queried (300 offered)`)
  t.ok(dht.stats().inboundDropped >= 1, 'the 60 KB get_peers reply was dropped whole')
})

t.test('a query flood from one sender is answered at most maxQueriesPerSecond a second', async (t) => {
  const dht = await localDht(t)
  const sender = await rawNode(t)
  for (let i = 0; i < 400; i++) void sender.send({ t: Buffer.from([i >> 8, i & 255]), y: 'q', q: 'ping', a: { id: ID } }, dht.port)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const answered = sender.received.length
  t.ok(answered >= 1 && answered <= 2 * DHT_DEFAULTS.maxQueriesPerSecond, `${answered} of 400 answered`)
})

t.test('our get_peers replies carry at most maxValues peers, however many were announced to us', async (t) => {
  const dht = await localDht(t)
  const asker = await rawNode(t)
  await asker.send({ t: 'g1', y: 'q', q: 'get_peers', a: { id: ID, info_hash: ID } }, dht.port)
  await until(() => asker.received.length === 1, 5_000, 'a token')
  const token = (asker.received[0]!.msg as { r: { token: Uint8Array } }).r.token
  // 300 announces from 10 sockets (the token is per host; each socket stays under the query rate)
  const sockets = await Promise.all(Array.from({ length: 10 }, async () => {
    const s = createSocket('udp4')
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
    t.teardown(() => { s.close() })
    return s
  }))
  let port = 10000
  for (const s of sockets) {
    for (let i = 0; i < 30; i++) {
      const m = enc({ t: 'an', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: port++, token } })
      await new Promise<void>((resolve) => s.send(m, dht.port, '127.0.0.1', () => { resolve() }))
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  await asker.send({ t: 'g2', y: 'q', q: 'get_peers', a: { id: ID, info_hash: ID } }, dht.port)
  await until(() => asker.received.length === 2, 5_000, 'the reply')
  const values = (asker.received[1]!.msg as { r: { values?: Uint8Array[] } }).r.values ?? []
  t.equal(values.length, KRPC_LIMITS.maxValues, `${values.length} values in one datagram`)
})
