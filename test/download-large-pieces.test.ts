/**
 * Torrents with large pieces (8, 16 and 32 MiB: what mktorrent, libtorrent and qBittorrent choose for large
 * content) download from a libtorrent seeder. Once, every piece larger than the scheduler's buffer budget stayed
 * half-assembled for ever: the budget counted bytes of pieces still assembling, which only more blocks release.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { explain, requireBuiltCli, runDownload, singleFileTorrent, startLibtorrentSeeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

const MIB = 1024 * 1024

t.before(requireBuiltCli)

for (const pieceMiB of [8, 16, 32]) {
  t.test(`a torrent with ${pieceMiB} MiB pieces downloads from libtorrent`, { timeout: 90_000 }, async (t) => {
    // two and a half pieces: several whole pieces larger than the budget, and a short last one
    const { dir, data, torrentPath } = await singleFileTorrent(t, `large-${pieceMiB}`, Math.floor(2.5 * pieceMiB * MIB) + 4321, pieceMiB, pieceMiB * MIB)
    const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
    t.teardown(seeder.stop)
    const out = await tempDir(t, `large-${pieceMiB}-out`)
    const result = await runDownload([torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers', '--peer', `127.0.0.1:${seeder.port}`], { timeoutMs: 60_000 })
    t.equal(result.code, 0, `exit 0 (${explain(result)})`)
    t.equal(result.events.filter((e) => e.event === 'piece').length, 3, 'three pieces written')
    const got = await readFile(join(out, 'data.bin'))
    t.ok(got.equals(data), 'byte-identical')
  })
}
