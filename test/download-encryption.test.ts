/**
 * MSE/PE through the CLI, against real software on loopback, both directions, byte-identical:
 * - libtorrent with encryption forced (out/in_enc_policy forced, allowed_enc_level rc4) seeds to zentorrent,
 *   and downloads from `zentorrent seed`;
 * - aria2 with --bt-require-crypto=true --bt-min-crypto-level=arc4 the same.
 * zentorrent runs with its default policy (prefer) when it dials, and `--encryption require` where said; the
 * events say that the connections were RC4 and which RC4 implementation ran.
 */
import t, { type Test } from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { explain, makeTorrent, requireBuiltCli, runDownload, startAria2Seeder, startDownload, startLibtorrentSeeder, type DownloadEvent } from './helpers/seeders.js'
import { aria2Leech, libtorrentLeech } from './helpers/leechers.js'
import { tempDir } from './helpers/temp.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { startTracker } from '../lib/tracker/server.js'

const SIZE = 2 * 1024 * 1024 + 999

t.before(requireBuiltCli)

interface Fixture { dir: string, data: Buffer, torrentPath: string }

async function fixture (t: Test, tracker = ''): Promise<Fixture> {
  const dir = await tempDir(t, 'mse-cli')
  await mkdir(join(dir, 'seed'))
  const data = seededBytes(SIZE, 13)
  await writeFile(join(dir, 'seed', 'secret.bin'), data)
  const torrentPath = join(dir, 'secret.torrent')
  await makeTorrent(join(dir, 'seed', 'secret.bin'), torrentPath, tracker, 64 * 1024)
  return { dir, data, torrentPath }
}

/** A peer connected over MSE/PE with RC4 (the 'peer' event says how each connection is carried). */
function encrypted (events: readonly DownloadEvent[]): boolean {
  return events.some((e) => e.event === 'peer' && e.encryption === 'rc4')
}

for (const policy of ['prefer', 'require'] as const) {
  t.test(`libtorrent forcing RC4 seeds to zentorrent (--encryption ${policy})`, { timeout: 60_000 }, async (t) => {
    const fx = await fixture(t)
    const seeder = await startLibtorrentSeeder({ torrentPath: fx.torrentPath, dataDir: join(fx.dir, 'seed'), encryption: 'forced' })
    t.teardown(seeder.stop)
    const out = join(fx.dir, 'out')
    const result = await runDownload([fx.torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers', '--encryption', policy,
      '--peer', `127.0.0.1:${seeder.port}`], { timeoutMs: 45_000 })
    t.equal(result.code, 0, `exit 0 (${explain(result)})`)
    const started = result.events.find((e) => e.event === 'started')
    t.equal(started?.encryption, policy)
    t.match(started?.rc4, /^(native|js)$/, `the RC4 in use is said (${String(started?.rc4)})`)
    t.ok(encrypted(result.events), 'the connection was RC4')
    t.ok((await readFile(join(out, 'secret.bin'))).equals(fx.data), 'byte-identical')
  })
}

/** `zentorrent seed` on loopback with a policy; resolves with its port. */
async function seed (t: Test, fx: Fixture, policy: string): Promise<number> {
  const seeding = startDownload(['seed', fx.torrentPath, join(fx.dir, 'seed'), '--json', '--port', '0', '--bind', '127.0.0.1', '--encryption', policy], { timeoutMs: 80_000 })
  t.teardown(() => { seeding.kill() })
  const started = await seeding.waitFor((e) => e.event === 'started')
  await seeding.waitFor((e) => e.event === 'done')
  return started.port as number
}

t.test('libtorrent forcing RC4 downloads from `zentorrent seed --encryption require`', { timeout: 60_000 }, async (t) => {
  const fx = await fixture(t)
  const port = await seed(t, fx, 'require')
  const save = join(fx.dir, 'lt')
  await mkdir(save)
  const run = await libtorrentLeech(t, fx.torrentPath, save, port, 40_000, { encryption: 'forced' })
  t.equal(run.code, 0, `libtorrent finished: ${run.stderr.slice(-800)}`)
  t.ok((await readFile(join(save, 'secret.bin'))).equals(fx.data), 'byte-identical')
})

t.test('aria2 requiring RC4 seeds to zentorrent', { timeout: 60_000 }, async (t) => {
  const fx = await fixture(t)
  const seeder = await startAria2Seeder({ torrentPath: fx.torrentPath, dataDir: join(fx.dir, 'seed'), encryption: 'require' })
  t.teardown(seeder.stop)
  const out = join(fx.dir, 'out')
  const result = await runDownload([fx.torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers',
    '--peer', `127.0.0.1:${seeder.port}`], { timeoutMs: 45_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.ok(encrypted(result.events), 'the connection was RC4')
  t.ok((await readFile(join(out, 'secret.bin'))).equals(fx.data), 'byte-identical')
})

t.test('aria2 requiring RC4 downloads from `zentorrent seed` (found through a tracker)', { timeout: 60_000 }, async (t) => {
  const tracker = await startTracker()
  t.teardown(async () => { await tracker.close() })
  const fx = await fixture(t, tracker.url)
  await seed(t, fx, 'prefer')
  const save = join(fx.dir, 'aria2')
  await mkdir(save)
  const run = await aria2Leech(t, fx.torrentPath, save, 40_000, { encryption: 'require' })
  t.equal(run.code, 0, `aria2c finished: ${run.stdout.slice(-800)} ${run.stderr.slice(-800)}`)
  t.ok((await readFile(join(save, 'secret.bin')).catch(() => Buffer.alloc(0))).equals(fx.data), 'byte-identical')
})
