/**
 * Downloads that need more than one peer: libtorrent seeders each holding a different third of the pieces (their
 * data directories have the other pieces zeroed; libtorrent hashes the data and advertises only what checks), and
 * a seeder killed mid-download while a full one remains.
 */
import t, { type Test } from 'tap'
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { seededBytes } from './helpers/create-fixtures.js'
import { explain, makeTorrent, requireBuiltCli, runDownload, startDownload, startLibtorrentSeeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

const PIECE_LENGTH = 16384
// 60 full pieces and a short last one
const LENGTH = 60 * PIECE_LENGTH + 1_234
const PIECE_COUNT = Math.ceil(LENGTH / PIECE_LENGTH)
const SEEDERS = 3

/** The data with every piece not in `keep` zeroed (random data: a zeroed piece cannot pass its hash). */
function partial (data: Buffer, keep: (index: number) => boolean): Buffer {
  const copy = Buffer.from(data)
  for (let i = 0; i < PIECE_COUNT; i++) if (!keep(i)) copy.fill(0, i * PIECE_LENGTH, Math.min(LENGTH, (i + 1) * PIECE_LENGTH))
  return copy
}

interface Fixture { data: Buffer, torrentPath: string, out: string, makeDir: (data: Buffer) => Promise<string> }

async function fixture (t: Test, seed: number): Promise<Fixture> {
  const base = await tempDir(t, 'swarm')
  const data = seededBytes(LENGTH, seed)
  await mkdir(join(base, 'full'))
  await writeFile(join(base, 'full', 'data.bin'), data)
  const torrentPath = join(base, 'data.torrent')
  await makeTorrent(join(base, 'full', 'data.bin'), torrentPath, 'http://127.0.0.1:1/announce', PIECE_LENGTH)
  let n = 0
  return {
    data,
    torrentPath,
    out: join(base, 'out'),
    makeDir: async (content) => {
      const dir = join(base, `seeder-${n++}`)
      await mkdir(dir)
      await writeFile(join(dir, 'data.bin'), content)
      return dir
    }
  }
}

t.before(requireBuiltCli)

t.test('pieces spread over three partial libtorrent seeders: one alone stalls, all three complete the download', { timeout: 60_000 }, async (t) => {
  const f = await fixture(t, 31)
  const peers: string[] = []
  for (let k = 0; k < SEEDERS; k++) {
    const dataDir = await f.makeDir(partial(f.data, (i) => i % SEEDERS === k))
    const seeder = await startLibtorrentSeeder({ torrentPath: f.torrentPath, dataDir, seedMode: false })
    t.teardown(seeder.stop)
    t.same(seeder.pieces, [...Array(PIECE_COUNT).keys()].filter((i) => i % SEEDERS === k), `seeder ${k} has exactly its third`)
    peers.push('--peer', `127.0.0.1:${seeder.port}`)
  }

  // one seeder alone: its third arrives, then nothing more can (the stall timeout ends the run)
  const alone = await runDownload([f.torrentPath, '-o', join(f.out, 'alone'), '--json', '--port', '0', '--no-trackers',
    peers[0]!, peers[1]!, '--stall-timeout', '3'], { timeoutMs: 30_000 })
  t.not(alone.code, 0, `one partial seeder cannot complete it (${explain(alone)})`)
  const aloneHave = alone.events.filter((e) => e.event === 'piece').map((e) => e.index as number).sort((a, b) => a - b)
  t.same(aloneHave, [...Array(PIECE_COUNT).keys()].filter((i) => i % SEEDERS === 0), 'exactly the first seeder\'s pieces were written')
  t.equal(alone.events.find((e) => e.event === 'error')?.code, 'NO_PEERS', 'it ends with NO_PEERS')

  const all = await runDownload([f.torrentPath, '-o', join(f.out, 'all'), '--json', '--port', '0', '--no-trackers', ...peers])
  t.equal(all.code, 0, `all three seeders together complete it (${explain(all)})`)
  const progress = all.events.filter((e) => e.event === 'progress')
  t.ok(progress.some((e) => (e.peersConnected as number) >= SEEDERS) || all.events.some((e) => e.event === 'done' && (e.peersConnected as number) >= SEEDERS),
    'all three seeders were connected')
  t.ok((await readFile(join(f.out, 'all', 'data.bin'))).equals(f.data), 'the file is identical')
})

t.test('a seeder killed mid-download while a full one remains: the download completes', { timeout: 60_000 }, async (t) => {
  const f = await fixture(t, 47)
  const doomed = await startLibtorrentSeeder({ torrentPath: f.torrentPath, dataDir: await f.makeDir(f.data) })
  t.teardown(doomed.stop)
  const survivor = await startLibtorrentSeeder({ torrentPath: f.torrentPath, dataDir: await f.makeDir(f.data) })
  t.teardown(survivor.stop)

  // ~1 MB at 250 kB/s: about four seconds, so a kill after ten pieces lands mid-way
  const run = startDownload([f.torrentPath, '-o', f.out, '--json', '--port', '0', '--no-trackers', '--download-limit', '250000',
    '--peer', `127.0.0.1:${doomed.port}`, '--peer', `127.0.0.1:${survivor.port}`], { timeoutMs: 45_000 })
  t.teardown(() => run.kill())
  await run.waitFor((e) => e.event === 'progress' && (e.peersConnected as number) === 2)
  let pieces = 0
  await run.waitFor((e) => e.event === 'piece' && ++pieces >= 10)
  t.notOk(run.events.some((e) => e.event === 'done'), 'not done when the seeder is killed')
  doomed.kill()
  const killedAt = Date.now()
  const result = await run.result
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  const after = result.events.filter((e) => e.event === 'piece' && e.time > killedAt).length
  t.ok(after > 0, `pieces were written after the kill (${after})`)
  t.ok((await readFile(join(f.out, 'data.bin'))).equals(f.data), 'the file is identical')
})
