/**
 * MSE against libtorrent (python3-libtorrent) with encryption forced both ways and RC4 only: our initiator
 * downloads from a libtorrent seeder through a raw Wire, and a libtorrent leecher downloads from our responder.
 * A plain connection to the same seeder is refused, so the encryption is not optional on its side.
 *
 * The file runs with our JavaScript RC4 (Node 20 has no native one), then runs itself again in a child Node
 * with --openssl-legacy-provider, where OpenSSL's RC4 is used.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseMetainfo, pieceHash, type Metainfo } from '../lib/metainfo.js'
import { connect } from '../lib/wire/index.js'
import { dialTcp } from '../lib/wire/connect.js'
import { mseInitiate, rc4Implementation, type MseMethod } from '../lib/wire/mse/index.js'
import { libtorrentLeech } from './helpers/leechers.js'
import { startLibtorrentSeeder } from './helpers/libtorrent.js'
import { bounded } from './helpers/mse.js'
import { startMseServer } from './helpers/mse-server.js'
import { singleFileTorrent, type SingleFileTorrent } from './helpers/seeders.js'
import { downloadWire } from './helpers/wire-peers.js'

const NATIVE_CHILD = process.env.ZT_MSE_NATIVE_CHILD === '1'
const PIECE_LENGTH = 64 * 1024
const SIZE = 16 * PIECE_LENGTH + 12_345

async function fixture (t: Test): Promise<SingleFileTorrent & { meta: Metainfo }> {
  const torrent = await singleFileTorrent(t, 'mse-lt', SIZE, NATIVE_CHILD ? 31 : 30, PIECE_LENGTH)
  return { ...torrent, meta: parseMetainfo(await readFile(torrent.torrentPath)) }
}

t.test(`RC4 in this process: ${NATIVE_CHILD ? 'native' : 'js'}`, async t => {
  t.equal(rc4Implementation(), NATIVE_CHILD ? 'native' : 'js')
})

t.test('control: a forced-encryption libtorrent seeder refuses a plain BitTorrent connection', async t => {
  const { dir, meta } = await fixture(t)
  const seeder = await startLibtorrentSeeder({ torrentPath: join(dir, 'data.torrent'), dataDir: dir, encryption: 'forced' })
  t.teardown(seeder.stop)
  const err = await bounded(connect('127.0.0.1', seeder.port, {
    peerId: Buffer.from('-ZT0001-plainplainpl'), infoHash: meta.infoHash, pieceCount: meta.pieceCount, pieceLength: meta.pieceLength
  }, { connectTimeout: 5000 }).then((w) => { w.destroy(); return null }, (e: unknown) => e), 15_000, 'refusal')
  t.ok(err !== null, 'the plain handshake was refused', { got: err })
})

for (const methods of [['rc4'], ['rc4', 'plaintext']] as MseMethod[][]) {
  t.test(`our initiator (offering ${methods.join('+')}) downloads every piece from a forced-encryption libtorrent seeder over RC4`, async t => {
    const { dir, meta, data } = await fixture(t)
    const seeder = await startLibtorrentSeeder({ torrentPath: join(dir, 'data.torrent'), dataDir: dir, encryption: 'forced' })
    t.teardown(seeder.stop)
    const socket = await dialTcp('127.0.0.1', seeder.port, 5000)
    t.teardown(() => { socket.destroy() })
    const mse = await bounded(mseInitiate(socket, { infoHash: meta.infoHash, methods }), 15_000, 'MSE handshake')
    t.equal(mse.method, 'rc4', 'libtorrent selected RC4')
    const got = await bounded(downloadWire(mse.stream, meta.infoHash, meta.length, meta.pieceLength), 30_000, `download; libtorrent log:\n${seeder.log()}`)
    let verified = 0
    for (let index = 0; index < meta.pieceCount; index++) {
      const piece = got.subarray(index * meta.pieceLength, Math.min(meta.length, (index + 1) * meta.pieceLength))
      if (createHash('sha1').update(piece).digest().equals(pieceHash(meta, index))) verified++
    }
    t.equal(verified, meta.pieceCount, `all ${meta.pieceCount} pieces match their SHA1`)
    t.ok(got.equals(data), 'byte-identical')
  })
}

t.test('a forced-encryption libtorrent leecher downloads the whole torrent from our MSE responder', async t => {
  const { dir, meta, data } = await fixture(t)
  const server = await startMseServer(t, { infoHash: meta.infoHash, data, pieceLength: meta.pieceLength }, { policy: 'require' })
  const save = join(dir, 'leech')
  const result = await libtorrentLeech(t, join(dir, 'data.torrent'), save, server.port, 30_000, { encryption: 'forced' })
  t.equal(result.code, 0, 'libtorrent finished', { stdout: result.stdout.slice(-2000), stderr: result.stderr.slice(-2000) })
  t.ok((await readFile(join(save, 'data.bin'))).equals(data), 'libtorrent stored every byte we served')
  t.ok(server.outcomes.length >= 1, 'libtorrent connected')
  t.ok(server.outcomes.every((o) => 'method' in o && o.method === 'rc4'), 'every connection was MSE with RC4', { outcomes: server.outcomes })
  t.equal(server.wires.reduce((sum, w) => sum + w.uploaded, 0), SIZE, 'every byte uploaded once')
})

if (!NATIVE_CHILD) {
  t.test('the same with native RC4 (a child Node with --openssl-legacy-provider)', async t => {
    await t.spawn(process.execPath, [...process.execArgv, '--openssl-legacy-provider', fileURLToPath(import.meta.url)], {
      env: { ...process.env, ZT_MSE_NATIVE_CHILD: '1' }
    }, 'native RC4')
  })
}
