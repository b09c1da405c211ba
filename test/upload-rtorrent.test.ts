/**
 * Uploading to rtorrent (issue 17, item 9): rtorrent ignores the `reqq` we advertise and keeps 500-700 requests
 * outstanding at a fast seeder; we used to drop it as a REQUEST_FLOOD mid-download, and it never reconnected.
 *
 * `zentorrent seed` (the built CLI) serves a ~200 MiB multi-file torrent; a tracker on loopback introduces it to
 * rtorrent (which has no way to be given a peer on its command line). Our embedded tracker, not opentracker:
 * opentracker's reply names the asker too, and rtorrent, given its own address first, connects to itself, drops
 * that ("is self") and tries no other peer until its next announce, half an hour later (seen in about half the
 * runs). rtorrent runs headless: `-n` (no rtorrent.rc),
 * its whole configuration as `-o import=FILE`, `system.daemon.set` (no curses), and on `event.download.finished` it
 * touches a file and shuts down. rtorrent checks every piece it receives (SHA1); we compare its files with ours
 * byte for byte, and check from both sides that the one connection lasted.
 */
import t from 'tap'
import { access, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HttpTracker } from '../lib/tracker/http.js'
import { startTracker } from '../lib/tracker/server.js'
import { differences, makeFixture, requireExecutable, runChild } from './helpers/leechers.js'
import { freePort, requireBuiltCli, startDownload } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

const RTORRENT = process.env.RTORRENT ?? '/usr/bin/rtorrent'
/** About 200 MiB in three large files, one small and one empty: the shape that was dropped 6 runs out of 6. */
const FILES = {
  'a.bin': 90_000_000,
  'sub/b.bin': 70_000_000,
  'sub/deeper/c.bin': 50_000_000,
  'd.txt': 12_345,
  'empty.txt': 0
}
const PIECE_LENGTH = 256 * 1024
/** rtorrent fetches this in 2-3 s on loopback; the bound leaves room for a loaded machine. */
const RTORRENT_TIMEOUT_MS = 90_000

function rtorrentConfig (dir: string, port: number, torrent: string): string {
  return [
    `directory.default.set = ${join(dir, 'download')}`,
    `session.path.set = ${join(dir, 'session')}`,
    `network.port_range.set = ${port}-${port}`,
    'network.port_random.set = no',
    'network.bind_address.set = 127.0.0.1',
    'dht.mode.set = disable',
    'protocol.pex.set = no',
    'trackers.use_udp.set = no',
    'protocol.encryption.set = none',
    'system.daemon.set = true',
    `log.open_file = "main", ${join(dir, 'rtorrent.log')}`,
    'log.add_output = "info", "main"',
    'log.add_output = "peer_list_events", "main"',
    // (with "info" alone rtorrent 0.9.8 logs none of it: one of the debug groups switches the rest on)
    'log.add_output = "connection_debug", "main"',
    `method.set_key = event.download.finished, zentorrent_test, "execute.nothrow = touch, ${join(dir, 'finished')} ; system.shutdown.normal="`,
    `load.start = ${torrent}`,
    ''
  ].join('\n')
}

t.test('rtorrent downloads a 200 MiB multi-file torrent from zentorrent seed, over one connection', async (t) => {
  await requireBuiltCli()
  await requireExecutable(RTORRENT, 'apt-get install rtorrent (scripts/install-peers.sh)')
  const root = await tempDir(t, 'up-rtorrent')
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 60 })
  t.teardown(async () => await tracker.close())
  const fixture = await makeFixture(root, 'multi', FILES, { pieceLength: PIECE_LENGTH, seed: 61, announce: tracker.url })

  const seeder = startDownload(['seed', fixture.torrentPath, fixture.dir, '--bind', '127.0.0.1', '--port', '0', '--json'],
    { timeoutMs: RTORRENT_TIMEOUT_MS + 60_000 })
  t.teardown(() => { seeder.kill() })
  await seeder.waitFor((e) => e.event === 'done')
  // rtorrent learns of us only from the tracker: wait until it counts a seeder.
  const scraper = new HttpTracker(tracker.url)
  for (let tries = 0; ; tries++) {
    const entry = (await scraper.scrape([fixture.meta.infoHash])).get(fixture.meta.infoHashHex)
    if ((entry?.complete ?? 0) >= 1) break
    if (tries > 100) throw new Error('zentorrent seed did not announce within 10 s')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  const dir = join(root, 'rtorrent')
  await mkdir(join(dir, 'session'), { recursive: true })
  await mkdir(join(dir, 'download'))
  const config = join(dir, 'test.rc')
  await writeFile(config, rtorrentConfig(dir, await freePort(), fixture.torrentPath))
  const started = Date.now()
  const rtorrent = await runChild(t, RTORRENT, ['-n', '-o', `import=${config}`], RTORRENT_TIMEOUT_MS)
  const elapsed = Date.now() - started
  const log = await readFile(join(dir, 'rtorrent.log'), 'latin1').catch(() => '')
  const finished = await access(join(dir, 'finished')).then(() => true, () => false)
  t.ok(finished, `rtorrent finished the download (exit ${String(rtorrent.code ?? rtorrent.signal)} after ${elapsed} ms)`, { log: log.slice(-3000) })
  t.equal(rtorrent.code, 0, 'and shut down cleanly')
  // Dropped, rtorrent came back only at its next announce (a minute here): it finished after 63 s.
  t.ok(elapsed < 30_000, `without a stall (${elapsed} ms)`)
  t.same(await differences(fixture, join(dir, 'download')), [], 'rtorrent\'s files equal ours byte for byte')

  // Both sides: one connection, never closed by us while rtorrent was downloading.
  t.equal(log.match(/Handshake success/g)?.length ?? 0, 1, 'rtorrent made one connection')
  t.notMatch(log, /disconnected with non-zero transfer/, 'rtorrent saw no disconnect')
  seeder.kill('SIGINT')
  const result = await seeder.result
  // rtorrent itself closes the connection once it has every piece (a seed has nothing to give a seed), then checks
  // the whole download again before `event.download.finished`: a close is fine only with everything uploaded.
  const progress = result.events.filter((e) => e.event === 'progress')
  const early = result.events.filter((e) => e.event === 'peer-closed').map((e) => {
    const next = progress.find((p) => p.time >= e.time)
    return { id: e.id, uploadedThen: next === undefined ? null : next.uploaded as number }
  }).filter((c) => c.uploadedThen === null || c.uploadedThen < fixture.meta.length)
  t.same(early, [], 'zentorrent closed no connection before rtorrent had everything (it dropped rtorrent as a REQUEST_FLOOD)')
  const uploaded = Math.max(...result.events.filter((e) => e.event === 'progress').map((e) => e.uploaded as number))
  t.ok(uploaded >= fixture.meta.length, `zentorrent uploaded the whole torrent once (${uploaded} bytes)`)
  t.comment(`rtorrent fetched ${(fixture.meta.length / 2 ** 20).toFixed(0)} MiB in ${elapsed} ms`)
})
