/**
 * Resume: a download killed with SIGKILL mid-way and started again completes, and what the first run reported
 * written (`piece` events: verified and on disk) is not downloaded again. A complete download started again
 * finishes at once without downloading anything.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { explain, singleFileTorrent, requireBuiltCli, runDownload, startDownload, startLibtorrentSeeder, type DownloadResult } from './helpers/seeders.js'

const PIECE_LENGTH = 16384
const LENGTH = 64 * PIECE_LENGTH + 4_321
const PIECE_COUNT = Math.ceil(LENGTH / PIECE_LENGTH)
/** Pieces the first run reports written before we kill it. */
const KILL_AFTER = 15
/** Pieces the first run may have written without reporting them (on disk, no event yet, when SIGKILL lands). */
const UNREPORTED_SLACK = 4

function pieceSize (index: number): number {
  return index === PIECE_COUNT - 1 ? LENGTH - (PIECE_COUNT - 1) * PIECE_LENGTH : PIECE_LENGTH
}

function pieces (result: DownloadResult): number[] {
  return result.events.filter((e) => e.event === 'piece').map((e) => e.index as number)
}

t.before(requireBuiltCli)

t.test('killed with SIGKILL mid-download and restarted: completes without fetching reported pieces again', { timeout: 60_000 }, async (t) => {
  const { dir, data, torrentPath } = await singleFileTorrent(t, 'resume', LENGTH, 77, PIECE_LENGTH)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)
  const out = join(dir, 'out')
  const args = [torrentPath, '-o', out, '--json', '--port', '0', '--peer', `127.0.0.1:${seeder.port}`]

  // ~1 MB at 200 kB/s: five seconds, so the kill after fifteen pieces lands a quarter of the way in
  const first = startDownload([...args, '--download-limit', '200000'], { timeoutMs: 30_000 })
  t.teardown(() => first.kill())
  let seen = 0
  await first.waitFor((e) => e.event === 'piece' && ++seen >= KILL_AFTER)
  first.kill('SIGKILL')
  const firstResult = await first.result
  t.equal(firstResult.signal, 'SIGKILL', 'the first run was killed')
  t.notOk(firstResult.events.some((e) => e.event === 'done'), 'before it was done')
  const before = pieces(firstResult)
  t.ok(before.length >= KILL_AFTER && before.length < PIECE_COUNT, `${before.length} pieces reported written before the kill`)

  const second = await runDownload(args, { timeoutMs: 30_000 })
  t.equal(second.code, 0, `the restarted run completes (${explain(second)})`)
  const after = pieces(second)
  const overlap = after.filter((i) => before.includes(i))
  t.same(overlap, [], 'no piece reported by the first run is written again')
  const missing = LENGTH - before.reduce((n, i) => n + pieceSize(i), 0)
  const done = second.events.find((e) => e.event === 'done')
  const downloaded = done?.downloaded as number
  t.ok(downloaded <= missing && downloaded >= missing - UNREPORTED_SLACK * PIECE_LENGTH,
    `the second run downloaded ${downloaded} bytes: the ${missing} missing (less any written but unreported)`)
  const unreported = PIECE_COUNT - new Set([...before, ...after]).size
  t.ok(unreported <= UNREPORTED_SLACK, `pieces found on disk at restart but never reported: ${unreported}`)
  t.ok((await readFile(join(out, 'data.bin'))).equals(data), 'the file is identical')

  // and once more: nothing to do
  const third = await runDownload(args, { timeoutMs: 15_000 })
  t.equal(third.code, 0, `a complete download run again exits 0 (${explain(third)})`)
  t.ok(third.elapsed < 5_000, `quickly (${third.elapsed} ms)`)
  t.same(pieces(third), [], 'no piece events')
  t.equal(third.events.find((e) => e.event === 'done')?.downloaded, 0, 'downloaded 0')
  t.ok((await readFile(join(out, 'data.bin'))).equals(data), 'the file is still identical')
})
