import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bencode from 'bencode'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'
import {
  MAX_FILE_COUNT, MAX_PIECE_COUNT, MAX_PIECE_LENGTH, MAX_TORRENT_FILE_SIZE, parseInfoDictionary, parseMetainfo, pieceHash, pieceSize, type Metainfo
} from '../lib/metainfo.js'
import { MULTI, SINGLE, buildTorrent, encode, infoFor, rawTorrent, writeLayout, type BValue } from './helpers/torrent-fixtures.js'
import { libtorrentCreate, libtorrentInspect, mktorrent, type LibtorrentView } from './helpers/torrent-third-party.js'

function codeOf (fn: () => unknown): ErrorCode | 'no error' | 'untyped' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isZentorrentError(err) ? err.code : 'untyped'
  }
}

const parseCode = (bytes: Buffer): ReturnType<typeof codeOf> => codeOf(() => parseMetainfo(bytes))

t.test('a single-file torrent', async (t) => {
  const built = buildTorrent(SINGLE, { seed: 1, announce: 'http://127.0.0.1:1/announce' })
  const meta = parseMetainfo(built.torrent)
  t.equal(meta.infoHashHex, built.infoHashHex)
  t.equal(meta.name, 'single.bin')
  t.equal(meta.singleFile, true)
  t.equal(meta.length, built.data.length)
  t.equal(meta.pieceLength, 32768)
  t.equal(meta.pieceCount, 4)
  t.equal(meta.lastPieceLength, 1234)
  t.same(meta.files, [{ path: ['single.bin'], length: built.data.length, offset: 0, pad: false }])
  t.same(meta.announce, [['http://127.0.0.1:1/announce']])
  t.same(meta.urlList, [])
  t.equal(meta.private, false)
  t.same(pieceHash(meta, 0), createHash('sha1').update(built.data.subarray(0, 32768)).digest())
  t.same(pieceHash(meta, 3), createHash('sha1').update(built.data.subarray(3 * 32768)).digest())
  t.equal(pieceSize(meta, 0), 32768)
  t.equal(pieceSize(meta, 3), 1234)
  t.throws(() => pieceHash(meta, 4), { code: 'INDEX_OUT_OF_RANGE' })
  t.throws(() => pieceSize(meta, -1), { code: 'INDEX_OUT_OF_RANGE' })
  t.throws(() => pieceSize(meta, 1.5), { code: 'INDEX_OUT_OF_RANGE' })
})

t.test('a multi-file torrent: paths start with the name, offsets run on, zero-length files kept', async (t) => {
  const built = buildTorrent(MULTI, { seed: 2 })
  const meta = parseMetainfo(built.torrent)
  t.equal(meta.singleFile, false)
  t.equal(meta.infoHashHex, built.infoHashHex)
  let offset = 0
  t.same(meta.files, MULTI.files.map((f) => {
    const file = { path: ['multi', ...f.path.split('/')], length: f.length, offset, pad: false }
    offset += f.length
    return file
  }))
  t.equal(meta.length, offset)
  t.same(meta.announce, [], 'no trackers at all is allowed (DHT, --peer)')
})

t.test('the result is frozen all the way down (but for the Buffers)', async (t) => {
  const meta = parseMetainfo(buildTorrent(MULTI, { seed: 2, announceList: [['a', 'b'], ['c']], urlList: ['http://w/'] }).torrent)
  for (const value of [meta, meta.files, meta.files[0], meta.files[0]?.path, meta.announce, meta.announce[0], meta.urlList]) {
    t.ok(Object.isFrozen(value))
  }
  t.throws(() => { (meta.files as TorrentFileArray).push(meta.files[0] as never) })
  t.throws(() => { (meta as { name: string }).name = 'x' })
  const hash = pieceHash(meta, 0)
  hash.fill(0)
  t.not(pieceHash(meta, 0).toString('hex'), hash.toString('hex'), 'pieceHash hands out a copy')
})
type TorrentFileArray = Array<Metainfo['files'][number]>

t.test('a non-canonical torrent keeps the hash of its exact info bytes', async (t) => {
  const built = buildTorrent(MULTI, { seed: 4, nonCanonical: true })
  const meta = parseMetainfo(built.torrent)
  t.equal(meta.infoHashHex, built.infoHashHex)
  const decoded = bencode.decode(built.torrent) as { info: unknown }
  const reencoded = createHash('sha1').update(bencode.encode(decoded.info)).digest('hex')
  t.not(meta.infoHashHex, reencoded, 're-encoding would have changed the hash')
  t.equal(createHash('sha1').update(meta.infoBytes).digest('hex'), meta.infoHashHex)
  t.equal(parseInfoDictionary(meta.infoBytes).infoHashHex, meta.infoHashHex, 'a bare info dictionary (BEP 9) parses alike')
})

t.test('BEP 47 pad files are flagged', async (t) => {
  const built = buildTorrent(MULTI, { seed: 5, pad: true })
  const meta = parseMetainfo(built.torrent)
  t.same(meta.files.map((f) => f.pad), built.files.map((f) => f.pad))
  t.ok(meta.files.some((f) => f.pad))
  for (const f of meta.files) if (f.pad) t.equal(f.path[1], '.pad')
  t.equal(meta.length, built.data.length)
})

t.test('BEP 12 tiers: announce-list wins, junk entries dropped, announce as the fallback', async (t) => {
  const info = infoFor('t', [{ path: ['a'], length: 1 }])
  const tiers = (extra: { [key: string]: BValue }): Metainfo['announce'] => parseMetainfo(rawTorrent(info, extra)).announce
  t.same(tiers({ announce: 'http://x/a', 'announce-list': [['http://t1/a', 'http://t1/b'], ['udp://t2:1']] }),
    [['http://t1/a', 'http://t1/b'], ['udp://t2:1']])
  t.same(tiers({ 'announce-list': [['', 'http://a/', 5, ['x']], [], [7], ['http://a/', 'http://b/'], 'http://c/'] }),
    [['http://a/'], ['http://b/'], ['http://c/']], 'empty, non-string and repeated entries dropped, empty tiers too')
  t.same(tiers({ announce: 'http://x/a', 'announce-list': [[''], []] }), [['http://x/a']], 'nothing usable: fall back')
  t.same(tiers({ announce: 'http://x/a', 'announce-list': 'junk' }), [['http://x/a']])
  t.same(tiers({ announce: 'http://x/a' }), [['http://x/a']])
  t.same(tiers({ announce: '' }), [])
})

t.test('BEP 19 url-list as one string or a list; BEP 27 private; comment, creator, date', async (t) => {
  const info = infoFor('t', [{ path: ['a'], length: 1 }])
  t.same(parseMetainfo(rawTorrent(info, { 'url-list': 'http://w/' })).urlList, ['http://w/'])
  t.same(parseMetainfo(rawTorrent(info, { 'url-list': ['http://w/', '', 3, 'http://v/'] })).urlList, ['http://w/', 'http://v/'])
  t.equal(parseMetainfo(rawTorrent({ ...info, private: 1 })).private, true)
  t.equal(parseMetainfo(rawTorrent({ ...info, private: 0 })).private, false)
  t.equal(parseMetainfo(rawTorrent(info, { private: 1 })).private, false, 'private counts only inside info')
  const meta = parseMetainfo(rawTorrent(info, { comment: 'hello', 'created by': 'me', 'creation date': 1700000000 }))
  t.equal(meta.comment, 'hello')
  t.equal(meta.createdBy, 'me')
  t.equal(meta.creationDate?.toISOString(), '2023-11-14T22:13:20.000Z')
  const bare = parseMetainfo(rawTorrent(info, { 'creation date': 'yesterday' }))
  t.equal(bare.creationDate, undefined)
  t.equal(bare.comment, undefined)
  t.equal(parseMetainfo(rawTorrent(info, { comment: 'x', 'comment.utf-8': 'ü' })).comment, 'ü')
})

t.test('name.utf-8 and path.utf-8 win over name and path', async (t) => {
  const info = {
    ...infoFor('legacy', [{ path: ['old'], length: 1 }]),
    'name.utf-8': 'nämé',
    files: [{ length: 1, path: ['old'], 'path.utf-8': ['dïr', 'nëw'] }]
  }
  const meta = parseMetainfo(rawTorrent(info))
  t.equal(meta.name, 'nämé')
  t.same(meta.files[0]?.path, ['nämé', 'dïr', 'nëw'])
})

t.test('each malformed torrent gets its own error code', async (t) => {
  const good = infoFor('t', [{ path: ['a'], length: 20000 }, { path: ['b'], length: 0 }])
  const single = { name: 't', 'piece length': 16384, pieces: Buffer.alloc(20), length: 100 }
  const cases: Array<[string, ErrorCode, Buffer]> = [
    ['plain text', 'NOT_BENCODE', Buffer.from('hello world')],
    ['a bencoded list', 'NOT_BENCODE', Buffer.from('l4:infoe')],
    ['cut short', 'TRUNCATED', rawTorrent(good).subarray(0, 50)],
    ['deep nesting in a side field', 'TOO_DEEP', Buffer.from('d1:x' + 'l'.repeat(100_000) + 'e'.repeat(100_000) + 'e')],
    ['no info', 'NO_INFO', encode({ announce: 'http://x/' })],
    ['info is a list', 'NO_INFO', encode({ info: [1] })],
    ['piece length 0', 'BAD_PIECE_LENGTH', rawTorrent({ ...good, 'piece length': 0 })],
    ['piece length negative', 'BAD_PIECE_LENGTH', rawTorrent({ ...good, 'piece length': -16384 })],
    ['piece length a string', 'BAD_PIECE_LENGTH', rawTorrent({ ...good, 'piece length': '16384' })],
    ['piece length too large', 'BAD_PIECE_LENGTH', rawTorrent({ ...good, 'piece length': MAX_PIECE_LENGTH * 2 })],
    ['no pieces', 'BAD_PIECES', rawTorrent({ ...good, pieces: 5 })],
    ['pieces not a multiple of 20', 'BAD_PIECES', rawTorrent({ ...good, pieces: Buffer.alloc(39) })],
    ['one hash too many', 'PIECE_COUNT_MISMATCH', rawTorrent({ ...good, pieces: Buffer.alloc(60) })],
    ['one hash too few', 'PIECE_COUNT_MISMATCH', rawTorrent({ ...good, pieces: Buffer.alloc(20) })],
    ['single file, negative length', 'BAD_LENGTH', rawTorrent({ ...single, length: -1 })],
    ['single file, string length', 'BAD_LENGTH', rawTorrent({ ...single, length: '100' })],
    ['a file with negative length', 'BAD_LENGTH', rawTorrent({ ...good, files: [{ length: -5, path: ['a'] }] })],
    ['a file without length', 'BAD_LENGTH', rawTorrent({ ...good, files: [{ path: ['a'] }] })],
    ['nothing to download', 'BAD_LENGTH', rawTorrent({ ...good, pieces: Buffer.alloc(0), files: [{ length: 0, path: ['a'] }] })],
    ['empty file list', 'NO_FILES', rawTorrent({ ...good, files: [] })],
    ['neither files nor length', 'NO_FILES', rawTorrent({ name: 't', 'piece length': 16384, pieces: Buffer.alloc(20) })],
    ['a file entry that is not a dict', 'NO_FILES', rawTorrent({ ...good, files: ['a'] })],
    ['no name', 'BAD_NAME', rawTorrent({ ...single, name: 5 })],
    ['empty name', 'BAD_NAME', rawTorrent({ ...single, name: '' })],
    ['name "."', 'BAD_NAME', rawTorrent({ ...single, name: '.' })],
    ['name with a slash', 'BAD_NAME', rawTorrent({ ...single, name: 'a/b' })],
    ['name ".."', 'PATH_ESCAPES_ROOT', rawTorrent({ ...good, name: '..' })],
    ['single-file name ".."', 'PATH_ESCAPES_ROOT', rawTorrent({ ...single, name: '..' })],
    ['name an absolute path', 'PATH_ESCAPES_ROOT', rawTorrent({ ...single, name: '/etc/passwd' })],
    ['path ".."', 'PATH_ESCAPES_ROOT', rawTorrent({ ...good, files: [{ length: 20000, path: ['..', '..', 'etc', 'passwd'] }] })],
    ['path absolute', 'PATH_ESCAPES_ROOT', rawTorrent({ ...good, files: [{ length: 20000, path: ['/etc/passwd'] }] })],
    ['path with a drive letter', 'PATH_ESCAPES_ROOT', rawTorrent({ ...good, files: [{ length: 20000, path: ['C:', 'x'] }] })],
    ['a/b in one component', 'BAD_PATH', rawTorrent({ ...good, files: [{ length: 20000, path: ['a/b'] }] })],
    ['backslash in a component', 'BAD_PATH', rawTorrent({ ...good, files: [{ length: 20000, path: ['a\\b'] }] })],
    ['NUL in a component', 'BAD_PATH', rawTorrent({ ...good, files: [{ length: 20000, path: ['a\0b'] }] })],
    ['empty component', 'BAD_PATH', rawTorrent({ ...good, files: [{ length: 20000, path: ['a', ''] }] })],
    ['"." component', 'BAD_PATH', rawTorrent({ ...good, files: [{ length: 20000, path: ['.', 'a'] }] })],
    ['empty path', 'BAD_PATH', rawTorrent({ ...good, files: [{ length: 20000, path: [] }] })],
    ['path not a list', 'BAD_PATH', rawTorrent({ ...good, files: [{ length: 20000, path: 'a' }] })],
    ['two files, one path', 'DUPLICATE_PATH', rawTorrent({ ...good, files: [{ length: 10000, path: ['a'] }, { length: 10000, path: ['a'] }] })],
    ['a file inside a file', 'DUPLICATE_PATH', rawTorrent({ ...good, files: [{ length: 10000, path: ['a'] }, { length: 10000, path: ['a', 'b'] }] })]
  ]
  for (const [why, code, bytes] of cases) t.equal(parseCode(bytes), code, why)
  t.equal(parseCode(rawTorrent(good)), 'no error', 'the base of these cases is valid')
  t.equal(parseCode(rawTorrent(single)), 'no error')
})

t.test('a repeated key inside info is DUPLICATE_KEY; at the top level the first counts, as in libtorrent', async (t) => {
  const pieces = '20:' + 'x'.repeat(20)
  const wrap = (info: string, before = '', after = ''): Buffer => Buffer.from(`d${before}4:info${info}${after}e`)
  // What libtorrent reads as good.txt (the first) and the bencode package as evil.exe (the last).
  const twoNames = `d6:lengthi10e4:name8:good.txt4:name8:evil.exe12:piece lengthi16384e6:pieces${pieces}e`
  t.equal(parseCode(wrap(twoNames)), 'DUPLICATE_KEY')
  t.throws(() => parseMetainfo(wrap(twoNames)), { message: /"name" appears twice/ })
  const inFile = `d5:filesld6:lengthi10e4:pathl1:ae4:pathl1:beee4:name1:t12:piece lengthi16384e6:pieces${pieces}e`
  t.equal(parseCode(wrap(inFile)), 'DUPLICATE_KEY', 'in a file entry')
  const apart = `d6:lengthi10e4:name1:t12:piece lengthi16384e6:pieces${pieces}6:lengthi99e1:xi1ee`
  t.equal(parseCode(wrap(apart)), 'DUPLICATE_KEY', 'out of order and far apart')
  const nested = `d6:lengthi10e4:name1:t12:piece lengthi16384e6:pieces${pieces}1:xd1:ai1e1:ai2eee`
  t.equal(parseCode(wrap(nested)), 'DUPLICATE_KEY', 'in an unknown field nested inside info')
  const unsorted = `d4:name1:t6:pieces${pieces}6:lengthi10e12:piece lengthi16384ee`
  t.equal(parseCode(wrap(unsorted)), 'no error', 'unsorted but unique keys are fine')

  const top = parseMetainfo(wrap(unsorted, '8:announce9:http://a/7:comment5:first8:announce9:http://b/', '7:comment6:second'))
  t.same(top.announce, [['http://a/']])
  t.equal(top.comment, 'first')
  t.equal(parseCode(wrap(unsorted, '', `4:info${unsorted}`)), 'NOT_BENCODE', 'a second info is still refused')
  t.equal(codeOf(() => parseInfoDictionary(Buffer.from(nested))), 'DUPLICATE_KEY', 'a bare info dictionary (BEP 9) too')
  t.equal(codeOf(() => parseInfoDictionary(Buffer.from(unsorted))), 'no error')
})

t.test('a v2-only torrent (made by libtorrent) is V2_ONLY, a hybrid one is read through its v1 half', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zentorrent-metainfo-v2-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const multiPath = await writeLayout(join(dir, 'data'), MULTI, 8)
  libtorrentCreate(multiPath, join(dir, 'v2.torrent'), 'v2')
  const v2 = await readFile(join(dir, 'v2.torrent'))
  t.equal(parseCode(v2), 'V2_ONLY')
  t.throws(() => parseMetainfo(v2), { message: /BitTorrent v2 torrent .*not supported yet/ })
  const singlePath = await writeLayout(join(dir, 'data'), SINGLE, 8)
  libtorrentCreate(singlePath, join(dir, 'v2-single.torrent'), 'v2')
  t.equal(parseCode(await readFile(join(dir, 'v2-single.torrent'))), 'V2_ONLY', 'single-file too')
  libtorrentCreate(multiPath, join(dir, 'hybrid.torrent'), 'hybrid')
  t.equal(parseCode(await readFile(join(dir, 'hybrid.torrent'))), 'no error')
  // Without `meta version` a `file tree` alone says v2; with v1 pieces missing and neither, it is BAD_PIECES.
  const noPieces = infoFor('t', [{ path: ['a'], length: 1 }]) as { [key: string]: BValue }
  delete (noPieces as { pieces?: BValue }).pieces
  t.equal(parseCode(rawTorrent({ ...noPieces, 'file tree': { a: { '': { length: 1 } } } })), 'V2_ONLY')
  t.equal(parseCode(rawTorrent({ ...noPieces, 'meta version': 2 })), 'V2_ONLY')
  t.equal(parseCode(rawTorrent(noPieces)), 'BAD_PIECES')
})

t.test('limits: too many pieces, too many files, too many bytes are TORRENT_TOO_LARGE', async (t) => {
  const pieceLength = 16384
  const pieces = (n: number): Buffer => Buffer.alloc(n * 20)
  const single = (n: number): Buffer => rawTorrent({ name: 't', 'piece length': pieceLength, pieces: pieces(n), length: n * pieceLength })
  t.equal(parseCode(single(MAX_PIECE_COUNT)), 'no error', `${MAX_PIECE_COUNT} pieces are fine`)
  t.equal(parseCode(single(MAX_PIECE_COUNT + 1)), 'TORRENT_TOO_LARGE')
  const manyFiles = (n: number): Buffer => {
    const files = Buffer.from(`l${'d6:lengthi0e4:pathl1:xee'.repeat(n - 1)}d6:lengthi1e4:pathl1:yeee`)
    return Buffer.concat([Buffer.from(`d4:infod5:files`), files, Buffer.from(`4:name1:t12:piece lengthi16384e6:pieces20:${'x'.repeat(20)}ee`)])
  }
  // Zero-length files all named x: the count is refused before their paths are compared.
  t.equal(parseCode(manyFiles(MAX_FILE_COUNT + 1)), 'TORRENT_TOO_LARGE')
  t.equal(parseCode(manyFiles(3)), 'DUPLICATE_PATH', 'the same list, short enough, is checked as usual')
  const big = Buffer.alloc(MAX_TORRENT_FILE_SIZE + 1, 0x20)
  single(1).copy(big)
  t.equal(parseCode(big), 'TORRENT_TOO_LARGE')
})

t.test('pieces and infoBytes are views of the input, not copies', async (t) => {
  const built = buildTorrent(MULTI, { seed: 6 })
  const meta = parseMetainfo(built.torrent)
  t.equal(meta.pieces.buffer, built.torrent.buffer)
  t.equal(meta.infoBytes.buffer, built.torrent.buffer)
  t.equal(meta.infoBytes.byteOffset - built.torrent.byteOffset, built.torrent.indexOf('4:infod') + 6)
  const fromUint8 = parseMetainfo(new Uint8Array(built.torrent.buffer, built.torrent.byteOffset, built.torrent.length))
  t.equal(fromUint8.infoHashHex, meta.infoHashHex)
})

t.test('every prefix of every fixture is a typed error, never a crash', async (t) => {
  const torrents = [
    buildTorrent(SINGLE, { seed: 1, announce: 'http://127.0.0.1:1/announce', comment: 'c' }).torrent,
    buildTorrent(MULTI, { seed: 1, pad: true, announceList: [['a'], ['b']] }).torrent,
    buildTorrent(MULTI, { seed: 1, nonCanonical: true }).torrent
  ]
  for (const torrent of torrents) {
    t.equal(parseCode(torrent), 'no error')
    const codes = new Set<string>()
    for (let cut = 0; cut < torrent.length; cut++) codes.add(parseCode(torrent.subarray(0, cut)))
    t.same([...codes].sort(), ['NOT_BENCODE', 'TRUNCATED'])
  }
})

// Third-party torrents: mktorrent and libtorrent make them, libtorrent reads them; we must agree on both.
function compare (t: Test, meta: Metainfo, lt: LibtorrentView, what: string): void {
  t.equal(meta.infoHashHex, lt.infoHashHex, `${what}: info hash`)
  t.equal(meta.name, lt.name, `${what}: name`)
  t.equal(meta.pieceLength, lt.pieceLength, `${what}: piece length`)
  t.equal(meta.pieceCount, lt.pieceCount, `${what}: piece count`)
  t.equal(meta.length, lt.totalSize, `${what}: total size`)
  t.equal(meta.private, lt.private, `${what}: private`)
  t.same(meta.files.map((f) => ({ path: f.path.join('/'), size: f.length, offset: f.offset, pad: f.pad })), lt.files, `${what}: files`)
}

t.test('third-party torrents: ours agrees with libtorrent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zentorrent-metainfo-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const singlePath = await writeLayout(join(dir, 'data'), SINGLE, 7)
  const multiPath = await writeLayout(join(dir, 'data'), MULTI, 7)
  const check = async (file: string, what: string): Promise<Metainfo> => {
    const meta = parseMetainfo(await readFile(file))
    compare(t, meta, libtorrentInspect(file), what)
    return meta
  }

  mktorrent(singlePath, join(dir, 'mk-single.torrent'))
  await check(join(dir, 'mk-single.torrent'), 'mktorrent single-file')
  mktorrent(multiPath, join(dir, 'mk-multi.torrent'))
  const mkMulti = await check(join(dir, 'mk-multi.torrent'), 'mktorrent multi-file')
  t.ok(mkMulti.files.some((f) => f.length === 0), 'the zero-length file is listed')
  mktorrent(multiPath, join(dir, 'mk-private.torrent'), ['-p', '-w', 'http://127.0.0.1:1/seed/', '-c', 'a comment'])
  const mkPrivate = await check(join(dir, 'mk-private.torrent'), 'mktorrent private')
  t.equal(mkPrivate.private, true)
  t.same(mkPrivate.urlList, ['http://127.0.0.1:1/seed/'])
  t.equal(mkPrivate.comment, 'a comment')

  libtorrentCreate(singlePath, join(dir, 'lt-single.torrent'), 'v1')
  await check(join(dir, 'lt-single.torrent'), 'libtorrent v1 single-file')
  libtorrentCreate(multiPath, join(dir, 'lt-multi.torrent'), 'v1')
  await check(join(dir, 'lt-multi.torrent'), 'libtorrent v1 multi-file')
  libtorrentCreate(multiPath, join(dir, 'lt-pad.torrent'), 'v1-pad')
  const pad = await check(join(dir, 'lt-pad.torrent'), 'libtorrent v1 with pad files')
  t.ok(pad.files.filter((f) => f.pad).length >= 2, 'libtorrent inserted pad files')
  libtorrentCreate(multiPath, join(dir, 'lt-hybrid.torrent'), 'hybrid')
  await check(join(dir, 'lt-hybrid.torrent'), 'libtorrent hybrid v1+v2 (v1 view)')

  // Non-canonical: unsorted info keys and an unknown field, written by us, read by libtorrent.
  const odd = buildTorrent(MULTI, { seed: 7, nonCanonical: true, announce: 'http://127.0.0.1:1/announce' })
  await writeFile(join(dir, 'non-canonical.torrent'), odd.torrent)
  await check(join(dir, 'non-canonical.torrent'), 'non-canonical')
})

t.test('the committed fixtures parse as libtorrent reads them', async (t) => {
  for (const name of ['sample', 'single', 'multi', 'pad', 'non-canonical']) {
    const meta = parseMetainfo(await readFile(new URL(`../fixtures/${name}.torrent`, import.meta.url)))
    t.equal(meta.infoHash.length, 20, name)
    compare(t, meta, libtorrentInspect(new URL(`../fixtures/${name}.torrent`, import.meta.url).pathname), `fixtures/${name}.torrent`)
  }
})
