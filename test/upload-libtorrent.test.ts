/**
 * Uploading to libtorrent: a zentorrent seeder (the library's startTorrent with seed: true, and the `seed` CLI)
 * serves single- and multi-file torrents to libtorrent, which is given only our address; libtorrent checks every
 * piece's SHA1 and we compare its files with ours byte for byte.
 */
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { startTorrent } from '../lib/client.js'
import { startTracker } from '../lib/tracker/server.js'
import { differences, kill, libtorrentLeech, makeFixture, type Fixture } from './helpers/leechers.js'
import { tempDir } from './helpers/temp.js'
import { startDownload } from './helpers/seeders.js'

const PIECE_LENGTH = 64 * 1024
const MULTI_FILES = {
  'a.bin': 700_001,
  'sub/b.bin': 65_536,
  'sub/deeper/c.bin': 1_234_567,
  'empty.txt': 0,
  'tiny.txt': 3
}

async function seedWithLibrary (t: Test, fixture: Fixture): Promise<number> {
  const seeder = await startTorrent(fixture.meta, {
    dht: false, output: fixture.dir,
    seed: true,
    trackers: false,
    listen: { host: '127.0.0.1', ports: [0] },
    ownAddresses: []
  })
  t.teardown(async () => await seeder.stop())
  t.equal(seeder.torrent.done, true, 'the seeder verified its data as complete')
  return seeder.port
}

async function checkLibtorrentDownload (t: Test, root: string, fixture: Fixture, port: number): Promise<void> {
  const save = join(root, 'libtorrent')
  const result = await libtorrentLeech(t, fixture.torrentPath, save, port, 30_000)
  t.equal(result.code, 0, 'libtorrent finished the download', { stdout: result.stdout, stderr: result.stderr.slice(-2000) })
  t.same(await differences(fixture, save), [], 'libtorrent\'s files equal ours byte for byte')
}

t.test('libtorrent downloads a single-file torrent from a library seeder', async (t) => {
  const root = await tempDir(t, 'up-lt-single')
  const fixture = await makeFixture(root, 'single.bin', { '': 3 * 1024 * 1024 + 12_345 }, { pieceLength: PIECE_LENGTH })
  const port = await seedWithLibrary(t, fixture)
  await checkLibtorrentDownload(t, root, fixture, port)
})

t.test('libtorrent downloads a multi-file torrent from a library seeder', async (t) => {
  const root = await tempDir(t, 'up-lt-multi')
  const fixture = await makeFixture(root, 'multi', MULTI_FILES, { pieceLength: PIECE_LENGTH, seed: 11 })
  const port = await seedWithLibrary(t, fixture)
  await checkLibtorrentDownload(t, root, fixture, port)
})

t.test('libtorrent downloads a multi-file torrent from the seed command', async (t) => {
  const root = await tempDir(t, 'up-lt-cli')
  // The seed command refuses a torrent without trackers (NO_PEERS) even though it listens, so this one names
  // our embedded tracker.
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 5 })
  t.teardown(async () => await tracker.close())
  const fixture = await makeFixture(root, 'multi', MULTI_FILES, { pieceLength: PIECE_LENGTH, seed: 13, announce: tracker.url })
  const bin = join(import.meta.dirname, '..', 'dist', 'bin', 'zentorrent.js')
  const child = spawn(process.execPath, [bin, 'seed', fixture.torrentPath, fixture.dir, '--port', '0', '--json', '--no-dht'],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { kill(child) })
  const port = await listeningPort(child)
  await checkLibtorrentDownload(t, root, fixture, port)
})

t.test('a slow libtorrent leecher (8 MiB/s, 24 MiB) from the seed command: complete, and nothing but our output on stderr', async (t) => {
  // A reader slower than us keeps the uploader waiting on the socket while every stage watches the wire: that
  // used to print Node's MaxListenersExceededWarning on the seeder's terminal.
  const root = await tempDir(t, 'up-lt-slow')
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 5 })
  t.teardown(async () => await tracker.close())
  const fixture = await makeFixture(root, 'slow.bin', { '': 24 * 1024 * 1024 }, { pieceLength: 256 * 1024, seed: 17, announce: tracker.url })
  const seeder = startDownload(['seed', fixture.torrentPath, fixture.dir, '--port', '0', '--bind', '127.0.0.1', '--json'], { timeoutMs: 40_000 })
  t.teardown(() => { seeder.kill() })
  const started = await seeder.waitFor((e) => e.event === 'started')
  const save = join(root, 'libtorrent')
  const result = await libtorrentLeech(t, fixture.torrentPath, save, started.port as number, 30_000, { rate: 8 * 1024 * 1024 })
  t.equal(result.code, 0, 'libtorrent finished the download', { stderr: result.stderr.slice(-2000) })
  t.same(await differences(fixture, save), [], 'libtorrent\'s file equals ours byte for byte')
  seeder.kill('SIGINT')
  const run = await seeder.result
  t.equal(run.code, 130, 'the seeder stopped on Ctrl-C')
  t.notMatch(run.stderr, /Warning/, 'the seeder printed no Node warning')
})

/** The port the seed command listens on, from its --json events. */
async function listeningPort (child: ReturnType<typeof spawn>): Promise<number> {
  return await new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`the seed command reported no port in 10 s:\n${out}\n${err}`)), 10_000)
    child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      for (const line of out.split('\n')) {
        try {
          const event = JSON.parse(line) as { port?: number }
          if (typeof event.port === 'number' && event.port > 0) { clearTimeout(timer); resolve(event.port); return }
        } catch {}
      }
    })
    child.once('close', (code) => { clearTimeout(timer); reject(new Error(`the seed command exited (${code}):\n${out}\n${err}`)) })
  })
}
