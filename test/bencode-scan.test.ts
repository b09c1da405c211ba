import t from 'tap'
import bencode from 'bencode'
import { DEFAULT_MAX_DEPTH, scanBencode } from '../lib/bencode-scan.js'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'
import { seededRandom } from './helpers/create-fixtures.js'
import { MULTI, SINGLE, buildTorrent, encode } from './helpers/torrent-fixtures.js'

function codeOf (fn: () => unknown): ErrorCode | 'no error' | 'untyped' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isZentorrentError(err) ? err.code : 'untyped'
  }
}

const scan = (text: string | Buffer): ReturnType<typeof scanBencode> => scanBencode(Buffer.isBuffer(text) ? text : Buffer.from(text))

t.test('scalars, lists and dictionaries are walked to their end', async (t) => {
  t.same(scan('i42e'), { type: 'int', end: 4, info: null })
  t.same(scan('i-7e'), { type: 'int', end: 4, info: null })
  t.same(scan('4:spam'), { type: 'string', end: 6, info: null })
  t.same(scan('0:'), { type: 'string', end: 2, info: null })
  t.same(scan('l4:spami3ee'), { type: 'list', end: 11, info: null })
  t.same(scan('le'), { type: 'list', end: 2, info: null })
  t.same(scan('de'), { type: 'dict', end: 2, info: null })
  t.same(scan('d3:cow3:moo4:spam4:eggse'), { type: 'dict', end: 24, info: null })
})

t.test('bytes after the top-level value are ignored, as libtorrent does', async (t) => {
  t.same(scan('dei1e\n'), { type: 'dict', end: 2, info: null })
})

t.test('the info range is the exact bytes of the top-level info value', async (t) => {
  const info = 'd4:name1:x1:zi1e1:ai2ee' // unsorted on purpose
  const text = `d8:announce3:url4:info${info}7:comment2:hie`
  const result = scan(text)
  t.equal(result.type, 'dict')
  t.ok(result.info)
  t.equal(text.slice(result.info?.start, result.info?.end), info)
  // An `info` key deeper down is not the torrent's info.
  t.equal(scan('d1:ad4:infoi1eee').info, null)
  // A scalar info value is still located (metainfo rejects it, with NO_INFO).
  t.same(scan('d4:infoi5ee').info, { start: 7, end: 10 })
})

t.test('for real torrents the info range re-encodes to the same bytes', async (t) => {
  for (const layout of [SINGLE, MULTI]) {
    const { torrent } = buildTorrent(layout, { seed: 3, announce: 'http://127.0.0.1:1/announce' })
    const result = scanBencode(torrent)
    t.equal(result.end, torrent.length)
    const decoded = bencode.decode(torrent) as { info: unknown }
    t.same(Buffer.from(bencode.encode(decoded.info)), torrent.subarray(result.info?.start, result.info?.end))
  }
})

t.test('each kind of garbage is NOT_BENCODE', async (t) => {
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    ['x', 'unknown type byte'],
    ['i12x', 'non-digit in an integer'],
    ['ie', 'empty integer'],
    ['i-e', 'sign only'],
    ['i1.5e', 'float'],
    ['4x:spam', 'bad string length'],
    [':abc', 'string without length'],
    ['di1ei2ee', 'integer key'],
    ['dlee1:ae', 'list key'],
    ['d1:ae', 'key without value'],
    ['l1:ax', 'unknown byte inside a list'],
    ['d4:infode4:infodee', 'a second info']
  ]
  for (const [input, why] of cases) t.equal(codeOf(() => scan(input)), 'NOT_BENCODE', why)
})

t.test('input cut short is TRUNCATED', async (t) => {
  for (const input of ['i12', 'i', 'i-', '4:spa', '4', 'l', 'd', 'd1:a', 'l4:spam', 'd3:cowi1e', '12345678901234567890:']) {
    t.equal(codeOf(() => scan(input)), 'TRUNCATED', input)
  }
  t.equal(codeOf(() => scan('999999999:abc')), 'TRUNCATED', 'a length prefix past the end is refused before reading')
})

t.test('every prefix of a torrent is TRUNCATED (or NOT_BENCODE when empty), never a crash', async (t) => {
  const { torrent } = buildTorrent(MULTI, { seed: 5, announce: 'http://127.0.0.1:1/announce', comment: 'c' })
  const seen = new Map<string, number>()
  for (let cut = 0; cut < torrent.length; cut++) {
    const code = codeOf(() => scanBencode(torrent.subarray(0, cut)))
    seen.set(code, (seen.get(code) ?? 0) + 1)
    if (code !== (cut === 0 ? 'NOT_BENCODE' : 'TRUNCATED')) t.fail(`cut at ${cut}: ${code}`)
  }
  t.same(Object.fromEntries(seen), { NOT_BENCODE: 1, TRUNCATED: torrent.length - 1 })
})

t.test('nesting is bounded: 100,000 levels are TOO_DEEP, not a stack overflow', async (t) => {
  t.equal(codeOf(() => scan('l'.repeat(100_000) + 'e'.repeat(100_000))), 'TOO_DEEP')
  t.equal(codeOf(() => scan('l'.repeat(100_000))), 'TOO_DEEP')
  t.equal(codeOf(() => scan('d1:a'.repeat(100_000))), 'TOO_DEEP')
  t.equal(codeOf(() => scan('d4:info' + 'l'.repeat(100_000))), 'TOO_DEEP')
  const deepest = 'l'.repeat(DEFAULT_MAX_DEPTH) + 'e'.repeat(DEFAULT_MAX_DEPTH)
  t.equal(scan(deepest).end, deepest.length, `${DEFAULT_MAX_DEPTH} levels are fine`)
  t.equal(codeOf(() => scan('l' + deepest + 'e')), 'TOO_DEEP')
  t.equal(codeOf(() => scanBencode(Buffer.from('llee'), { maxDepth: 1 })), 'TOO_DEEP')
})

t.test('random mutations of a torrent give a result or a typed error, never anything else', async (t) => {
  const { torrent } = buildTorrent(MULTI, { seed: 9, announce: 'http://127.0.0.1:1/announce' })
  const random = seededRandom(77)
  let typed = 0
  for (let round = 0; round < 3000; round++) {
    const mutated = Buffer.from(torrent)
    const flips = 1 + Math.floor(random() * 4)
    for (let i = 0; i < flips; i++) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256)
    const code = codeOf(() => scanBencode(mutated))
    if (code === 'untyped') t.fail(`round ${round}: untyped error`)
    if (code !== 'no error') typed++
  }
  t.ok(typed > 0, `${typed} mutations refused with a code`)
})

t.test('the fixture writer and the scanner agree on a deep but legal value', async (t) => {
  let value: Parameters<typeof encode>[0] = 1
  for (let i = 0; i < 60; i++) value = [value]
  const bytes = encode(new Map([['info', value]]))
  t.same(scanBencode(bytes).info, { start: 7, end: bytes.length - 1 })
})
