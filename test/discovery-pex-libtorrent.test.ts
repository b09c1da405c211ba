/**
 * PEX against libtorrent on loopback: we read libtorrent's ut_pex, and libtorrent uses ours.
 * libtorrent sends its first ut_pex message at its first one-second tick after the BEP 10 handshake once the
 * torrent has two peers, then at most one a minute (src/ut_pex.cpp), so these tests take seconds, not minutes.
 */
import t, { type Test } from 'tap'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Pex, PEX_FLAGS } from '../lib/discovery/pex.js'
import { composeExtendedHandshake } from '../lib/wire/extensions.js'
import { connect, generatePeerId, Wire } from '../lib/wire/index.js'
import { makeTorrentWithLibtorrent } from './helpers/libtorrent.js'
import { isEvent, startLibtorrentNode, type LibtorrentNode } from './helpers/libtorrent-node.js'
import { tempDir } from './helpers/temp.js'

const LOOPBACK = '127.0.0.1'

async function fixture (t: Test): Promise<{ dir: string, torrentPath: string, infoHash: Buffer }> {
  const dir = await tempDir(t, 'pex-lt')
  await mkdir(join(dir, 'seed'))
  const data = Buffer.alloc(5 * 65536)
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24
  await writeFile(join(dir, 'seed', 'pex.bin'), data)
  const torrentPath = join(dir, 'pex.torrent')
  const { infoHash } = await makeTorrentWithLibtorrent({ dataPath: join(dir, 'seed', 'pex.bin'), torrentPath, pieceLength: 65536 })
  return { dir, torrentPath, infoHash }
}

async function node (t: Test, config: Parameters<typeof startLibtorrentNode>[0]): Promise<LibtorrentNode> {
  const n = await startLibtorrentNode(config)
  t.teardown(n.stop)
  return n
}

/** Our side: a Wire to `port` with ut_pex offered, a Pex manager that collects what it learns. */
async function ourWire (t: Test, infoHash: Buffer, port: number, pex: Pex): Promise<Wire> {
  const wire = await connect(LOOPBACK, port, { peerId: generatePeerId(), infoHash }, {
    connectTimeout: 5_000,
    onWire: (w) => { pex.attach(w) }
  })
  t.teardown(() => { wire.destroy() })
  wire.on('error', () => {})
  pex.peerConnected(wire, { remote: { host: LOOPBACK, port }, listen: { host: LOOPBACK, port }, flags: PEX_FLAGS.reachable })
  wire.extendedHandshake(composeExtendedHandshake([pex.handshakePart()]))
  return wire
}

t.test('a libtorrent peer A connected to B tells our wire about B in its ut_pex message', async (t) => {
  const { dir, torrentPath, infoHash } = await fixture(t)
  // two leeches with nothing: they stay connected (libtorrent closes seed-to-seed connections, not these)
  const a = await node(t, { torrent: torrentPath, save_path: join(dir, 'a') })
  const b = await node(t, { torrent: torrentPath, save_path: join(dir, 'b') })
  a.command(`connect ${LOOPBACK} ${b.port}`)
  await a.waitForPeers((peers) => peers.some((p) => p.port === b.port), 10_000, 'A connected to B')

  const learnt: Array<{ host: string, port: number, flags: number }> = []
  let resolveB: () => void = () => {}
  const gotB = new Promise<void>((resolve) => { resolveB = resolve })
  const pex = new Pex({
    private: false,
    onPeer: (address, flags) => {
      learnt.push({ ...address, flags })
      if (address.port === b.port) resolveB()
    }
  })
  t.teardown(() => { pex.close() })
  const started = Date.now()
  await ourWire(t, infoHash, a.port, pex)
  const timeout = new Promise<never>((_resolve, reject) => {
    setTimeout(() => { reject(new Error(`no ut_pex with B within 30 s; learnt ${JSON.stringify(learnt)}\n${a.log().slice(-3000)}`)) }, 30_000).unref()
  })
  await Promise.race([gotB, timeout])
  t.comment(`libtorrent's first ut_pex arrived after ${Date.now() - started} ms`)
  const entry = learnt.find((p) => p.port === b.port)!
  t.equal(entry.host, LOOPBACK)
  t.type(entry.flags, 'number', 'flags read (libtorrent sets seed/encryption/uTP/holepunch bits, never 0x10)')
  t.notOk(learnt.some((p) => p.port === a.port), 'A does not name itself')
  t.equal(pex.stats().messagesReceived, 1)
})

t.test('libtorrent learns a peer from our ut_pex message and connects to it', async (t) => {
  const { dir, torrentPath, infoHash } = await fixture(t)
  const a = await node(t, { torrent: torrentPath, save_path: join(dir, 'a') })
  const c = await node(t, { torrent: torrentPath, save_path: join(dir, 'seed'), seed: true })
  const pex = new Pex({ private: false, onPeer: () => {}, firstMessageDelay: 200 })
  t.teardown(() => { pex.close() })
  // C is one of "our" peers: a stand-in Wire registered with C's listen address (the message is what matters)
  const cStandIn = new Wire({ peerId: generatePeerId(), infoHash })
  cStandIn.on('error', () => {})
  t.teardown(() => { cStandIn.destroy() })
  pex.peerConnected(cStandIn, { remote: { host: LOOPBACK, port: c.port }, listen: { host: LOOPBACK, port: c.port }, flags: PEX_FLAGS.seed })
  await ourWire(t, infoHash, a.port, pex)

  // A has no other source and we send it no data, so A finishing means it dialled C, which it can only know from
  // our ut_pex. (Polling A's peer list races: A downloads the 320 KiB from C at once, and two seeds disconnect.)
  await a.waitFor(isEvent('finished'), 30_000, 'A downloading from C')
  t.match(a.log(), new RegExp(`127\\.0\\.0\\.1:${c.port}`), "A's log shows its connection to C")
  t.equal(pex.stats().messagesSent, 1)
})
