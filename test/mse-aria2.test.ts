/**
 * MSE against aria2c with `--bt-require-crypto=true --bt-min-crypto-level=arc4` (encrypted connections only,
 * RC4 only): our initiator downloads from an aria2 seeder through a raw Wire, and an aria2 leecher, finding our
 * responder through a loopback tracker, downloads the whole torrent from it. A plain connection to the same
 * seeder is refused, so the encryption is not optional on its side.
 *
 * The file runs with our JavaScript RC4, then runs itself again in a child Node with --openssl-legacy-provider,
 * where OpenSSL's RC4 is used.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseMetainfo, pieceHash, type Metainfo } from '../lib/metainfo.js'
import { startTracker } from '../lib/tracker/server.js'
import { HttpTracker } from '../lib/tracker/index.js'
import { connect, generatePeerId } from '../lib/wire/index.js'
import { dialTcp } from '../lib/wire/connect.js'
import { mseInitiate, rc4Implementation } from '../lib/wire/mse/index.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { aria2Leech } from './helpers/leechers.js'
import { bounded } from './helpers/mse.js'
import { startMseServer } from './helpers/mse-server.js'
import { makeTorrent, startAria2Seeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'
import { downloadWire } from './helpers/wire-peers.js'

const NATIVE_CHILD = process.env.ZT_MSE_NATIVE_CHILD === '1'
const PIECE_LENGTH = 64 * 1024
const SIZE = 16 * PIECE_LENGTH + 4321

async function fixture (t: Test, tracker = ''): Promise<{ dir: string, data: Buffer, torrentPath: string, meta: Metainfo }> {
  const dir = await tempDir(t, 'mse-aria2')
  const data = seededBytes(SIZE, NATIVE_CHILD ? 41 : 40)
  await writeFile(join(dir, 'data.bin'), data)
  const torrentPath = join(dir, 'data.torrent')
  await makeTorrent(join(dir, 'data.bin'), torrentPath, tracker, PIECE_LENGTH)
  return { dir, data, torrentPath, meta: parseMetainfo(await readFile(torrentPath)) }
}

t.test(`RC4 in this process: ${NATIVE_CHILD ? 'native' : 'js'}`, async t => {
  t.equal(rc4Implementation(), NATIVE_CHILD ? 'native' : 'js')
})

t.test('our initiator downloads every piece from an aria2 seeder that requires RC4; a plain connection is refused', async t => {
  const { dir, data, torrentPath, meta } = await fixture(t)
  const seeder = await startAria2Seeder({ torrentPath, dataDir: dir, encryption: 'require' })
  t.teardown(seeder.stop)

  const plain = await bounded(connect('127.0.0.1', seeder.port, {
    peerId: generatePeerId(), infoHash: meta.infoHash, pieceCount: meta.pieceCount, pieceLength: meta.pieceLength
  }, { connectTimeout: 5000 }).then((w) => { w.destroy(); return null }, (e: unknown) => e), 25_000, 'plain refusal')
  t.ok(plain !== null, 'control: the plain handshake was refused', { got: plain })

  const socket = await dialTcp('127.0.0.1', seeder.port, 5000)
  t.teardown(() => { socket.destroy() })
  const mse = await bounded(mseInitiate(socket, { infoHash: meta.infoHash, methods: ['rc4', 'plaintext'] }), 15_000, 'MSE handshake')
  t.equal(mse.method, 'rc4', 'aria2 selected RC4')
  const got = await bounded(downloadWire(mse.stream, meta.infoHash, meta.length, meta.pieceLength), 30_000, 'download')
  let verified = 0
  for (let index = 0; index < meta.pieceCount; index++) {
    const piece = got.subarray(index * meta.pieceLength, Math.min(meta.length, (index + 1) * meta.pieceLength))
    if (createHash('sha1').update(piece).digest().equals(pieceHash(meta, index))) verified++
  }
  t.equal(verified, meta.pieceCount, `all ${meta.pieceCount} pieces match their SHA1`)
  t.ok(got.equals(data), 'byte-identical')
})

t.test('an aria2 leecher that requires RC4 finds our MSE responder through a tracker and downloads everything', async t => {
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 5 })
  t.teardown(async () => await tracker.close())
  const { dir, data, torrentPath, meta } = await fixture(t, tracker.url)
  const server = await startMseServer(t, { infoHash: meta.infoHash, data, pieceLength: meta.pieceLength }, { policy: 'require' })
  await new HttpTracker(tracker.url).announce({
    infoHash: meta.infoHash, peerId: generatePeerId(), port: server.port, uploaded: 0, downloaded: 0, left: 0, event: 'started'
  })
  const save = join(dir, 'aria2')
  const result = await aria2Leech(t, torrentPath, save, 30_000, { encryption: 'require' })
  t.equal(result.code, 0, 'aria2c finished', { stdout: result.stdout.slice(-2000), stderr: result.stderr.slice(-2000) })
  t.ok((await readFile(join(save, 'data.bin'))).equals(data), 'aria2 stored every byte we served')
  t.ok(server.outcomes.length >= 1, 'aria2 connected')
  t.ok(server.outcomes.every((o) => 'method' in o && o.method === 'rc4'), 'every connection was MSE with RC4', { outcomes: server.outcomes })
})

if (!NATIVE_CHILD) {
  t.test('the same with native RC4 (a child Node with --openssl-legacy-provider)', async t => {
    await t.spawn(process.execPath, [...process.execArgv, '--openssl-legacy-provider', fileURLToPath(import.meta.url)], {
      env: { ...process.env, ZT_MSE_NATIVE_CHILD: '1' }
    }, 'native RC4')
  })
}
