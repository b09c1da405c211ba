/** fetchMetadata end to end on loopback: peers from a real tracker, a real libtorrent seeder, the bounds. */
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fetchMetadata } from '../lib/metadata/fetch-metadata.js'
import type { MetadataFetchStats } from '../lib/metadata/fetcher.js'
import { parseMetainfo } from '../lib/metainfo.js'
import { startTracker } from '../lib/tracker/server.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { freePort, makeTorrent, startLibtorrentSeeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'
import { HANG_BOUND_MS } from './helpers/bounds.js'

t.test('peers from a tr= tracker: the metadata from a libtorrent seeder that announced there', async (t) => {
  const tracker = await startTracker()
  t.teardown(async () => { await tracker.close() })
  const dir = await tempDir(t, 'fetch-metadata')
  await writeFile(join(dir, 'data.bin'), seededBytes(200_000, 3))
  const torrentPath = join(dir, 'data.torrent')
  const infoHash = await makeTorrent(join(dir, 'data.bin'), torrentPath, tracker.url)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir, announce: true })
  t.teardown(seeder.stop)
  const progress: MetadataFetchStats[] = []
  const meta = await fetchMetadata({ infoHash, trackers: [[tracker.url]], peers: [] }, {
    timeout: 20_000, host: '127.0.0.1', onProgress: (s) => progress.push(s)
  })
  const original = parseMetainfo(await readFile(torrentPath))
  t.ok(meta.infoBytes.equals(original.infoBytes), 'the info dictionary of the .torrent, byte for byte')
  t.ok(progress.some((s) => s.sources >= 1), 'progress reported a source ("fetching metadata from 1 peer")')
})

t.test('the bounds: an overall timeout, an abort, and nobody to ask', async (t) => {
  const infoHash = Buffer.alloc(20, 7)
  const port = await freePort()
  const started = Date.now()
  await t.rejects(fetchMetadata({ infoHash, trackers: [], peers: [{ host: '127.0.0.1', port }] }, { timeout: 500 }),
    { code: 'METADATA_TIMEOUT', message: /within 1 s \(1 peer address tried, none connected\)/ })
  t.ok(Date.now() - started < HANG_BOUND_MS)
  const aborted = new AbortController()
  setTimeout(() => { aborted.abort() }, 100).unref()
  await t.rejects(fetchMetadata({ infoHash, trackers: [], peers: [{ host: '127.0.0.1', port }] }, { timeout: 10_000, signal: aborted.signal }),
    { code: 'ABORTED' })
  await t.rejects(fetchMetadata({ infoHash, trackers: [], peers: [] }), { code: 'NO_PEERS' })
})
