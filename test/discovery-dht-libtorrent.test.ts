/**
 * Our DHT node in a small DHT of libtorrent sessions on loopback (no trackers anywhere, no public router: every
 * libtorrent session bootstraps from a local one, ours too, and the guard is on):
 * - we find a libtorrent seeder's address by info hash through the DHT alone;
 * - libtorrent finds an address we announced, by `dht_get_peers` and by a magnet link without trackers — its
 *   torrent then connects to a TCP responder of ours that answers the BitTorrent handshake.
 */
import t, { type Test } from 'tap'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import type { Dht } from '../lib/discovery/dht.js'
import { decodeHandshake, encodeHandshake, generatePeerId, HANDSHAKE_LENGTH } from '../lib/wire/index.js'
import { localDht, until } from './helpers/dht-network.js'
import { makeTorrentWithLibtorrent } from './helpers/libtorrent.js'
import { isEvent, startLibtorrentNode, type LibtorrentNode, type LibtorrentNodeConfig } from './helpers/libtorrent-node.js'
import { tempDir } from './helpers/temp.js'

const LOOPBACK = '127.0.0.1'

async function node (t: Test, config: LibtorrentNodeConfig): Promise<LibtorrentNode> {
  const n = await startLibtorrentNode(config)
  t.teardown(n.stop)
  return n
}

async function fixture (t: Test, name: string): Promise<{ dir: string, torrentPath: string, infoHash: Buffer }> {
  const dir = await tempDir(t, 'dht-lt')
  await mkdir(join(dir, 'seed'))
  const data = Buffer.alloc(3 * 65536, name)
  await writeFile(join(dir, 'seed', name), data)
  const torrentPath = join(dir, `${name}.torrent`)
  const { infoHash } = await makeTorrentWithLibtorrent({ dataPath: join(dir, 'seed', name), torrentPath, pieceLength: 65536 })
  return { dir, torrentPath, infoHash }
}

/** Look up `infoHash` every second until `address` turns up (bounded). */
async function lookupUntil (dht: Dht, infoHash: Buffer, address: string, ms: number): Promise<number> {
  const started = Date.now()
  let found = false
  const onPeer = (p: { host: string, port: number }, hash: Buffer): void => {
    if (hash.equals(infoHash) && `${p.host}:${p.port}` === address) found = true
  }
  dht.on('peer', onPeer)
  try {
    while (!found) {
      if (Date.now() - started > ms) throw new Error(`${address} not found through the DHT within ${ms} ms (table: ${dht.nodeCount} nodes)`)
      await dht.lookup(infoHash)
      if (!found) await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  } finally {
    dht.off('peer', onPeer)
  }
  return Date.now() - started
}

t.test('our node finds a libtorrent seeder by info hash through the DHT alone', async (t) => {
  const { dir, torrentPath, infoHash } = await fixture(t, 'dht-seed.bin')
  const router = await node(t, { save_path: join(dir, 'router'), dht: { bootstrap: '' } })
  const seeder = await node(t, { torrent: torrentPath, save_path: join(dir, 'seed'), seed: true, dht: { bootstrap: `${LOOPBACK}:${router.port}` } })
  const dht = await localDht(t, { bootstrap: [`${LOOPBACK}:${router.port}`] })
  await until(() => dht.ready, 15_000, 'our bootstrap from libtorrent')
  const took = await lookupUntil(dht, infoHash, `${LOOPBACK}:${seeder.port}`, 60_000)
  t.comment(`found the seeder after ${took} ms; our table has ${dht.nodeCount} nodes`)
  t.ok(dht.nodeCount >= 2, 'libtorrent nodes in our routing table')
  t.equal(dht.stats().inboundDropped, 0, 'libtorrent\'s KRPC passes our checks')
})

t.test('libtorrent finds an address we announced: by dht_get_peers, and a trackerless magnet connects to us', async (t) => {
  const { dir, infoHash } = await fixture(t, 'dht-us.bin')
  // our "peer": a TCP responder that answers the handshake, which is all it takes to prove libtorrent found us
  const handshakes: Buffer[] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    let buf = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      if (buf.length < HANDSHAKE_LENGTH || handshakes.length > 0) return
      const hs = decodeHandshake(buf.subarray(0, HANDSHAKE_LENGTH))
      handshakes.push(hs.infoHash)
      socket.write(encodeHandshake({ infoHash: hs.infoHash, peerId: generatePeerId() }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const tcpPort = (server.address() as { port: number }).port

  const router = await node(t, { save_path: join(dir, 'router'), dht: { bootstrap: '' } })
  const dht = await localDht(t, { bootstrap: [`${LOOPBACK}:${router.port}`], minLookupInterval: 1_000 })
  await until(() => dht.ready, 15_000, 'our bootstrap from libtorrent')
  const torrent = dht.join({ infoHash, port: tcpPort, private: false })

  const asker = await node(t, { save_path: join(dir, 'asker'), dht: { bootstrap: `${LOOPBACK}:${router.port}` } })
  const hex = infoHash.toString('hex')
  const deadline = Date.now() + 60_000
  let seen: Array<[string, number]> = []
  while (!seen.some(([ip, port]) => ip === LOOPBACK && port === tcpPort)) {
    if (Date.now() > deadline) throw new Error(`libtorrent's dht_get_peers did not return us; last: ${JSON.stringify(seen)}`)
    torrent.refresh()
    const reply = asker.waitFor(isEvent('dht_peers'), 10_000, 'dht_get_peers reply')
    asker.command(`dht_get_peers ${hex}`)
    seen = (await reply.catch(() => ({ peers: [] as Array<[string, number]> }))).peers
    if (!seen.some(([, port]) => port === tcpPort)) await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  t.pass(`libtorrent's dht_get_peers returned ${LOOPBACK}:${tcpPort}`)

  const leech = await node(t, { magnet: `magnet:?xt=urn:btih:${hex}`, save_path: join(dir, 'leech'), dht: { bootstrap: `${LOOPBACK}:${router.port}` } })
  let last = Date.now()
  await until(() => {
    // the leech announces on its DHT's bootstrap; repeat now and then in case that came before ours was stored
    if (Date.now() - last > 3_000) { last = Date.now(); leech.command('force_dht_announce') }
    return handshakes.length > 0
  }, 60_000, 'the magnet torrent connecting to us')
  t.same(handshakes[0], infoHash, 'libtorrent dialled our announced port for this info hash')
})
