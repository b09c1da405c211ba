/**
 * Magnet links end to end, the CLI against real software on loopback: zentorrent fetches the metadata (BEP 9)
 * from a libtorrent seeder found through a real tracker (`tr=`) and from an aria2 seeder named in the link
 * (`x.pe=`), then downloads in the same run; libtorrent and aria2 fetch the metadata by magnet from
 * `zentorrent seed`; `--save-torrent` writes a .torrent libtorrent loads with the same info hash; a peer that
 * serves wrong metadata next to an honest one is dropped and the download completes; no peer: exit 1 in time.
 */
import t, { type Test } from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import net from 'node:net'
import pump from 'pump'
import { startOpentracker } from './helpers/opentracker.js'
import { explain, makeTorrent, requireBuiltCli, runDownload, startAria2Seeder, startDownload, startLibtorrentSeeder } from './helpers/seeders.js'
import { aria2Leech } from './helpers/leechers.js'
import { tempDir } from './helpers/temp.js'
import { startGate } from './helpers/gate.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { parseMetainfo, type Metainfo } from '../lib/metainfo.js'
import { formatMagnet } from '../lib/magnet.js'
import { Wire } from '../lib/wire/wire.js'
import { generatePeerId } from '../lib/wire/handshake.js'
import { composeExtendedHandshake, peerExtensionId } from '../lib/wire/extensions.js'
import { decodeMetadataMessage, encodeMetadataMessage, metadataPieceLength } from '../lib/metadata/codec.js'
import { startTracker } from '../lib/tracker/server.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const PYTHON = '/usr/bin/python3'
const SIZE = 700 * 16384 + 4321 // the info dictionary is two ut_metadata pieces

t.before(requireBuiltCli)

interface Fixture { dir: string, data: Buffer, torrentPath: string, meta: Metainfo }

async function fixture (t: Test, tracker = ''): Promise<Fixture> {
  const dir = await tempDir(t, 'magnet')
  await mkdir(join(dir, 'seed'))
  const data = seededBytes(SIZE, 61)
  await writeFile(join(dir, 'seed', 'movie.bin'), data)
  const torrentPath = join(dir, 'movie.torrent')
  await makeTorrent(join(dir, 'seed', 'movie.bin'), torrentPath, tracker)
  return { dir, data, torrentPath, meta: parseMetainfo(await readFile(torrentPath)) }
}

t.test('magnet with tr= to opentracker: metadata from a libtorrent seeder, then the data', { timeout: 60_000 }, async (t) => {
  const probe = await fixture(t)
  const tracker = await startOpentracker({ infoHashes: [probe.meta.infoHash] })
  t.teardown(tracker.stop)
  const { dir, data, meta } = await fixture(t, tracker.httpUrl)
  t.same(meta.infoHash, probe.meta.infoHash, 'the tracker URL is outside the info hash')
  const seeder = await startLibtorrentSeeder({ torrentPath: join(dir, 'movie.torrent'), dataDir: join(dir, 'seed'), announce: true })
  t.teardown(seeder.stop)
  const magnet = formatMagnet({ infoHash: meta.infoHash, trackers: [[tracker.httpUrl]] })
  const out = join(dir, 'out')
  const result = await runDownload([magnet, '-o', out, '--json', '--port', '0'], { timeoutMs: 45_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  const started = result.events.find((e) => e.event === 'started')
  t.equal(started?.metadata, false, 'started without metadata')
  t.ok(result.events.some((e) => e.event === 'metadata-fetching') || result.events.some((e) => e.event === 'metadata'), 'fetching reported')
  const got = result.events.find((e) => e.event === 'metadata')
  t.equal(got?.name, 'movie.bin', 'the name once known')
  t.equal(got?.length, SIZE, 'and the size')
  t.ok((await readFile(join(out, 'movie.bin'))).equals(data), 'byte-identical')
})

t.test('magnet with x.pe= and no tracker: metadata from an aria2 seeder, then the data; --save-torrent loads in libtorrent', { timeout: 60_000 }, async (t) => {
  const { dir, data, torrentPath, meta } = await fixture(t)
  const seeder = await startAria2Seeder({ torrentPath, dataDir: join(dir, 'seed') })
  t.teardown(seeder.stop)
  const magnet = formatMagnet({ infoHash: meta.infoHash, peers: [{ host: '127.0.0.1', port: seeder.port }] })
  const out = join(dir, 'out')
  const saved = join(dir, 'saved.torrent')
  const result = await runDownload([magnet, '-o', out, '--json', '--port', '0', '--save-torrent', saved], { timeoutMs: 45_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.ok((await readFile(join(out, 'movie.bin'))).equals(data), 'byte-identical')
  const again = parseMetainfo(await readFile(saved))
  t.same(again.infoHash, meta.infoHash, 'the saved .torrent has the same info hash')
  const lt = await new Promise<string>((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', 'import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hashes().v1)', saved])
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.once('error', reject)
    child.once('close', (code) => code === 0 ? resolve(out.trim()) : reject(new Error(`libtorrent exited ${String(code)}`)))
  })
  t.equal(lt, meta.infoHashHex, 'libtorrent loads it, with the same info hash')
})

/** `zentorrent seed` on loopback; resolves with its listening port. */
async function seed (t: Test, fx: Fixture, extra: string[] = []): Promise<number> {
  const seeding = startDownload(['seed', fx.torrentPath, join(fx.dir, 'seed'), '--json', '--port', '0', '--bind', '127.0.0.1', ...extra], { timeoutMs: 90_000 })
  t.teardown(() => { seeding.kill() })
  const started = await seeding.waitFor((e) => e.event === 'started')
  await seeding.waitFor((e) => e.event === 'done')
  return started.port as number
}

t.test('libtorrent fetches the metadata by magnet from `zentorrent seed`, then the data', { timeout: 60_000 }, async (t) => {
  const fx = await fixture(t)
  const port = await seed(t, fx)
  const save = join(fx.dir, 'lt')
  await mkdir(save)
  const magnet = formatMagnet({ infoHash: fx.meta.infoHash, peers: [{ host: '127.0.0.1', port }] })
  const child = spawn(PYTHON, [join(HERE, 'helpers', 'magnet-leecher.py'), magnet, save, '40', '--download'], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const lines: Array<{ metadata?: boolean, info?: string, done?: boolean }> = []
  createInterface({ input: child.stdout }).on('line', (line) => { lines.push(JSON.parse(line) as { metadata?: boolean, info?: string, done?: boolean }) })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  t.equal(code, 0, `libtorrent finished (${stderr.slice(-500)})`)
  t.equal(lines.find((l) => l.metadata === true)?.info, fx.meta.infoBytes.toString('hex'), 'our info dictionary, byte for byte')
  t.ok(lines.some((l) => l.done === true), 'then the download')
  t.ok((await readFile(join(save, 'movie.bin'))).equals(fx.data), 'byte-identical')
})

t.test('aria2 fetches the metadata by magnet (tr= to a tracker) from `zentorrent seed`, then the data', { timeout: 60_000 }, async (t) => {
  const tracker = await startTracker()
  t.teardown(async () => { await tracker.close() })
  const fx = await fixture(t, tracker.url)
  await seed(t, fx)
  const save = join(fx.dir, 'aria2')
  await mkdir(save)
  const run = await aria2Leech(t, formatMagnet({ infoHash: fx.meta.infoHash, trackers: [[tracker.url]] }), save, 40_000)
  t.equal(run.code, 0, `aria2c finished: ${run.stdout.slice(-1500)} ${run.stderr.slice(-1500)}`)
  t.ok((await readFile(join(save, 'movie.bin')).catch(() => Buffer.alloc(0))).equals(fx.data), 'byte-identical')
})

/**
 * A peer that offers ut_metadata with the right size and answers every request with wrong bytes (and has no
 * pieces to give): what a liar looks like to BEP 9.
 */
async function startMetadataLiar (t: Test, meta: Metainfo): Promise<{ port: number, asked: () => number, dropped: () => number }> {
  let asked = 0
  let dropped = 0
  const server = net.createServer((socket) => {
    socket.once('end', () => { dropped++ }) // the downloader hung up on us
    const wire = new Wire({ peerId: generatePeerId() })
    pump(socket, wire, socket, () => {})
    wire.on('error', () => {})
    wire.once('handshake', () => {
      wire.accept({ infoHash: meta.infoHash })
      wire.extendedHandshake(composeExtendedHandshake([{ m: { ut_metadata: 3 }, metadata_size: meta.infoBytes.length }]))
    })
    wire.on('extended', (id: number, payload: Buffer) => {
      const msg = decodeMetadataMessage(payload)
      const their = peerExtensionId(wire, 'ut_metadata')
      if (id !== 3 || msg === null || msg.type !== 'request' || their === null) return
      asked++
      const length = metadataPieceLength(meta.infoBytes.length, msg.piece)
      wire.extended(their, encodeMetadataMessage({ type: 'data', piece: msg.piece, totalSize: meta.infoBytes.length, data: Buffer.alloc(length, 0x5a) }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return { port: (server.address() as net.AddressInfo).port, asked: () => asked, dropped: () => dropped }
}

t.test('a peer serving wrong metadata next to an honest libtorrent seeder: the download completes, the liar is dropped', { timeout: 60_000 }, async (t) => {
  const { dir, data, torrentPath, meta } = await fixture(t)
  const liar = await startMetadataLiar(t, meta)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: join(dir, 'seed') })
  t.teardown(seeder.stop)
  // the honest seeder is reachable only once the liar has been asked, so the liar's answer is really used
  const honestPort = await startGate(t, seeder.port, () => liar.asked() > 0)
  const magnet = formatMagnet({ infoHash: meta.infoHash, peers: [{ host: '127.0.0.1', port: liar.port }, { host: '127.0.0.1', port: honestPort }] })
  const out = join(dir, 'out')
  const result = await runDownload([magnet, '-o', out, '--json', '--port', '0'], { timeoutMs: 45_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.ok(liar.asked() > 0, `the liar was asked (${liar.asked()} requests)`)
  t.ok(liar.dropped() > 0, 'and dropped: the downloader closed its connection')
  t.ok((await readFile(join(out, 'movie.bin'))).equals(data), 'byte-identical')
})

t.test('no peer with the metadata within --metadata-timeout: exit 1 saying so', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'magnet-none')
  const magnet = formatMagnet({ infoHash: Buffer.alloc(20, 7), peers: [{ host: '127.0.0.1', port: 9 }] })
  const result = await runDownload([magnet, '-o', join(dir, 'out'), '--port', '0', '--metadata-timeout', '2'], { timeoutMs: 20_000 })
  t.equal(result.code, 1, `exit 1 (${explain(result)})`)
  t.ok(result.elapsed < 10_000, `within bounds (${result.elapsed} ms)`)
  t.match(result.stderr, /metadata/, 'it says the metadata never came')
})

t.test('malformed magnets: exit 2 with the reason', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'magnet-bad')
  for (const [bad, why] of [
    ['magnet:?dn=nothing', /xt|info hash/i],
    ['magnet:?xt=urn:btih:abcd', /hash|length/i],
    ['magnet:?xt=urn:btih:' + '!'.repeat(32), /base32|hash/i]
  ] as const) {
    const result = await runDownload([bad, '-o', join(dir, 'out')], { timeoutMs: 15_000 })
    t.equal(result.code, 2, `${bad}: exit 2 (${explain(result)})`)
    t.match(result.stderr, why)
  }
})
