import t from 'tap'
import bencode from 'bencode'
import {
  DEFAULT_MAX_DEPTH, bytesOf, dictEntries, dictValues, integerOf, listItems, scanBencode, textOf, valueAt
} from '../lib/bencode-scan.js'
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

t.test('a repeated key inside info is DUPLICATE_KEY, sorted neighbours or far apart', async (t) => {
  const torrent = (info: string): string => `d8:announce1:a4:info${info}e`
  t.equal(codeOf(() => scan(torrent('d1:ai1e1:ai2ee'))), 'DUPLICATE_KEY', 'neighbours')
  t.equal(codeOf(() => scan(torrent('d1:ai1e1:bi1e1:ai2ee'))), 'DUPLICATE_KEY', 'after a key out of order')
  t.equal(codeOf(() => scan(torrent('d1:bi1e1:ai1e1:ci1e1:ai2ee'))), 'DUPLICATE_KEY', 'both out of order')
  t.equal(codeOf(() => scan(torrent('d1:xld1:ai1e1:ai1eeee'))), 'DUPLICATE_KEY', 'in a dictionary inside a list inside info')
  t.equal(codeOf(() => scan(torrent('d1:ai1e2:aai2ee'))), 'no error', 'a key and its prefix differ')
  t.equal(codeOf(() => scan(torrent('d2:aai1e1:ai2ee'))), 'no error', 'unsorted, unique')
  t.equal(codeOf(() => scan(torrent('d1:xd1:ai1ee1:yd1:ai1eee'))), 'no error', 'the same key in two dictionaries')
  t.equal(codeOf(() => scan('d1:ai1e1:ai2e4:infodee')), 'no error', 'outside info: the readers keep the first')
  t.equal(codeOf(() => scan('d1:xd1:ai1e1:ai2ee4:infodee')), 'no error', 'in a sibling of info')
  t.equal(codeOf(() => scanBencode(Buffer.from('d1:ai1e1:ai2ee'), { uniqueKeys: 'all' })), 'DUPLICATE_KEY', "'all': the top level too")
  t.equal(codeOf(() => scanBencode(Buffer.from(torrent('d1:ai1e1:ai2ee')), { uniqueKeys: 'none' })), 'no error', "'none'")
  // Keys are bytes: "\xff" and "\xc3\xbf" are different keys, though one is not UTF-8.
  t.equal(codeOf(() => scan(Buffer.concat([Buffer.from('d4:infod1:'), Buffer.from([0xff]), Buffer.from('i1e2:'), Buffer.from([0xc3, 0xbf]), Buffer.from('i1eee')]))), 'no error')
})

t.test('a dictionary of 200,000 keys in reverse order is checked in linear time', async (t) => {
  const keys: string[] = []
  for (let i = 199_999; i >= 0; i--) keys.push(`6:${String(i).padStart(6, '0')}i0e`)
  const unique = Buffer.from(`d4:infod${keys.join('')}ee`)
  const started = process.hrtime.bigint()
  t.equal(codeOf(() => scanBencode(unique)), 'no error')
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'under 2 s (quadratic would take minutes)')
  t.equal(codeOf(() => scanBencode(Buffer.from(`d4:infod${keys.join('')}6:100000i1eee`))), 'DUPLICATE_KEY')
})

t.test('the readers walk values in place: views, first of two equal keys, numbers as libtorrent reads them', async (t) => {
  const bytes = Buffer.from('d3:bar4:spam3:fooi042e3:bar3:egg4:listl1:ai-0ei99999999999999999999eee')
  const top = valueAt(bytes, 0)
  t.same({ type: top.type, next: top.next }, { type: 'dict', next: bytes.length })
  const entries = dictEntries(bytes, top)
  t.same([...entries.keys()], ['bar', 'foo', 'list'])
  const bar = entries.get('bar')!
  t.equal(bytesOf(bytes, bar).toString(), 'spam', 'the first bar')
  t.equal(bytesOf(bytes, bar).buffer, bytes.buffer, 'a view, not a copy')
  t.equal(textOf(bytes, bar), 'spam')
  t.equal(integerOf(bytes, entries.get('foo')!), 42, 'leading zeros')
  const items = [...listItems(bytes, entries.get('list')!)]
  t.same(items.map((v) => v.type), ['string', 'int', 'int'])
  t.equal(Object.is(integerOf(bytes, items[1]!), 0), true, '-0 is 0')
  t.equal(Number.isSafeInteger(integerOf(bytes, items[2]!)), false, 'past 2^53: not a safe integer, so callers refuse it')
  t.same(dictValues(bytes, top, ['list', 'bar', 'nope']).map((v) => v === undefined ? null : bytes.subarray(v.start, v.end).toString()),
    ['1:ai-0ei99999999999999999999e', 'spam', null], 'dictValues: the keys asked, in that order, first wins')
  t.same([...listItems(bytes, bar)], [], 'listItems of a non-list: nothing')
  t.equal(dictEntries(bytes, bar).size, 0, 'dictEntries of a non-dict: nothing')
  t.equal(textOf(Buffer.from('4:\xc3\xa9t\xff', 'latin1'), valueAt(Buffer.from('4:\xc3\xa9t\xff', 'latin1'), 0)), 'ét\ufffd', 'UTF-8, bad bytes as U+FFFD')
})

t.test('the readers never read past the end, even of bytes the scanner did not check', async (t) => {
  for (const input of ['d1:a', 'l', '5:ab', 'i12', 'd1:ai1', 'x', '']) {
    const code = codeOf(() => {
      const value = valueAt(Buffer.from(input), 0)
      dictEntries(Buffer.from(input), value)
    })
    t.ok(code === 'TRUNCATED' || code === 'NOT_BENCODE', `${JSON.stringify(input)}: ${code}`)
  }
})
