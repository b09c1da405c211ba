import t, { type Test } from 'tap'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bencode from 'bencode'
import { createTorrent, makeTorrent, defaultPieceLength } from '../lib/create.js'
import { run } from '../lib/cli/create.js'
import { isZentorrentError } from '../lib/errors.js'
import { parseMetainfo } from '../lib/metainfo.js'
import { VERSION } from '../lib/version.js'
import { writeTree } from './helpers/create-fixtures.js'
import { checkWithLibtorrent, mktorrent } from './helpers/create-check.js'

const ANNOUNCE = 'http://127.0.0.1:1/announce' // nothing listens: libtorrent's announce fails at once

/** Nested dirs, a zero-length file, files smaller than a piece, pieces spanning file boundaries. */
const TREE: Record<string, number> = {
  'a.bin': 100_000,
  'sub/b.bin': 5,
  'sub/deeper/c.bin': 70_000,
  'sub/empty': 0,
  'sub-x/d.bin': 1234, // 'sub-x/…' sorts before 'sub/…' in byte order ('-' < '/'), as mktorrent lists it
  '.hidden': 17,
  'z.bin': 3 * 32768
}

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'zentorrent-create-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Decode a .torrent with byte strings as UTF-8 text, except the binary `pieces`. */
function readable (torrent: Uint8Array): Record<string, unknown> & { info: Record<string, unknown> } {
  const convert = (value: unknown, key?: string): unknown => {
    if (value instanceof Uint8Array) return key === 'pieces' ? value : Buffer.from(value).toString('utf8')
    if (Array.isArray(value)) return value.map((item) => convert(item))
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v, k)]))
    }
    return value
  }
  return convert(bencode.decode(torrent)) as Record<string, unknown> & { info: Record<string, unknown> }
}

async function expectCode (t: Test, promise: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await promise
    t.fail(`${what}: expected ${code}`)
  } catch (err) {
    t.ok(isZentorrentError(err) && err.code === code, `${what}: ${code} (${(err as Error).message})`)
  }
}

t.test('the default piece length gives 1000-2000 pieces, a power of two from 16 KiB to 16 MiB', async (t) => {
  t.equal(defaultPieceLength(1), 16 * 1024)
  t.equal(defaultPieceLength(2000 * 16 * 1024), 16 * 1024)
  t.equal(defaultPieceLength(2000 * 16 * 1024 + 1), 32 * 1024)
  t.equal(defaultPieceLength(700 * 1024 * 1024), 512 * 1024)
  t.equal(defaultPieceLength(2 ** 50), 16 * 1024 * 1024, 'capped')
  for (let size = 40 * 1024 * 1024; size < 2 ** 35; size = Math.floor(size * 1.37)) {
    const pieces = Math.ceil(size / defaultPieceLength(size))
    t.ok(pieces > 1000 && pieces <= 2000, `${size} bytes → ${pieces} pieces`)
  }
})

t.test('a multi-file tree: libtorrent reads the torrent, agrees on files and hashes, and accepts the data', async (t) => {
  const dir = await tempDir(t)
  const root = join(dir, 'tree')
  await writeTree(root, TREE, 11)
  const created = await makeTorrent(root, { announce: ANNOUNCE, pieceLength: 32768, creationDate: null })
  const torrentPath = join(dir, 'ours.torrent')
  await writeFile(torrentPath, created.torrent)

  const report = await checkWithLibtorrent(torrentPath, dir)
  t.equal(report.info_hash, created.infoHashHex, 'same info hash')
  t.equal(report.name, 'tree')
  t.equal(report.piece_length, 32768)
  const want = Object.entries(TREE).map(([path, size]): [string, number] => [`tree/${path}`, size])
    .sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))
  t.same(report.files, want, 'every file, the empty one too, in byte order of path')
  t.same(created.files.map((f) => [f.path.join('/'), f.length]), want, 'files listed with the name first')
  const total = Object.values(TREE).reduce((a, b) => a + b, 0)
  t.equal(report.num_pieces, Math.ceil(total / 32768))
  t.equal(created.pieceCount, report.num_pieces)
  t.ok(report.hashlib_ok, 'every piece hash recomputed with hashlib matches')
  t.ok(report.libtorrent_pieces !== null && report.libtorrent_pieces.every(Boolean), 'libtorrent has every piece after its check')
  t.same(created.skipped, [])
})

t.test('the same tree through mktorrent gives the same info hash (public and private)', async (t) => {
  const dir = await tempDir(t)
  const root = join(dir, 'tree')
  await writeTree(root, TREE, 12)
  for (const priv of [false, true]) {
    const theirs = join(dir, `mktorrent-${String(priv)}.torrent`)
    await mktorrent(['-l', '15', '-a', ANNOUNCE, '-o', theirs, ...(priv ? ['-p'] : []), root])
    const ours = await makeTorrent(root, { announce: ANNOUNCE, pieceLength: 32768, private: priv })
    const report = await checkWithLibtorrent(theirs, dir)
    t.equal(report.info_hash, ours.infoHashHex, `private=${String(priv)}: info hashes match`)
    t.equal(report.private, priv)
    // And the info dictionaries are the same bytes, not just the same hash.
    const theirInfo = (bencode.decode(await readFile(theirs)) as { info: unknown }).info
    t.ok(Buffer.from(bencode.encode(theirInfo)).equals(Buffer.from(bencode.encode((bencode.decode(ours.torrent) as { info: unknown }).info))))
  }
})

t.test('single files: larger than a piece, smaller than a piece; default piece length', async (t) => {
  const dir = await tempDir(t)
  await writeTree(dir, { 'big.bin': 1_000_003, 'small.bin': 1000 }, 13)
  for (const [file, size] of [['big.bin', 1_000_003], ['small.bin', 1000]] as const) {
    const path = join(dir, file)
    const ours = await makeTorrent(path, { announce: ANNOUNCE })
    t.equal(ours.pieceLength, 16384, 'default: 16 KiB for small data')
    t.ok(ours.singleFile)
    const torrentPath = join(dir, `${file}.torrent`)
    await writeFile(torrentPath, ours.torrent)
    const report = await checkWithLibtorrent(torrentPath, dir)
    t.equal(report.info_hash, ours.infoHashHex)
    t.same(report.files, [[file, size]])
    t.ok(report.hashlib_ok && report.libtorrent_pieces?.every(Boolean) === true, `${file}: libtorrent accepts the data`)

    const theirs = join(dir, `${file}.mktorrent`)
    await mktorrent(['-l', '15', '-a', ANNOUNCE, '-o', theirs, path])
    const ours32 = await makeTorrent(path, { announce: ANNOUNCE, pieceLength: 32768 })
    t.equal((await checkWithLibtorrent(theirs, dir)).info_hash, ours32.infoHashHex, `${file}: same info hash as mktorrent`)
  }
})

t.test('top-level fields: trackers in tiers, web seeds, comment, created by, date; private in info', async (t) => {
  const dir = await tempDir(t)
  await writeTree(dir, { 'f.bin': 50_000 }, 14)
  const path = join(dir, 'f.bin')
  const date = new Date('2024-05-06T07:08:09Z')
  const bytes = await createTorrent(path, {
    announce: [['http://a/ann', 'http://b/ann'], ['udp://c:80']],
    urlList: 'http://seed/f.bin',
    comment: 'hello',
    creationDate: date,
    private: true,
    name: 'renamed.bin'
  })
  const meta = readable(bytes)
  t.equal(meta.announce, 'http://a/ann')
  t.same(meta['announce-list'], [['http://a/ann', 'http://b/ann'], ['udp://c:80']])
  t.same(meta['url-list'], ['http://seed/f.bin'])
  t.equal(meta.comment, 'hello')
  t.equal(meta['created by'], `zentorrent/${VERSION}`)
  t.equal(meta['creation date'], Math.floor(date.getTime() / 1000))
  t.equal(meta.info.private, 1)
  t.equal(meta.info.name, 'renamed.bin')
  t.equal(meta.info.length, 50_000)

  const bare = readable(await createTorrent(path, { creationDate: null, createdBy: '' }))
  t.same(Object.keys(bare), ['info'], 'nothing but info when nothing is asked for')
  t.notOk('private' in (bare.info as object), 'private absent, not 0, as mktorrent and libtorrent write it')
  const one = readable(await createTorrent(path, { announce: 'http://only/ann' }))
  t.equal(one.announce, 'http://only/ann')
  t.notOk('announce-list' in one, 'one tracker: no announce-list')

  const again = await createTorrent(path, { creationDate: null })
  t.ok(again.equals(await createTorrent(path, { creationDate: null })), 'deterministic without a date')
})

t.test('symbolic links and special files are not followed but reported; the rest is shared', async (t) => {
  const dir = await tempDir(t)
  const root = join(dir, 'tree')
  await writeTree(root, { 'real.bin': 40_000, 'sub/x.bin': 10 }, 15)
  await writeFile(join(dir, 'outside.txt'), 'not meant to be shared')
  await symlink(join(dir, 'outside.txt'), join(root, 'link-out'))
  await symlink('sub', join(root, 'sub/loop'))
  execFileSync('mkfifo', [join(root, 'fifo')], { timeout: 5000 })
  const created = await makeTorrent(root, { announce: ANNOUNCE })
  t.same(created.files.map((f) => f.path.join('/')), ['tree/real.bin', 'tree/sub/x.bin'])
  t.same(created.skipped, [
    { path: ['fifo'], reason: 'special' },
    { path: ['link-out'], reason: 'symlink' },
    { path: ['sub', 'loop'], reason: 'symlink' }
  ])
  const torrentPath = join(dir, 'links.torrent')
  await writeFile(torrentPath, created.torrent)
  const report = await checkWithLibtorrent(torrentPath, dir)
  t.ok(report.hashlib_ok && report.libtorrent_pieces?.every(Boolean) === true)

  // PATH itself may be a link: the user named it.
  await symlink(root, join(dir, 'named-link'))
  const viaLink = await makeTorrent(join(dir, 'named-link'), { name: 'tree', creationDate: null, announce: ANNOUNCE })
  t.equal(viaLink.infoHashHex, created.infoHashHex)
})

t.test('nothing to share, or bad options: typed errors', async (t) => {
  const dir = await tempDir(t)
  await mkdir(join(dir, 'empty/deeper'), { recursive: true })
  await writeTree(dir, { 'zeros/a': 0, 'zeros/b/c': 0, 'ok.bin': 10 }, 16)
  await expectCode(t, makeTorrent(join(dir, 'missing')), 'NOT_FOUND', 'a missing path')
  await expectCode(t, makeTorrent(join(dir, 'empty')), 'NO_FILES', 'only empty directories')
  await expectCode(t, makeTorrent(join(dir, 'zeros')), 'NO_FILES', 'only empty files')
  for (const pieceLength of [0, 1000, 8192, 3 * 16384, 128 * 1024 * 1024, 16384.5]) {
    await expectCode(t, makeTorrent(join(dir, 'ok.bin'), { pieceLength }), 'BAD_ARGUMENT', `piece length ${pieceLength}`)
  }
  await expectCode(t, makeTorrent(join(dir, 'ok.bin'), { name: 'a/b' }), 'BAD_ARGUMENT', 'a name with a slash')
  await expectCode(t, makeTorrent(join(dir, 'ok.bin'), { announce: [['']] }), 'BAD_ARGUMENT', 'an empty announce URL')
  await expectCode(t, makeTorrent('/dev/null'), 'BAD_ARGUMENT', 'a device')
  const controller = new AbortController()
  controller.abort()
  await expectCode(t, makeTorrent(join(dir, 'ok.bin'), { signal: controller.signal }), 'ABORTED', 'an aborted signal')
})

t.test('hashing streams: a file larger than the read buffer hashes the same as Python hashlib says', async (t) => {
  const dir = await tempDir(t)
  await writeTree(dir, { 'tree/one.bin': 3 * 1024 * 1024 + 7, 'tree/two.bin': 1024 * 1024 - 3 }, 17)
  const created = await makeTorrent(join(dir, 'tree'), { pieceLength: 64 * 1024 })
  const torrentPath = join(dir, 'big.torrent')
  await writeFile(torrentPath, created.torrent)
  t.ok((await checkWithLibtorrent(torrentPath, dir)).hashlib_ok)
})

t.test('our own parser reads back what we made', async (t) => {
  const dir = await tempDir(t)
  const root = join(dir, 'tree')
  await writeTree(root, TREE, 20)
  const created = await makeTorrent(root, {
    announce: [['http://a/ann'], ['http://b/ann', 'http://c/ann']], urlList: ['http://w/'], private: true, comment: 'x', pieceLength: 32768
  })
  const meta = parseMetainfo(created.torrent)
  t.equal(meta.infoHashHex, created.infoHashHex)
  t.equal(meta.name, 'tree')
  t.equal(meta.pieceLength, 32768)
  t.equal(meta.pieceCount, created.pieceCount)
  t.equal(meta.length, created.length)
  t.notOk(meta.singleFile)
  t.same(meta.files.map((f) => [f.path.join('/'), f.length]), created.files.map((f) => [f.path.join('/'), f.length]))
  t.same(meta.announce, [['http://a/ann'], ['http://b/ann', 'http://c/ann']])
  t.same(meta.urlList, ['http://w/'])
  t.equal(meta.private, true)
  t.equal(meta.comment, 'x')
  t.equal(meta.createdBy, `zentorrent/${VERSION}`)
})

// --- the command --------------------------------------------------------------------------------------------

async function cli (argv: string[]): Promise<{ status: number, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  const out = process.stdout.write.bind(process.stdout)
  const err = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((chunk: string | Uint8Array): boolean => { stdout += String(chunk); return true }) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array): boolean => { stderr += String(chunk); return true }) as typeof process.stderr.write
  try {
    return { status: await run(argv), stdout, stderr }
  } finally {
    process.stdout.write = out
    process.stderr.write = err
  }
}

t.test('zentorrent create: writes the torrent, prints the info hash and a summary', async (t) => {
  const dir = await tempDir(t)
  await writeTree(join(dir, 'data'), { 'a.bin': 70_000, 'b/c.bin': 3 }, 18)
  await symlink('/etc/hostname', join(dir, 'data', 'link'))
  const out = join(dir, 'out.torrent')
  const result = await cli([join(dir, 'data'), '-o', out, '--announce', 'http://t1/a', '--announce', 'http://t2/a',
    '--piece-length', '32K', '--private', '--comment', 'c', '--web-seed', 'http://w/', '--no-date'])
  t.equal(result.status, 0, result.stderr)
  const meta = readable(await readFile(out))
  t.same(meta['announce-list'], [['http://t1/a'], ['http://t2/a']], 'each --announce its own tier')
  t.equal(meta.info['piece length'], 32768)
  t.equal(meta.info.private, 1)
  t.same(meta['url-list'], ['http://w/'])
  t.notOk('creation date' in meta)
  const report = await checkWithLibtorrent(out, dir)
  t.match(result.stdout, new RegExp(`^info hash: ${report.info_hash}\\n`))
  t.match(result.stdout, /out\.torrent: data, 2 files, 68\.4 KiB in 3 pieces of 32 KiB, 1 skipped\n$/)
  t.match(result.stderr, /skipped \S*data\/link \(symbolic link, not followed\)/)
  t.ok(report.libtorrent_pieces?.every(Boolean) === true)

  const again = await cli([join(dir, 'data'), '-o', out])
  t.equal(again.status, 2, 'an existing OUT is not overwritten')
  t.match(again.stderr, /already exists \(use --force/)
  t.equal((await cli([join(dir, 'data'), '-o', out, '--force'])).status, 0, '--force overwrites')
})

t.test('zentorrent create: clear messages and non-zero status on bad input', async (t) => {
  const dir = await tempDir(t)
  await writeTree(dir, { 'f.bin': 10 }, 19)
  const cases: Array<[string[], number, RegExp]> = [
    [['-o', join(dir, 'x.torrent')], 2, /create needs PATH \(see zentorrent create --help\)/],
    [[join(dir, 'f.bin'), '-o', ''], 2, /-o needs a file name/],
    [[join(dir, 'nope'), '-o', join(dir, 'x.torrent')], 2, /nope: no such file or directory \[NOT_FOUND\]/],
    [[join(dir, 'f.bin'), '-o', join(dir, 'no-dir', 'x.torrent')], 2, /directory .*no-dir does not exist/],
    [[join(dir, 'f.bin'), '-o', dir, '--force'], 1, /\[IO_ERROR\]/],
    [[join(dir, 'f.bin'), '-o', join(dir, 'x.torrent'), '--piece-length', 'big'], 2, /--piece-length wants a size in bytes/],
    [[join(dir, 'f.bin'), '-o', join(dir, 'x.torrent'), '--piece-length', '1000'], 2, /power of two/],
    [[join(dir, 'f.bin'), '-o', join(dir, 'x.torrent'), '--bogus'], 2, /create: unknown option --bogus/],
    [[join(dir, 'f.bin'), join(dir, 'g'), '-o', join(dir, 'x.torrent')], 2, /takes exactly one PATH, got 2/],
    [[join(dir, 'f.bin'), '-o', join(dir, 'x.torrent'), '--piece-length', '-1'], 2, /--piece-length must not be negative/]
  ]
  for (const [argv, status, message] of cases) {
    const result = await cli(argv)
    t.equal(result.status, status, argv.join(' '))
    t.match(result.stderr, message)
    t.equal(result.stdout, '')
  }
  const help = await cli(['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /Usage: zentorrent create PATH \[-o OUT\.torrent\]/)
})

t.test('zentorrent create without -o writes NAME.torrent in the current directory; --name renames it', async (t) => {
  const dir = await tempDir(t)
  await writeTree(join(dir, 'src'), { 'photo.jpg': 40_000 }, 20)
  const cwd = process.cwd()
  process.chdir(dir)
  t.teardown(() => process.chdir(cwd))
  const first = await cli([join(dir, 'src', 'photo.jpg'), '--no-date'])
  t.equal(first.status, 0, first.stderr)
  t.match(first.stdout, /\nphoto\.jpg\.torrent: photo\.jpg, 1 file/)
  t.equal(readable(await readFile(join(dir, 'photo.jpg.torrent'))).info.name, 'photo.jpg')
  const again = await cli([join(dir, 'src', 'photo.jpg')])
  t.equal(again.status, 2, 'the default name is not overwritten either')
  t.match(again.stderr, /photo\.jpg\.torrent already exists/)
  const named = await cli([join(dir, 'src'), '-n', 'release-1', '--quiet'])
  t.equal(named.status, 0, named.stderr)
  t.equal(readable(await readFile(join(dir, 'release-1.torrent'))).info.name, 'release-1')
})

t.test('makeTorrent reports hashing progress: monotonic bytes and pieces, ending at the total', async (t) => {
  const dir = await tempDir(t)
  await writeTree(join(dir, 'data'), { 'a.bin': 3 * 1024 * 1024 + 5, 'b/c.bin': 1_500_000, 'empty': 0 }, 21)
  const seen: Array<{ hashed: number, total: number, pieces: number, pieceCount: number }> = []
  const created = await makeTorrent(join(dir, 'data'), { pieceLength: 256 * 1024, onProgress: (p) => seen.push({ ...p }) })
  t.ok(seen.length >= 5, `reported as it went (${seen.length} times)`)
  for (let i = 1; i < seen.length; i++) {
    t.ok(seen[i]!.hashed >= seen[i - 1]!.hashed && seen[i]!.pieces >= seen[i - 1]!.pieces, `report ${i} does not go back`)
  }
  t.same(seen.at(-1), { hashed: created.length, total: created.length, pieces: created.pieceCount, pieceCount: created.pieceCount })
  t.ok(seen.every((p) => p.total === created.length && p.pieces <= p.pieceCount))
})
