/**
 * End to end: the CLI downloads from a libtorrent seeder it finds through a real tracker (Debian's opentracker:
 * the seeder announces, we announce, the tracker introduces us), and from one named with --peer. The output is
 * compared byte for byte with the seeder's data.
 */
import t from 'tap'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeTree } from './helpers/create-fixtures.js'
import { startOpentracker } from './helpers/opentracker.js'
import { explain, makeTorrent, requireBuiltCli, runDownload, sameFiles, startLibtorrentSeeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

const SINGLE = { 'single.bin': 1_000_003 }
// odd sizes, nested directories, a zero-length file, files smaller than a piece (16 KiB), one spanning many
const MULTI = {
  'tree/a.bin': 40_001,
  'tree/empty.txt': 0,
  'tree/sub/tiny.txt': 7,
  'tree/sub/deeper/small.bin': 5_000,
  'tree/sub/deeper/big.bin': 300_017,
  'tree/z/last.bin': 16_385
}

t.before(requireBuiltCli)

for (const [label, files, root] of [['single-file', SINGLE, 'single.bin'], ['multi-file', MULTI, 'tree']] as const) {
  t.test(`a ${label} torrent is downloaded from libtorrent found through opentracker`, { timeout: 60_000 }, async (t) => {
    const seeded = await tempDir(t, 'seeded')
    const out = await tempDir(t, 'out')
    await writeTree(seeded, files, label.length)
    const torrentPath = join(seeded, '..', `${root}-${Date.now()}.torrent`)
    t.teardown(async () => { await rm(torrentPath, { force: true }) })
    // the info hash does not depend on the tracker URL: learn it, whitelist it, then name the real tracker
    const infoHash = await makeTorrent(join(seeded, root), torrentPath, 'http://127.0.0.1:1/announce')
    const tracker = await startOpentracker({ infoHashes: [infoHash] })
    t.teardown(tracker.stop)
    t.same(await makeTorrent(join(seeded, root), torrentPath, tracker.httpUrl), infoHash, 'same info hash with the real tracker')
    const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: seeded, announce: true })
    t.teardown(seeder.stop)

    const result = await runDownload([torrentPath, '-o', out, '--json', '--port', '0'], { timeoutMs: 45_000 })
    t.equal(result.code, 0, `exit 0 (${explain(result)})`)
    t.ok(result.events.some((e) => e.event === 'done'), 'a done event')
    t.notOk(result.events.some((e) => e.event === 'tracker-error'), 'no tracker errors')
    if (label === 'multi-file') {
      const empty = await stat(join(out, 'tree/empty.txt')).catch(() => null)
      t.equal(empty?.size, 0, 'the zero-length file exists')
    }
    await sameFiles(t, files, seeded, out)
  })
}

t.test('a multi-file torrent is downloaded from a libtorrent peer named with --peer, no trackers', { timeout: 60_000 }, async (t) => {
  const seeded = await tempDir(t, 'seeded')
  const out = await tempDir(t, 'out')
  await writeTree(seeded, MULTI, 7)
  const torrentPath = join(out, '..', `peer-${Date.now()}.torrent`)
  t.teardown(async () => { await rm(torrentPath, { force: true }) })
  await makeTorrent(join(seeded, 'tree'), torrentPath, 'http://127.0.0.1:1/announce')
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: seeded })
  t.teardown(seeder.stop)

  const result = await runDownload([torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers', '--peer', `127.0.0.1:${seeder.port}`])
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  const done = result.events.find((e) => e.event === 'done')
  t.equal(done?.bytesHave, Object.values(MULTI).reduce((a, b) => a + b, 0), 'done reports every byte')
  await sameFiles(t, MULTI, seeded, out)
})
