import t from 'tap'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'
import {
  base32Encode, formatMagnet, formatSelectOnly, isInfoHash, isMagnetUri, magnetOf, parseInfoHash, parseMagnet,
  parsePeerAddress, parseSelectOnly, selectOnlyIndexes, MAX_MAGNET_LENGTH
} from '../lib/magnet.js'
import { parseMetainfo } from '../lib/metainfo.js'
import { buildTorrent, SINGLE } from './helpers/torrent-fixtures.js'

const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
const HASH = Buffer.from(HEX, 'hex')
const B32 = base32Encode(HASH)

function codeOf (fn: () => unknown): ErrorCode | 'no error' | 'untyped' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isZentorrentError(err) ? err.code : 'untyped'
  }
}

t.test('base32: RFC 4648 vectors and the round trip of an info hash', async (t) => {
  t.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI', 'RFC 4648 section 10 ("foobar", unpadded)')
  t.equal(B32.length, 32)
  t.same(parseInfoHash(B32), HASH, 'upper case')
  t.same(parseInfoHash(B32.toLowerCase()), HASH, 'lower case')
  // every bit position matters: one set bit at a time round-trips
  for (let bit = 0; bit < 160; bit++) {
    const h = Buffer.alloc(20)
    h[bit >> 3] = 0x80 >> (bit & 7)
    if (!parseInfoHash(base32Encode(h)).equals(h)) t.fail(`bit ${bit}`)
  }
})

t.test('bare info hashes', async (t) => {
  t.same(parseInfoHash(HEX), HASH)
  t.same(parseInfoHash(HEX.toUpperCase()), HASH)
  t.same(parseInfoHash(`  ${HEX}\n`), HASH, 'surrounding white space is trimmed')
  t.ok(isInfoHash(HEX))
  t.ok(isInfoHash(B32))
  t.notOk(isInfoHash(HEX.slice(1)))
  t.notOk(isInfoHash('file.torrent'))
  const table: Array<[string, string]> = [
    ['39 hex', HEX.slice(1)],
    ['41 hex', HEX + 'a'],
    ['40 characters, not hex', 'g' + HEX.slice(1)],
    ['32 characters, not base32 (1 and 8 are not in the alphabet)', '1'.repeat(31) + '8'],
    ['33 base32', B32 + 'A'],
    ['empty', ''],
    ['a word', 'ubuntu']
  ]
  for (const [what, text] of table) t.equal(codeOf(() => parseInfoHash(text)), 'BAD_INFO_HASH', what)
})

t.test('the BEP 9 forms: hex and base32 btih, dn, tr, x.pe', async (t) => {
  const link = parseMagnet(`magnet:?xt=urn:btih:${HEX}&dn=Some+File%20name.iso&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&x.pe=127.0.0.1:6881`)
  t.same(link.infoHash, HASH)
  t.equal(link.name, 'Some File name.iso', '+ and %20 are spaces')
  t.same(link.trackers, [['http://127.0.0.1:6969/announce']])
  t.same(link.peers, [{ host: '127.0.0.1', port: 6881 }])
  t.same(link.webSeeds, [])
  t.equal(link.selectOnly, undefined)
  t.same(parseMagnet(`magnet:?xt=urn:btih:${B32}`).infoHash, HASH, 'base32, as in links "in the wild" (BEP 9)')
  t.same(parseMagnet(`MAGNET:?xt=URN:BTIH:${HEX.toUpperCase()}`).infoHash, HASH, 'scheme, URN kind and hex digits in any case')
  t.ok(isMagnetUri(`Magnet:?xt=urn:btih:${HEX}`))
  t.notOk(isMagnetUri(`http://x/?magnet:?xt=urn:btih:${HEX}`))
})

t.test('every field', async (t) => {
  const v2 = createHash('sha256').update('v2').digest()
  const uri = 'magnet:?' + [
    `xt=urn:btih:${HEX}`,
    `xt=urn:btmh:1220${v2.toString('hex')}`,
    'xt=urn:sha1:AAAA',
    'dn=%E2%9C%93%20ok',
    'tr=udp%3A%2F%2F127.0.0.1%3A1%2Fannounce',
    'tr=http://127.0.0.1:2/announce?passkey=a%26b',
    'tr=udp%3A%2F%2F127.0.0.1%3A1%2Fannounce', // a repeat: dropped (BEP 12)
    'tr=',
    'tr=wss%3A%2F%2F127.0.0.1%2F', // kept: the tracker stage skips schemes it does not speak
    'x.pe=127.0.0.1:1',
    'x.pe=%5B%3A%3A1%5D%3A2',
    'x.pe=localhost:3',
    'x.pe=127.0.0.1:1',
    'ws=http%3A%2F%2F127.0.0.1%2Fseed%2F',
    'ws=ftp://127.0.0.1/',
    'so=4-6,0',
    'so=2,5',
    'xl=12345',
    'kt=a+b',
    'unknown=1',
    'flag'
  ].join('&')
  const link = parseMagnet(uri)
  t.same(link.infoHash, HASH)
  t.same(link.infoHashV2, { algorithm: 'sha2-256', digest: v2 }, 'btmh: a typed v2 hash')
  t.equal(link.name, '✓ ok', 'UTF-8 escapes')
  t.same(link.trackers, [['udp://127.0.0.1:1/announce'], ['http://127.0.0.1:2/announce?passkey=a&b'], ['wss://127.0.0.1/']],
    'one tier per tr, in order, repeats and empties dropped')
  t.same(link.peers, [{ host: '127.0.0.1', port: 1 }, { host: '::1', port: 2 }, { host: 'localhost', port: 3 }], 'x.pe, repeats dropped')
  t.same(link.webSeeds, ['http://127.0.0.1/seed/'])
  t.same(link.selectOnly, [{ first: 0, last: 0 }, { first: 2, last: 2 }, { first: 4, last: 6 }], 'so: several, sorted and merged')
  t.match(link.ignored, [/sha1/, /ftp/], 'what was left out is said')
  t.ok(Object.isFrozen(link))
})

t.test('a v2-only link parses; the caller decides', async (t) => {
  const v2 = createHash('sha256').update('x').digest()
  const link = parseMagnet(`magnet:?xt=urn:btmh:1220${v2.toString('hex')}&dn=x`)
  t.equal(link.infoHash, undefined)
  t.same(link.infoHashV2?.digest, v2)
})

t.test('dn is a hint: bad bytes and control characters are replaced, never fatal', async (t) => {
  t.equal(parseMagnet(`magnet:?xt=urn:btih:${HEX}&dn=a%FFb`).name, 'a\uFFFDb')
  t.equal(parseMagnet(`magnet:?xt=urn:btih:${HEX}&dn=a%1B%5B2Jb`).name, 'a\uFFFD[2Jb', 'no terminal escape survives')
  t.equal(parseMagnet(`magnet:?xt=urn:btih:${HEX}&dn=`).name, undefined)
})

t.test('malformed links: a typed error each', async (t) => {
  const xt = `xt=urn:btih:${HEX}`
  const table: Array<[string, string, ErrorCode]> = [
    ['not a magnet link', `http://127.0.0.1/?${xt}`, 'BAD_MAGNET'],
    ['magnet without "?"', `magnet:${xt}`, 'BAD_MAGNET'],
    ['no xt', 'magnet:?dn=x&tr=http://127.0.0.1/a', 'NO_INFO_HASH'],
    ['empty', 'magnet:?', 'NO_INFO_HASH'],
    ['only a non-BitTorrent xt', 'magnet:?xt=urn:sha1:ABCD', 'NO_INFO_HASH'],
    ['xt not a URN', `magnet:?xt=${HEX}`, 'BAD_INFO_HASH'],
    ['btih empty', 'magnet:?xt=urn:btih:', 'BAD_INFO_HASH'],
    ['btih 39 hex', `magnet:?xt=urn:btih:${HEX.slice(1)}`, 'BAD_INFO_HASH'],
    ['btih 41 hex', `magnet:?xt=urn:btih:${HEX}0`, 'BAD_INFO_HASH'],
    ['btih 40 non-hex', `magnet:?xt=urn:btih:${'z'.repeat(40)}`, 'BAD_INFO_HASH'],
    ['btih bad base32', `magnet:?xt=urn:btih:${'0'.repeat(32)}`, 'BAD_INFO_HASH'],
    ['btih 31 base32', `magnet:?xt=urn:btih:${B32.slice(1)}`, 'BAD_INFO_HASH'],
    ['two different btih', `magnet:?${xt}&xt=urn:btih:${'0'.repeat(40)}`, 'BAD_INFO_HASH'],
    ['btmh not sha2-256', `magnet:?xt=urn:btmh:1114${'0'.repeat(40)}`, 'BAD_INFO_HASH'],
    ['btmh short digest', `magnet:?xt=urn:btmh:1220${'0'.repeat(62)}`, 'BAD_INFO_HASH'],
    ['btmh not hex', `magnet:?xt=urn:btmh:1220${'x'.repeat(64)}`, 'BAD_INFO_HASH'],
    ['bad escape', `magnet:?${xt}&dn=%E`, 'BAD_MAGNET'],
    ['bad escape in tr', `magnet:?${xt}&tr=http://x/%zz`, 'BAD_MAGNET'],
    ['tr not UTF-8', `magnet:?${xt}&tr=http://x/%FF`, 'BAD_MAGNET'],
    ['so empty', `magnet:?${xt}&so=`, 'BAD_SELECT_ONLY'],
    ['so empty entry', `magnet:?${xt}&so=1,,2`, 'BAD_SELECT_ONLY'],
    ['so reversed range', `magnet:?${xt}&so=5-2`, 'BAD_SELECT_ONLY'],
    ['so not a number', `magnet:?${xt}&so=a`, 'BAD_SELECT_ONLY'],
    ['so negative', `magnet:?${xt}&so=-1`, 'BAD_SELECT_ONLY'],
    ['so huge', `magnet:?${xt}&so=99999999999`, 'BAD_SELECT_ONLY'],
    ['x.pe no port', `magnet:?${xt}&x.pe=127.0.0.1`, 'BAD_PEER_ADDRESS'],
    ['x.pe port 0', `magnet:?${xt}&x.pe=127.0.0.1:0`, 'BAD_PEER_ADDRESS'],
    ['x.pe port 65536', `magnet:?${xt}&x.pe=127.0.0.1:65536`, 'BAD_PEER_ADDRESS'],
    ['x.pe port not a number', `magnet:?${xt}&x.pe=127.0.0.1:http`, 'BAD_PEER_ADDRESS'],
    ['x.pe bad IPv4', `magnet:?${xt}&x.pe=127.0.0.256:1`, 'BAD_PEER_ADDRESS'],
    ['x.pe IPv6 without brackets', `magnet:?${xt}&x.pe=::1:80`, 'BAD_PEER_ADDRESS'],
    ['x.pe brackets without IPv6', `magnet:?${xt}&x.pe=[127.0.0.1]:80`, 'BAD_PEER_ADDRESS'],
    ['x.pe unclosed bracket', `magnet:?${xt}&x.pe=[::1:80`, 'BAD_PEER_ADDRESS'],
    ['x.pe bad host name', `magnet:?${xt}&x.pe=a_b.example:80`, 'BAD_PEER_ADDRESS'],
    ['x.pe empty', `magnet:?${xt}&x.pe=`, 'BAD_PEER_ADDRESS'],
    ['too long', `magnet:?${xt}&dn=${'a'.repeat(MAX_MAGNET_LENGTH)}`, 'BAD_MAGNET']
  ]
  for (const [what, uri, code] of table) t.equal(codeOf(() => parseMagnet(uri)), code, what)
})

t.test('error messages say what is wrong', async (t) => {
  t.throws(() => parseMagnet(`magnet:?xt=urn:btih:${HEX.slice(2)}`), { message: /38 hex characters; a v1 info hash has 40/ })
  t.throws(() => parseMagnet('magnet:?dn=x'), { message: /no info hash \(xt=urn:btih:/ })
  t.throws(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&so=3-1`), { message: /3-1, which ends before it starts/ })
  t.throws(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&x.pe=::1:80`), { message: /without brackets/ })
})

t.test('peer addresses and select-only on their own', async (t) => {
  t.same(parsePeerAddress('[2001:db8::1]:51413'), { host: '2001:db8::1', port: 51413 })
  t.same(parsePeerAddress('peer-1.example.org:6881'), { host: 'peer-1.example.org', port: 6881 })
  t.same(parseSelectOnly('0,2,4,6-8'), [{ first: 0, last: 0 }, { first: 2, last: 2 }, { first: 4, last: 4 }, { first: 6, last: 8 }], 'BEP 53 example')
  t.same(parseSelectOnly('1-3,2-5,6'), [{ first: 1, last: 6 }], 'overlapping and adjacent ranges merge')
  t.equal(formatSelectOnly(parseSelectOnly('6-8,0,2,4')), '0,2,4,6-8')
  t.same(selectOnlyIndexes(parseSelectOnly('0,2,4-6'), 6), [0, 2, 4, 5], 'indexes past the file count are dropped')
  t.same(selectOnlyIndexes(parseSelectOnly('0-4294967'), 3), [0, 1, 2], 'a huge range costs only the file count')
})

t.test('format → parse is the identity on every field', async (t) => {
  const v2 = createHash('sha256').update('y').digest()
  const fields = {
    infoHash: HASH,
    infoHashV2: { algorithm: 'sha2-256' as const, digest: v2 },
    name: 'a & b = c + d ✓ 100%',
    trackers: [['http://127.0.0.1:1/announce?x=1&y=2', 'udp://127.0.0.1:2'], ['udp://127.0.0.1:2', 'http://127.0.0.1:3/a']],
    peers: [{ host: '127.0.0.1', port: 1 }, { host: '::1', port: 2 }],
    webSeeds: ['http://127.0.0.1/w/'],
    selectOnly: [{ first: 0, last: 0 }, { first: 3, last: 9 }]
  }
  const link = parseMagnet(formatMagnet(fields))
  t.same(link.infoHash, HASH)
  t.same(link.infoHashV2, fields.infoHashV2)
  t.equal(link.name, fields.name)
  t.same(link.trackers, [['http://127.0.0.1:1/announce?x=1&y=2'], ['udp://127.0.0.1:2'], ['http://127.0.0.1:3/a']], 'tiers flattened, repeats once')
  t.same(link.peers, fields.peers)
  t.same(link.webSeeds, fields.webSeeds)
  t.same(link.selectOnly, fields.selectOnly)
  t.throws(() => formatMagnet({ infoHash: Buffer.alloc(19) }), { code: 'BAD_ARGUMENT' })
})

/** libtorrent's view of a magnet link (parse_magnet_uri), and its own make_magnet_uri of a .torrent. */
function libtorrent (script: string, input: unknown): unknown {
  const prelude = 'import json, sys\nimport libtorrent as lt\nargs = json.loads(sys.stdin.read())\n'
  const r = spawnSync('/usr/bin/python3', ['-c', prelude + script], { input: JSON.stringify(input), encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`python3-libtorrent failed (${String(r.status)}): ${r.stderr}${r.error?.message ?? ''}`)
  return JSON.parse(r.stdout)
}

t.test('libtorrent reads our links as we do, and we read its links', async (t) => {
  const built = buildTorrent(SINGLE, { seed: 3, announce: 'http://127.0.0.1:1/announce' })
  const meta = parseMetainfo(built.torrent)
  const ours = formatMagnet({
    infoHash: meta.infoHash,
    name: 'name with spaces & symbols',
    trackers: [['http://127.0.0.1:1/announce'], ['udp://127.0.0.1:2']],
    peers: [{ host: '127.0.0.1', port: 6881 }],
    webSeeds: ['http://127.0.0.1:8/seed/'],
    selectOnly: [{ first: 0, last: 0 }, { first: 2, last: 3 }]
  })
  const seen = libtorrent(`
p = lt.parse_magnet_uri(args['uri'])
print(json.dumps({'hash': str(p.info_hashes.v1), 'name': p.name, 'trackers': p.trackers, 'tiers': list(p.tracker_tiers),
  'peers': [list(x) for x in p.peers], 'seeds': p.url_seeds, 'prio': list(p.file_priorities)}))
`, { uri: ours }) as Record<string, unknown>
  t.equal(seen.hash, meta.infoHashHex)
  t.equal(seen.name, 'name with spaces & symbols')
  t.same(seen.trackers, ['http://127.0.0.1:1/announce', 'udp://127.0.0.1:2'])
  t.same(seen.tiers, [0, 1], 'libtorrent too puts each tr in a tier of its own')
  t.same(seen.peers, [['127.0.0.1', 6881]])
  t.same(seen.seeds, ['http://127.0.0.1:8/seed/'])
  t.same(seen.prio, [4, 0, 4, 4], 'libtorrent reads our so= as files 0, 2, 3')

  const theirs = libtorrent(`
ti = lt.torrent_info(lt.bdecode(bytes.fromhex(args['torrent'])))
print(json.dumps(lt.make_magnet_uri(ti)))
`, { torrent: built.torrent.toString('hex') }) as string
  const link = parseMagnet(theirs)
  t.same(link.infoHash, meta.infoHash, `our parse of libtorrent's ${theirs}`)
  t.equal(link.name, meta.name)
  t.same(link.trackers, meta.announce)
  t.equal(parseMagnet(magnetOf(meta)).infoHash?.toString('hex'), meta.infoHashHex, 'magnetOf round-trips')
  t.same(parseMagnet(magnetOf(meta)).trackers, meta.announce)
})
