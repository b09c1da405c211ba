/**
 * Finding peers without a tracker, end to end, the CLI against libtorrent on loopback (no public router: every
 * DHT node bootstraps from a local one, and ZENTORRENT_NO_PUBLIC_DHT is set):
 * - a download from a libtorrent seeder given only the info hash, or a magnet without tr=, through the DHT alone;
 * - a libtorrent leecher finds `zentorrent seed` through the DHT alone;
 * - PEX: connected only to libtorrent peer A, zentorrent learns seeder B from A's ut_pex and downloads from B;
 * - a seeder that restarts on the same port mid-download: zentorrent reconnects and finishes, no tracker;
 * - a dead --peer: the "no peers" state and its retry schedule, then exit 1 with --stall-timeout;
 * - the guard: with the public routers refused and no local node, the DHT stays off and says so.
 */
import t, { type Test } from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { explain, freePort, makeTorrent, requireBuiltCli, runDownload, startDownload, startLibtorrentSeeder } from './helpers/seeders.js'
import { isEvent, startLibtorrentNode, LT_SOURCE, type LibtorrentNode, type LibtorrentNodeConfig } from './helpers/libtorrent-node.js'
import { tempDir } from './helpers/temp.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { parseMetainfo, type Metainfo } from '../lib/metainfo.js'
import { formatMagnet } from '../lib/magnet.js'

const LOOPBACK = '127.0.0.1'
const SIZE = 3 * 1024 * 1024 + 777

t.before(requireBuiltCli)

async function node (t: Test, config: LibtorrentNodeConfig): Promise<LibtorrentNode> {
  const n = await startLibtorrentNode(config)
  t.teardown(n.stop)
  return n
}

interface Fixture { dir: string, data: Buffer, torrentPath: string, meta: Metainfo }

async function fixture (t: Test, name: string, size = SIZE): Promise<Fixture> {
  const dir = await tempDir(t, name)
  await mkdir(join(dir, 'seed'))
  const data = seededBytes(size, name.length)
  await writeFile(join(dir, 'seed', 'data.bin'), data)
  const torrentPath = join(dir, 'data.torrent')
  await makeTorrent(join(dir, 'seed', 'data.bin'), torrentPath, '', 64 * 1024)
  return { dir, data, torrentPath, meta: parseMetainfo(await readFile(torrentPath)) }
}

/** A local DHT: a libtorrent router and a libtorrent seeder that announces there. */
async function dhtSwarm (t: Test, fx: Fixture): Promise<{ router: LibtorrentNode, seeder: LibtorrentNode }> {
  const router = await node(t, { save_path: join(fx.dir, 'router'), dht: { bootstrap: '' } })
  const seeder = await node(t, { torrent: fx.torrentPath, save_path: join(fx.dir, 'seed'), seed: true, dht: { bootstrap: `${LOOPBACK}:${router.port}` } })
  await seeder.waitFor(isEvent('dht_announced'), 30_000, 'the seeder announcing itself to the DHT').catch(() => {}) // best effort: its first announce can lag
  return { router, seeder }
}

for (const form of ['an info hash', 'a magnet without tr='] as const) {
  t.test(`${form}: the DHT alone finds a libtorrent seeder, and the download completes`, { timeout: 90_000 }, async (t) => {
    const fx = await fixture(t, `dht-${form.length}`)
    const { router } = await dhtSwarm(t, fx)
    const what = form === 'an info hash' ? fx.meta.infoHashHex : formatMagnet({ infoHash: fx.meta.infoHash })
    const out = join(fx.dir, 'out')
    const result = await runDownload([what, '-o', out, '--json', '--port', '0', '--bind', LOOPBACK,
      '--dht-bootstrap', `${LOOPBACK}:${router.port}`, '--dht-state', join(fx.dir, 'dht.json')], { timeoutMs: 75_000 })
    t.equal(result.code, 0, `exit 0 (${explain(result)})`)
    t.ok(result.events.some((e) => e.event === 'peer' && (e.sources as string[]).includes('dht')), 'a peer connected from the DHT')
    t.ok((await readFile(join(out, 'data.bin'))).equals(fx.data), 'byte-identical')
    const saved = JSON.parse(await readFile(join(fx.dir, 'dht.json'), 'utf8')) as { nodes?: unknown[] }
    t.ok(Array.isArray(saved.nodes) && saved.nodes.length > 0, 'the routing table was saved on exit')
  })
}

t.test('a libtorrent leecher finds `zentorrent seed` through the DHT alone', { timeout: 90_000 }, async (t) => {
  const fx = await fixture(t, 'dht-seed-us')
  const router = await node(t, { save_path: join(fx.dir, 'router'), dht: { bootstrap: '' } })
  const port = await freePort()
  const seeding = startDownload(['seed', fx.torrentPath, join(fx.dir, 'seed'), '--json', '--port', String(port), '--bind', LOOPBACK,
    '--no-trackers', '--dht-bootstrap', `${LOOPBACK}:${router.port}`, '--dht-state', join(fx.dir, 'dht.json')], { timeoutMs: 85_000 })
  t.teardown(() => { seeding.kill() })
  await seeding.waitFor((e) => e.event === 'done')
  const leech = await node(t, { magnet: formatMagnet({ infoHash: fx.meta.infoHash }), save_path: join(fx.dir, 'lt'), dht: { bootstrap: `${LOOPBACK}:${router.port}` } })
  await leech.waitFor(isEvent('finished'), 75_000, 'libtorrent finishing the download')
  t.ok((await readFile(join(fx.dir, 'lt', 'data.bin'))).equals(fx.data), 'byte-identical')
})

t.test('PEX: connected only to libtorrent peer A, zentorrent learns seeder B from A and downloads from it', { timeout: 90_000 }, async (t) => {
  const fx = await fixture(t, 'pex-learn')
  // B: the seeder; A: a libtorrent peer with nothing, connected to B (it tells us about B by ut_pex)
  const b = await startLibtorrentSeeder({ torrentPath: fx.torrentPath, dataDir: join(fx.dir, 'seed') })
  t.teardown(b.stop)
  await mkdir(join(fx.dir, 'a'))
  // A downloads slowly, so it is still connected to B (two seeds would hang up on each other)
  const a = await node(t, { torrent: fx.torrentPath, save_path: join(fx.dir, 'a'), download_limit: 20_000 })
  a.command(`connect ${LOOPBACK} ${b.port}`)
  await a.waitForPeers((peers) => peers.some((p) => p.port === b.port), 20_000, 'A connected to B')
  const out = join(fx.dir, 'out')
  // A is the only peer we are told of; it has nothing to give us until it has downloaded, so B must come from PEX
  const result = await runDownload([fx.torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers', '--no-dht',
    '--peer', `${LOOPBACK}:${a.port}`], { timeoutMs: 75_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  // A has next to nothing (it downloads at 20 kB/s): the bytes came from B, whom one side learnt of by PEX (we
  // dial B from A's ut_pex, or B dials us from A's; when both happen one connection stays)
  const others = result.events.filter((e) => e.event === 'peer' && e.id !== `${LOOPBACK}:${a.port}`)
  t.ok(others.length > 0, `a peer besides A connected (${others.map((e) => `${String(e.id)} from ${String(e.sources)}`).join('; ')})`)
  t.ok(result.events.some((e) => e.event === 'peer' && (e.sources as string[]).includes('pex')) || others.some((e) => e.outgoing === false),
    'through PEX: dialled from A\'s ut_pex, or dialled by B, which learnt of us from A')
  t.ok((await readFile(join(out, 'data.bin'))).equals(fx.data), 'byte-identical')
})

t.test('libtorrent learns a peer from our PEX', { timeout: 90_000 }, async (t) => {
  const fx = await fixture(t, 'pex-teach')
  // zentorrent seeds; libtorrent peers S and L connect to us only. We tell L about S by ut_pex, and L connects to
  // S (libtorrent marks the peer's source)
  const seeding = startDownload(['seed', fx.torrentPath, join(fx.dir, 'seed'), '--json', '--port', '0', '--bind', LOOPBACK, '--no-trackers', '--no-dht'], { timeoutMs: 85_000 })
  t.teardown(() => { seeding.kill() })
  const started = await seeding.waitFor((e) => e.event === 'started')
  await seeding.waitFor((e) => e.event === 'done')
  const ours = started.port as number
  // S: a slow libtorrent leecher connected to us (two seeds would hang up on each other at once)
  await mkdir(join(fx.dir, 's'))
  const sNode = await node(t, { torrent: fx.torrentPath, save_path: join(fx.dir, 's'), download_limit: 20_000 })
  sNode.command(`connect ${LOOPBACK} ${ours}`)
  await sNode.waitForPeers((list) => list.some((p) => p.port === ours), 20_000, 'S connected to us')
  await mkdir(join(fx.dir, 'l'))
  // L downloads slowly on purpose: it must still be downloading when our PEX tells it about S
  const l = await node(t, { torrent: fx.torrentPath, save_path: join(fx.dir, 'l'), download_limit: 30_000 })
  l.command(`connect ${LOOPBACK} ${ours}`)
  const peers = await l.waitForPeers((list) => list.some((p) => (p.source & LT_SOURCE.pex) !== 0), 75_000, 'a peer libtorrent learnt by PEX')
    .catch((err: Error) => { throw new Error(`${err.message}\n${l.log().slice(-3000)}`) })
  t.ok(peers.some((p) => (p.source & LT_SOURCE.pex) !== 0 && p.port !== ours), `libtorrent connected to a peer it learnt from our ut_pex (${JSON.stringify(peers)})`)
})

t.test('a seeder that restarts on the same port mid-download: reconnected without a tracker, and finished', { timeout: 90_000 }, async (t) => {
  const fx = await fixture(t, 'restart', 12 * 1024 * 1024)
  const port = await freePort()
  let seeder = await startLibtorrentSeeder({ torrentPath: fx.torrentPath, dataDir: join(fx.dir, 'seed'), port })
  t.teardown(async () => { await seeder.stop() })
  const out = join(fx.dir, 'out')
  const run = startDownload([fx.torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers', '--no-dht',
    '--peer', `${LOOPBACK}:${port}`, '--download-limit', '2M'], { timeoutMs: 80_000 })
  await run.waitFor((e) => e.event === 'piece')
  seeder.kill() // gone mid-download
  await new Promise((resolve) => setTimeout(resolve, 1500))
  seeder = await startLibtorrentSeeder({ torrentPath: fx.torrentPath, dataDir: join(fx.dir, 'seed'), port })
  const result = await run.result
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.ok((await readFile(join(out, 'data.bin'))).equals(fx.data), 'byte-identical')
})

t.test('a dead --peer: "no peers" with a retry schedule, then exit 1 at --stall-timeout', { timeout: 60_000 }, async (t) => {
  const fx = await fixture(t, 'dead-peer', 100_000)
  const dead = await freePort()
  const result = await runDownload([fx.torrentPath, '-o', join(fx.dir, 'out'), '--json', '--port', '0', '--no-trackers', '--no-dht',
    '--peer', `${LOOPBACK}:${dead}`, '--stall-timeout', '12'], { timeoutMs: 40_000 })
  t.equal(result.code, 1, `exit 1 (${explain(result)})`)
  t.ok(result.elapsed < 30_000, `within bounds (${result.elapsed} ms)`)
  const stalled = result.events.filter((e) => e.event === 'progress' && e.state === 'stalled')
  t.ok(stalled.length > 0, 'the "no peers" state is reported')
  const retries = stalled.map((e) => e.nextRetryIn).filter((n): n is number => typeof n === 'number')
  t.ok(retries.length > 0 && retries.every((n) => n >= 0 && n <= 60_000), `with when the peer is tried again (${retries.slice(0, 5).join(', ')} ms)`)
  t.ok(result.events.some((e) => e.event === 'stopped'), 'and a stopped event with the facts')
  t.match(result.stderr, /no progress for 12 s/, 'the reason')
})

t.test('ZENTORRENT_NO_PUBLIC_DHT with no local node: the DHT stays off, says so, and nothing else changes', { timeout: 30_000 }, async (t) => {
  const fx = await fixture(t, 'guard', 100_000)
  const seeder = await startLibtorrentSeeder({ torrentPath: fx.torrentPath, dataDir: join(fx.dir, 'seed') })
  t.teardown(seeder.stop)
  const out = join(fx.dir, 'out')
  // --dht-state only: the DHT is wanted, with the public routers as bootstrap, which the guard refuses
  const result = await runDownload([fx.torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers', '--dht-state', join(fx.dir, 'dht.json'),
    '--peer', `${LOOPBACK}:${seeder.port}`], { timeoutMs: 25_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  const warning = result.events.find((e) => e.event === 'warning')
  t.match(String(warning?.message), /ZENTORRENT_NO_PUBLIC_DHT/, 'the refusal is said')
  t.ok((await readFile(join(out, 'data.bin'))).equals(fx.data), 'byte-identical')
})
