/**
 * Uploading to aria2: a zentorrent seeder announces to a tracker (our embedded one, and Debian's opentracker);
 * aria2c, given only the .torrent, finds the seeder through that tracker, downloads (checking every piece) and
 * exits; we compare its files with ours byte for byte.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { startTorrent } from '../lib/client.js'
import { startTracker } from '../lib/tracker/server.js'
import { startOpentracker } from './helpers/opentracker.js'
import { aria2Leech, differences, makeFixture, type Fixture } from './helpers/leechers.js'
import { tempDir } from './helpers/temp.js'

const PIECE_LENGTH = 32 * 1024
const MULTI_FILES = {
  'one.bin': 1_000_003,
  'dir/two.bin': 32_768,
  'dir/three/four.bin': 2_222_222,
  'zero.txt': 0,
  'five.txt': 5
}

async function seed (t: Test, fixture: Fixture): Promise<void> {
  const seeder = await startTorrent(fixture.meta, {
    dht: false, output: fixture.dir,
    seed: true,
    listen: { host: '127.0.0.1', ports: [0] },
    ownAddresses: [],
    announcer: { retryDelayMs: 500, intervalFloorMs: 1000 }
  })
  t.teardown(async () => await seeder.stop())
  t.equal(seeder.torrent.done, true, 'the seeder verified its data as complete')
  // aria2 learns of us only from the tracker: wait for our first announce to be answered
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the seeder did not announce within 5 s')), 5000)
    seeder.announcer?.once('response', () => { clearTimeout(timer); resolve() })
  })
}

async function checkAria2 (t: Test, root: string, fixture: Fixture): Promise<void> {
  const save = join(root, 'aria2')
  const result = await aria2Leech(t, fixture.torrentPath, save, 30_000)
  t.equal(result.code, 0, 'aria2c finished the download', { stdout: result.stdout.slice(-2000), stderr: result.stderr.slice(-2000) })
  t.same(await differences(fixture, save), [], 'aria2\'s files equal ours byte for byte')
}

t.test('aria2 downloads a single-file torrent from a seeder found through our tracker', async (t) => {
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 5 })
  t.teardown(async () => await tracker.close())
  const root = await tempDir(t, 'up-aria2-single')
  const fixture = await makeFixture(root, 'single.bin', { '': 2 * 1024 * 1024 + 777 }, { pieceLength: PIECE_LENGTH, announce: tracker.url })
  await seed(t, fixture)
  await checkAria2(t, root, fixture)
})

t.test('aria2 downloads a multi-file torrent from a seeder found through our tracker', async (t) => {
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 5 })
  t.teardown(async () => await tracker.close())
  const root = await tempDir(t, 'up-aria2-multi')
  const fixture = await makeFixture(root, 'multi', MULTI_FILES, { pieceLength: PIECE_LENGTH, announce: tracker.url, seed: 21 })
  await seed(t, fixture)
  await checkAria2(t, root, fixture)
})

t.test('aria2 downloads a multi-file torrent from a seeder found through opentracker', async (t) => {
  const root = await tempDir(t, 'up-aria2-ot')
  // the info hash must be whitelisted before opentracker starts, and the torrent must name opentracker's URL:
  // make the torrent once to learn its hash (the announce URL is outside the info dictionary, so it is unchanged)
  const probe = await makeFixture(join(root, 'probe'), 'multi', MULTI_FILES, { pieceLength: PIECE_LENGTH, seed: 23 })
  const opentracker = await startOpentracker({ infoHashes: [probe.meta.infoHash] })
  t.teardown(async () => await opentracker.stop())
  const fixture = await makeFixture(root, 'multi', MULTI_FILES, { pieceLength: PIECE_LENGTH, announce: opentracker.httpUrl, seed: 23 })
  t.ok(fixture.meta.infoHash.equals(probe.meta.infoHash), 'the whitelisted info hash is the torrent\'s')
  await seed(t, fixture)
  await checkAria2(t, root, fixture)
})
