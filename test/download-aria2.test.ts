/**
 * End to end against a second independent implementation: the CLI downloads single- and multi-file torrents
 * from an aria2c seeder, found through opentracker (aria2 announces itself) and named with --peer.
 */
import t from 'tap'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeTree } from './helpers/create-fixtures.js'
import { startOpentracker } from './helpers/opentracker.js'
import { explain, makeTorrent, requireBuiltCli, runDownload, sameFiles, startAria2Seeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

const SINGLE = { 'single.bin': 777_777 }
const MULTI = {
  'tree/one.bin': 33_333,
  'tree/empty': 0,
  'tree/n/two.txt': 11,
  'tree/n/m/three.bin': 250_001,
  'tree/n/m/four.bin': 16_383
}
const SEEDER_ANNOUNCE_TIMEOUT_MS = 15_000

/** Poll the tracker's scrape until it counts a seeder: aria2 has announced, so our announce will be told of it. */
async function waitForSeeder (announceUrl: string, infoHash: Buffer): Promise<void> {
  const scrape = announceUrl.replace(/\/announce$/, '/scrape') + '?info_hash=' +
    [...infoHash].map((b) => '%' + b.toString(16).padStart(2, '0')).join('')
  const deadline = Date.now() + SEEDER_ANNOUNCE_TIMEOUT_MS
  let last = ''
  while (Date.now() < deadline) {
    last = Buffer.from(await (await fetch(scrape)).arrayBuffer()).toString('latin1')
    const complete = /8:completei(\d+)e/.exec(last)
    if (complete !== null && Number(complete[1]) > 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`aria2c did not announce itself to opentracker within ${SEEDER_ANNOUNCE_TIMEOUT_MS} ms (last scrape: ${last})`)
}

t.before(requireBuiltCli)

for (const [label, files, root] of [['single-file', SINGLE, 'single.bin'], ['multi-file', MULTI, 'tree']] as const) {
  t.test(`a ${label} torrent is downloaded from aria2c found through opentracker`, { timeout: 60_000 }, async (t) => {
    const seeded = await tempDir(t, 'seeded')
    const out = await tempDir(t, 'out')
    const meta = await tempDir(t, 'torrent')
    await writeTree(seeded, files, 11 + label.length)
    const torrentPath = join(meta, `${root}.torrent`)
    const infoHash = await makeTorrent(join(seeded, root), torrentPath, 'http://127.0.0.1:1/announce')
    const tracker = await startOpentracker({ infoHashes: [infoHash] })
    t.teardown(tracker.stop)
    await makeTorrent(join(seeded, root), torrentPath, tracker.httpUrl)
    const seeder = await startAria2Seeder({ torrentPath, dataDir: seeded })
    t.teardown(seeder.stop)
    await waitForSeeder(tracker.httpUrl, infoHash)

    const result = await runDownload([torrentPath, '-o', out, '--json', '--port', '0'], { timeoutMs: 45_000 })
    t.equal(result.code, 0, `exit 0 (${explain(result)})`)
    t.ok(result.events.some((e) => e.event === 'done'), 'a done event')
    if (label === 'multi-file') t.equal((await stat(join(out, 'tree/empty')).catch(() => null))?.size, 0, 'the zero-length file exists')
    await sameFiles(t, files, seeded, out)
  })

  t.test(`a ${label} torrent is downloaded from aria2c named with --peer`, { timeout: 60_000 }, async (t) => {
    const seeded = await tempDir(t, 'seeded')
    const out = await tempDir(t, 'out')
    const meta = await tempDir(t, 'torrent')
    await writeTree(seeded, files, 23 + label.length)
    const torrentPath = join(meta, `${root}.torrent`)
    await makeTorrent(join(seeded, root), torrentPath, 'http://127.0.0.1:1/announce')
    const seeder = await startAria2Seeder({ torrentPath, dataDir: seeded })
    t.teardown(seeder.stop)

    const result = await runDownload([torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers', '--peer', `127.0.0.1:${seeder.port}`])
    t.equal(result.code, 0, `exit 0 (${explain(result)})`)
    await sameFiles(t, files, seeded, out)
  })
}
