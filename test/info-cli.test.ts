import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatInfo, humanSize, metadataStatus, toJson } from '../lib/cli/info.js'
import { parseMagnet } from '../lib/magnet.js'
import { freePort, singleFileTorrent, startLibtorrentSeeder } from './helpers/seeders.js'
import { parseMetainfo } from '../lib/metainfo.js'
import { writeLargeTorrents } from './helpers/large-torrents.js'
import { tempDir } from './helpers/temp.js'
import { MULTI, SINGLE, buildTorrent, infoFor, rawTorrent, writeLayout } from './helpers/torrent-fixtures.js'
import { libtorrentCreate } from './helpers/torrent-third-party.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'dist', 'bin', 'zentorrent.js')
const fixture = (name: string): string => join(root, 'fixtures', name)

interface Outcome { status: number | null, stdout: string, stderr: string }

/** Run the built CLI; bounded by a timeout, so no process outlives the test. */
function zentorrent (...args: string[]): Outcome {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (npm test builds; or npx tsc -p tsconfig.build.json)`)
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 20_000 })
  if (result.error !== undefined) throw result.error
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

t.test('info shows a torrent like transmission-show', async (t) => {
  const out = zentorrent('info', fixture('sample.torrent'))
  t.equal(out.status, 0)
  t.equal(out.stderr, '')
  const meta = parseMetainfo(await readFile(fixture('sample.torrent')))
  for (const line of [
    '  Name: sample',
    `  Hash: ${meta.infoHashHex}`,
    '  Created by: zentorrent fixtures',
    '  Created on: 2024-06-01T00:00:00.000Z',
    `  Piece Count: ${meta.pieceCount}`,
    '  Piece Size: 16.00 KiB (16384 bytes)',
    `  Total Size: ${humanSize(meta.length)} (${meta.length} bytes)`,
    '  Privacy: Public torrent',
    '  Tier #1',
    '  http://127.0.0.1:6969/announce',
    '  Tier #2',
    '  udp://127.0.0.1:6969',
    '  0  sample/README.txt (517 B)',
    '  3  sample/empty.txt (0 B)'
  ]) t.ok(out.stdout.split('\n').includes(line), line)
})

t.test('--json prints one object with the same facts', async (t) => {
  const out = zentorrent('info', '--json', fixture('pad.torrent'))
  t.equal(out.status, 0)
  t.equal(out.stdout.trim().split('\n').length, 1)
  const json = JSON.parse(out.stdout) as { infoHash: string, files: Array<{ index: number, path: string, pad: boolean }> }
  const meta = parseMetainfo(await readFile(fixture('pad.torrent')))
  t.same(json, JSON.parse(JSON.stringify(toJson(meta))))
  t.equal(json.infoHash, meta.infoHashHex)
  t.ok(json.files.some((f) => f.pad))
})

t.test('pad files keep their index but are not listed', async (t) => {
  const meta = parseMetainfo(buildTorrent(MULTI, { seed: 1, pad: true }).torrent)
  const text = formatInfo(meta)
  const pads = meta.files.filter((f) => f.pad).length
  t.match(text, `FILES (${meta.files.length - pads}, and ${pads} pad files not shown)`)
  t.notMatch(text, '.pad/')
  const last = meta.files.length - 1
  t.match(text, `${last}  multi/z.dat`, 'indexes are the metainfo\'s, as --select takes them')
})

t.test('a bad or missing file is one line on stderr with its code, and a non-zero status', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zentorrent-info-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const hostile = join(dir, 'hostile.torrent')
  await writeFile(hostile, rawTorrent(infoFor('t', [{ path: ['..', '..', 'etc', 'passwd'], length: 10 }])))
  const truncated = join(dir, 'truncated.torrent')
  await writeFile(truncated, (await readFile(fixture('sample.torrent'))).subarray(0, 100))
  const cases: Array<[string[], RegExp, number]> = [
    [[hostile], /^zentorrent: .*hostile\.torrent: unsafe file path .* \[PATH_ESCAPES_ROOT\]\n$/, 2],
    [[truncated], /^zentorrent: .* \[TRUNCATED\]\n$/, 2],
    [[fixture('make-fixtures.ts')], /^zentorrent: .* \[NOT_BENCODE\]\n$/, 2],
    [[join(dir, 'missing.torrent')], /^zentorrent: no such file: .*missing\.torrent \[NOT_FOUND\]\n$/, 2],
    [[], /^zentorrent: info needs TORRENT \(see zentorrent info --help\) \[BAD_ARGUMENT\]\n$/, 2],
    [[hostile, hostile], /^zentorrent: info takes exactly one TORRENT, got 2: .*\[BAD_ARGUMENT\]\n$/, 2],
    [['--bogus', hostile], /^zentorrent: info: unknown option --bogus .*\[BAD_ARGUMENT\]\n$/, 2],
    [[dir], /^zentorrent: .* is a directory; give the \.torrent file .*\[NOT_A_FILE\]\n$/, 2],
    [['magnet:?xt=urn:btih:1234'], /^zentorrent: .*4 hex characters; a v1 info hash has 40 .*\[BAD_INFO_HASH\]\n$/, 2],
    [['magnet:?dn=x'], /^zentorrent: magnet link has no info hash .*\[NO_INFO_HASH\]\n$/, 2],
    [['--metadata-timeout', '0', hostile], /^zentorrent: info: --metadata-timeout must be a positive duration.*\[BAD_ARGUMENT\]\n$/, 2]
  ]
  for (const [args, stderr, status] of cases) {
    const out = zentorrent('info', ...args)
    t.match(out.stderr, stderr, args.join(' '))
    t.equal(out.status, status, `exit status for ${args.join(' ')}`)
    t.equal(out.stdout, '')
  }
})

t.test('a v2-only torrent is refused as such, with exit status 2', async (t) => {
  const dir = await tempDir(t, 'info-v2')
  const source = await writeLayout(join(dir, 'data'), SINGLE, 3)
  libtorrentCreate(source, join(dir, 'v2.torrent'), 'v2')
  const out = zentorrent('info', join(dir, 'v2.torrent'))
  t.match(out.stderr, /^zentorrent: .*v2\.torrent: this is a BitTorrent v2 torrent .* v2 is not supported yet.* \[V2_ONLY\]\n$/)
  t.equal(out.status, 2)
  t.equal(out.stdout, '')
})

/** Peak resident memory of a command, from the kernel's rusage of the children python waited for. */
function peakRss (command: string[]): { status: number, maxRssMiB: number, stdoutBytes: number, stderr: string } {
  const script = `
import json, os, resource, subprocess, sys
env = {k: v for k, v in os.environ.items() if k in ('PATH', 'HOME')}
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, env=env)
print(json.dumps({'status': p.returncode, 'maxRssMiB': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  'stdoutBytes': len(p.stdout), 'stderr': p.stderr.decode('utf-8', 'replace')}))
`
  // The child gets a user's environment (PATH, HOME): tap adds its process-info loader to NODE_OPTIONS of every
  // process a test spawns, whatever env it is given, and that loader alone costs 20 MiB.
  const result = spawnSync('/usr/bin/python3', ['-c', script, ...command], { encoding: 'utf8', timeout: 90_000 })
  if (result.status !== 0) throw new Error(`measuring ${command.join(' ')} failed: ${result.stderr}`)
  return JSON.parse(result.stdout) as { status: number, maxRssMiB: number, stdoutBytes: number, stderr: string }
}

/** `info` on the largest torrents seen in the wild: was 340 MiB (3 M pieces) and 228 MiB (100,000 files). */
const INFO_PEAK_RSS_MIB = 150

t.test(`info on a 3-million-piece and on a 100,000-file torrent stays under ${INFO_PEAK_RSS_MIB} MiB resident`, async (t) => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build first`)
  const dir = await tempDir(t, 'info-large')
  const { manyPieces, manyFiles } = await writeLargeTorrents(dir)
  for (const [path, what, minOutput] of [[manyPieces, '3,000,000 pieces', 300], [manyFiles, '100,000 files', 5_000_000]] as const) {
    for (const json of [false, true]) {
      // Run as a user runs it: the built bin, through its shebang (and the runtime flags it sets).
      const measured = peakRss([bin, 'info', ...(json ? ['--json'] : []), path])
      t.equal(measured.status, 0, `${what}${json ? ' --json' : ''}: exit 0 ${measured.stderr}`)
      t.ok(measured.stdoutBytes > minOutput, `${what}: printed everything (${measured.stdoutBytes} bytes)`)
      t.ok(measured.maxRssMiB < INFO_PEAK_RSS_MIB, `${what}${json ? ' --json' : ''}: peak ${measured.maxRssMiB.toFixed(0)} MiB`)
    }
  }
})

t.test('--help', async (t) => {
  const out = zentorrent('info', '--help')
  t.equal(out.status, 0)
  t.match(out.stdout, 'Usage: zentorrent info TORRENT [--json] [--magnet] [--save-torrent FILE]')
  t.match(out.stdout, '--metadata-timeout DURATION')
})

t.test('sizes read like a person would say them', async (t) => {
  t.equal(humanSize(0), '0 B')
  t.equal(humanSize(1023), '1023 B')
  t.equal(humanSize(1536), '1.50 KiB')
  t.equal(humanSize(5 * 1024 ** 3), '5.00 GiB')
})

t.test('--magnet prints the magnet link of a .torrent, and normalises a link without fetching', async (t) => {
  const out = zentorrent('info', '--magnet', fixture('sample.torrent'))
  t.equal(out.status, 0, out.stderr)
  const meta = parseMetainfo(await readFile(fixture('sample.torrent')))
  t.equal(out.stdout.split('\n').length, 2, 'one line')
  const link = parseMagnet(out.stdout.trim())
  t.same(link.infoHash, meta.infoHash)
  t.equal(link.name, meta.name)
  t.same(link.trackers, meta.announce.flat().map((url) => [url]), 'every tracker, one tier each')

  const given = `magnet:?xt=urn:btih:${meta.infoHashHex.toUpperCase()}&tr=udp%3A%2F%2F127.0.0.1%3A1&x.pe=127.0.0.1:1&dn=a+b&xs=ignored`
  const again = zentorrent('info', '--magnet', given)
  t.equal(again.status, 0, again.stderr)
  t.equal(again.stdout, `magnet:?xt=urn:btih:${meta.infoHashHex}&dn=a%20b&tr=udp%3A%2F%2F127.0.0.1%3A1&x.pe=127.0.0.1:1\n`)
})

t.test('info MAGNET fetches the metadata from the link\'s peer, and --save-torrent writes it', async (t) => {
  const { dir, torrentPath, infoHash } = await singleFileTorrent(t, 'info-magnet', 300_000, 11)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)
  const original = parseMetainfo(await readFile(torrentPath))
  const link = `magnet:?xt=urn:btih:${infoHash.toString('hex')}&x.pe=127.0.0.1:${seeder.port}`
  const saved = join(dir, 'saved.torrent')
  const out = zentorrent('info', '--json', '--save-torrent', saved, link)
  t.equal(out.status, 0, out.stderr)
  const json = JSON.parse(out.stdout) as ReturnType<typeof toJson>
  const want = toJson(original) as Record<string, unknown>
  for (const key of ['name', 'infoHash', 'length', 'pieceLength', 'pieceCount', 'files', 'private'] as const) {
    t.same((json as Record<string, unknown>)[key], want[key], `${key} as the .torrent says`)
  }
  const written = parseMetainfo(await readFile(saved))
  t.equal(written.infoHashHex, original.infoHashHex, '--save-torrent: the same info hash')
  t.ok(written.infoBytes.equals(original.infoBytes), 'the info bytes libtorrent served, unchanged')
})

t.test('no peer with the metadata within --metadata-timeout: exit 1, saying so', async (t) => {
  const port = await freePort()
  const started = Date.now()
  const out = zentorrent('info', '--metadata-timeout', '1', `magnet:?xt=urn:btih:${'ab'.repeat(20)}&x.pe=127.0.0.1:${port}`)
  t.equal(out.status, 1)
  t.match(out.stderr, /^zentorrent: no peer sent the torrent's metadata within 1 s \(1 peer address tried, none connected\) \[METADATA_TIMEOUT\]\n$/)
  t.ok(Date.now() - started < 8000, 'within the bound')
  const lonely = zentorrent('info', `magnet:?xt=urn:btih:${'ab'.repeat(20)}`)
  t.equal(lonely.status, 1)
  t.match(lonely.stderr, /names no tracker \(tr=\) and no peer \(x\.pe=\).*\[NO_PEERS\]/)
})

t.test('the status words', async (t) => {
  const stats = { peers: 3, sources: 2, size: 40000, pieces: 3, piecesHave: 1, dropped: 0, givenUp: 0, refused: 0 }
  t.equal(metadataStatus(stats), 'fetching metadata from 2 peers, 1/3 pieces')
  t.equal(metadataStatus({ ...stats, sources: 1, pieces: 0 }), 'fetching metadata from 1 peer')
})
