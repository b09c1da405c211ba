/**
 * The download command's own behaviour, against an in-process zentorrent seeder: --select, and the `checking`
 * phase of a resume.
 */
import t from 'tap'
import { mkdtemp, mkdir, readFile, rm, writeFile, access } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { createTorrent, parseMetainfo, startTorrent } from '../lib/index.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { runDownload as zentorrent, explain } from './helpers/seeders.js'

const FILES: Record<string, number> = { 'a.bin': 70_000, 'sub/b.bin': 150_001, 'sub/deeper/c.bin': 9, 'd.bin': 123_456 }

t.test('--select downloads only the chosen files, byte for byte; a re-run checks and exits without downloading', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'zt-cli-'))
  t.teardown(async () => await rm(root, { recursive: true, force: true }))
  const source = join(root, 'seed', 'multi')
  let seed = 1
  for (const [path, length] of Object.entries(FILES)) {
    await mkdir(dirname(join(source, path)), { recursive: true })
    await writeFile(join(source, path), seededBytes(length, seed++))
  }
  const torrentBytes = await createTorrent(source, { pieceLength: 32 * 1024 })
  const meta = parseMetainfo(torrentBytes)
  const torrent = join(root, 'multi.torrent')
  await writeFile(torrent, torrentBytes)
  const seeder = await startTorrent(meta, { dht: false, output: join(root, 'seed'), seed: true, listen: { host: '127.0.0.1', ports: [0] }, trackers: false })
  t.teardown(seeder.stop)
  const indexOf = (path: string): number => meta.files.findIndex((f) => f.path.slice(1).join('/') === path)
  const chosen = [indexOf('sub/b.bin'), indexOf('sub/deeper/c.bin')]
  const out = join(root, 'out')
  const common = ['-o', out, '--peer', `127.0.0.1:${seeder.port}`, '--no-trackers', '--json', '--port', '0', '--bind', '127.0.0.1']

  const first = await zentorrent([torrent, ...common, '--select', chosen.join(',')])
  t.equal(first.code, 0, `exit 0 (${explain(first)})`)
  for (const path of ['sub/b.bin', 'sub/deeper/c.bin']) {
    t.ok((await readFile(join(out, 'multi', path))).equals(await readFile(join(source, path))), `${path} is identical`)
  }
  for (const path of ['a.bin', 'd.bin']) {
    await t.rejects(access(join(out, 'multi', path)), `${path} was not selected and is not created`)
  }

  const again = await zentorrent([torrent, ...common, '--select', chosen.join(',')])
  t.equal(again.code, 0, 'the re-run exits 0')
  const checking = again.events.filter((e) => e.event === 'checking')
  t.ok(checking.length > 0, 'the re-run reports checking')
  const last = checking.at(-1)!
  t.equal(last.checked, last.total, 'every candidate piece was checked')
  t.equal(last.valid, last.total, 'and found valid')
  t.equal(again.events.filter((e) => e.event === 'piece').length, 0, 'nothing downloaded again')
  t.equal(again.events.find((e) => e.event === 'done')?.downloaded, 0, 'no payload bytes received')
})

t.test('--select with an index the torrent lacks is a clear error, exit 2', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'zt-cli-'))
  t.teardown(async () => await rm(root, { recursive: true, force: true }))
  await writeFile(join(root, 'f.bin'), seededBytes(1000, 3))
  await writeFile(join(root, 'f.torrent'), await createTorrent(join(root, 'f.bin'), { pieceLength: 16 * 1024 }))
  const run = await zentorrent([join(root, 'f.torrent'), '-o', join(root, 'o'), '--peer', '127.0.0.1:9', '--select', '5'])
  t.equal(run.code, 2)
  t.match(run.stderr, /--select: no file 5 .*\[BAD_SELECTION\]/)
})
