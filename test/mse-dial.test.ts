import t from 'tap'
import { createHash } from 'node:crypto'
import net from 'node:net'
import { isZentorrentError } from '../lib/errors.js'
import type { Wire } from '../lib/wire/index.js'
import { dialPeer, type EncryptionPolicy } from '../lib/wire/mse/index.js'
import { seededRandomBytes } from './helpers/mse.js'
import { startMseServer } from './helpers/mse-server.js'
import { downloadWire, serveWire } from './helpers/wire-peers.js'

const PIECE_LENGTH = 16384
const DATA = seededRandomBytes(9)(2 * PIECE_LENGTH + 5)
const INFO_HASH = createHash('sha1').update('dial').digest()
const TORRENT = { infoHash: INFO_HASH, data: DATA, pieceLength: PIECE_LENGTH }

/** A peer that speaks only plain BitTorrent (a responder Wire straight on the socket), counting connections. */
async function plainOnlyPeer (t: { teardown: (fn: () => unknown) => void }): Promise<{ port: number, connections: () => number, handshakes: () => number }> {
  let connections = 0
  let handshakes = 0
  const wires: Wire[] = []
  const server = net.createServer((socket) => {
    connections++
    socket.on('error', () => {})
    const wire = serveWire(socket, INFO_HASH, TORRENT)
    wire.on('error', () => {})
    wire.on('handshake', () => { handshakes++ })
    wires.push(wire)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const w of wires) w.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections, handshakes: () => handshakes }
}

t.test('prefer: a plain-only peer refuses MSE, and the dial falls back to a plain connection that works', async t => {
  const peer = await plainOnlyPeer(t)
  const dialed = await dialPeer('127.0.0.1', peer.port, { infoHash: INFO_HASH, policy: 'prefer', timeoutMs: 5000 })
  t.equal(dialed.method, null, 'plain')
  t.equal(dialed.fellBack, true)
  t.same(await downloadWire(dialed.stream, INFO_HASH, DATA.length, PIECE_LENGTH), DATA)
  t.equal(peer.connections(), 2, 'two TCP connections: the refused MSE one and the plain one')
  t.equal(peer.handshakes(), 1, 'the plain peer saw one BitTorrent handshake')
})

t.test('require: a plain-only peer is MSE_REFUSED, with no second dial', async t => {
  const peer = await plainOnlyPeer(t)
  const err = await dialPeer('127.0.0.1', peer.port, { infoHash: INFO_HASH, policy: 'require', timeoutMs: 5000 }).catch((e: unknown) => e)
  t.ok(isZentorrentError(err, 'MSE_REFUSED'), 'MSE_REFUSED', { got: err })
  t.equal(peer.connections(), 1)
})

t.test('disable: one plain connection, no MSE bytes first', async t => {
  const peer = await plainOnlyPeer(t)
  const dialed = await dialPeer('127.0.0.1', peer.port, { infoHash: INFO_HASH, policy: 'disable' })
  t.same({ method: dialed.method, fellBack: dialed.fellBack }, { method: null, fellBack: false })
  t.same(await downloadWire(dialed.stream, INFO_HASH, DATA.length, PIECE_LENGTH), DATA)
  t.equal(peer.connections(), 1)
})

// an MSE peer with prefer selects plaintext when both are offered (libtorrent's default), RC4 when only RC4 is
for (const [policy, expected] of [['prefer', 'plaintext'], ['require', 'rc4'], ['disable', null]] as Array<[EncryptionPolicy, 'rc4' | 'plaintext' | null]>) {
  t.test(`${policy} against an MSE-capable peer (prefer) gives ${expected ?? 'plain'}`, async t => {
    const server = await startMseServer(t, TORRENT, { policy: 'prefer' })
    const dialed = await dialPeer('127.0.0.1', server.port, { infoHash: INFO_HASH, policy })
    t.equal(dialed.method, expected)
    t.equal(dialed.fellBack, false)
    t.same(await downloadWire(dialed.stream, INFO_HASH, DATA.length, PIECE_LENGTH), DATA)
  })
}

t.test('prefer does not fall back on a peer that speaks MSE badly (not a refusal)', async t => {
  const server = net.createServer((socket) => { socket.on('error', () => {}); socket.write(Buffer.alloc(96, 0xff)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  let connections = 0
  server.on('connection', () => { connections++ })
  const err = await dialPeer('127.0.0.1', (server.address() as net.AddressInfo).port, { infoHash: INFO_HASH, policy: 'prefer', timeoutMs: 2000 }).catch((e: unknown) => e)
  t.ok(isZentorrentError(err, 'MSE_BAD_KEY'), 'MSE_BAD_KEY', { got: err })
  t.equal(connections, 1)
})

