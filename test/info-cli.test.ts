import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatInfo, humanSize, toJson } from '../lib/cli/info.js'
import { parseMetainfo } from '../lib/metainfo.js'
import { MULTI, buildTorrent, infoFor, rawTorrent } from './helpers/torrent-fixtures.js'

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
    [[], /^zentorrent: info needs FILE\.torrent \(see zentorrent info --help\) \[BAD_ARGUMENT\]\n$/, 2],
    [[hostile, hostile], /^zentorrent: info takes exactly one FILE\.torrent, got 2: .*\[BAD_ARGUMENT\]\n$/, 2],
    [['--bogus', hostile], /^zentorrent: info: unknown option --bogus .*\[BAD_ARGUMENT\]\n$/, 2],
    [[dir], /^zentorrent: .* is a directory; give the \.torrent file .*\[NOT_A_FILE\]\n$/, 2]
  ]
  for (const [args, stderr, status] of cases) {
    const out = zentorrent('info', ...args)
    t.match(out.stderr, stderr, args.join(' '))
    t.equal(out.status, status, `exit status for ${args.join(' ')}`)
    t.equal(out.stdout, '')
  }
})

t.test('--help', async (t) => {
  const out = zentorrent('info', '--help')
  t.equal(out.status, 0)
  t.match(out.stdout, 'Usage: zentorrent info FILE.torrent [--json]')
})

t.test('sizes read like a person would say them', async (t) => {
  t.equal(humanSize(0), '0 B')
  t.equal(humanSize(1023), '1023 B')
  t.equal(humanSize(1536), '1.50 KiB')
  t.equal(humanSize(5 * 1024 ** 3), '5.00 GiB')
})
