/**
 * Streaming to stdout (`-o -`): the bytes are the file's, in order; and a reader that stops early (`| head -c
 * 1000`) makes the downloader exit cleanly and promptly, with no stack trace.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { explain, singleFileTorrent, requireBuiltCli, runDownload, startDownload, startLibtorrentSeeder } from './helpers/seeders.js'

const PIECE_LENGTH = 16384
const LENGTH = 2 * 1024 * 1024 + 5_555
/** After the reader goes away the downloader must be gone within this. */
const EXIT_BOUND_MS = 10_000

async function seeded (t: Test): Promise<{ data: Buffer, torrentPath: string, peer: string }> {
  const { dir, data, torrentPath } = await singleFileTorrent(t, 'stdout', LENGTH, 99, PIECE_LENGTH)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)
  return { data, torrentPath, peer: `127.0.0.1:${seeder.port}` }
}

t.before(requireBuiltCli)

t.test('-o - writes exactly the file\'s bytes to stdout (events on stderr)', { timeout: 60_000 }, async (t) => {
  const { data, torrentPath, peer } = await seeded(t)
  const result = await runDownload([torrentPath, '-o', '-', '--json', '--port', '0', '--peer', peer], { rawStdout: true, timeoutMs: 45_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.equal(result.stdout.length, data.length, 'as many bytes as the file')
  t.ok(result.stdout.equals(data), 'the same bytes')
  t.ok(result.events.some((e) => e.event === 'done'), '--json events went to stderr')
  t.equal(result.stderr, '', 'nothing else on stderr')
})

t.test('the reader closes the pipe after 1000 bytes: a clean, prompt exit', { timeout: 60_000 }, async (t) => {
  const { data, torrentPath, peer } = await seeded(t)
  // slowed down so the pipe closes while there is still much to stream
  const run = startDownload([torrentPath, '-o', '-', '--port', '0', '--peer', peer, '--download-limit', '500000'],
    { rawStdout: true, timeoutMs: 45_000 })
  t.teardown(() => run.kill())
  const stdout = run.child.stdout!
  const head = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let length = 0
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      length += chunk.length
      if (length < 1000) return
      stdout.off('data', onData)
      resolve(Buffer.concat(chunks).subarray(0, 1000))
    }
    stdout.on('data', onData)
    run.child.once('exit', () => reject(new Error('exited before 1000 bytes')))
  })
  stdout.destroy()
  const closedAt = Date.now()
  const result = await run.result
  const exitAfter = Date.now() - closedAt
  t.ok(head.equals(data.subarray(0, 1000)), 'the first 1000 bytes are the file\'s')
  t.notOk(result.timedOut, 'it exits by itself')
  t.equal(result.signal, null, 'not killed by a signal')
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.ok(exitAfter < EXIT_BOUND_MS, `within ${EXIT_BOUND_MS} ms of the pipe closing (${exitAfter} ms)`)
  t.notMatch(result.stderr, /\n\s+at |Error:|EPIPE/, `no stack trace or EPIPE noise on stderr: ${JSON.stringify(result.stderr)}`)
})
