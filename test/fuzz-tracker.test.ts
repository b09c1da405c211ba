/**
 * Fuzzing the tracker reply parsers: HTTP announce and scrape replies (lib/tracker/http.ts), compact peers and
 * percent-decoding (lib/tracker/codec.ts), and UDP connect/announce/scrape/error replies (lib/tracker/udp.ts).
 * Random bytes, generated bencoded replies with fields of every type, and mutations of them: each parser returns a
 * well-formed result (peers with a literal IP of their family and a port in 1..65535, no more than asked, counts
 * non-negative integers) or throws a ZentorrentError.
 */
import t from 'tap'
import { isIP } from 'node:net'
import { decodeCompactPeers, formatIPv6, parseIPv6, percentDecodeBytes, percentEncodeBytes } from '../lib/tracker/codec.js'
import { parseAnnounceReply, parseScrapeReply } from '../lib/tracker/http.js'
import type { PeerAddress } from '../lib/tracker/types.js'
import { parseUdpAnnounceReply, parseUdpConnectReply, parseUdpError, parseUdpScrapeReply } from '../lib/tracker/udp.js'
import { bytesCodec, expectTyped, fc, fuzz } from './helpers/fuzz.js'
import { bvalue, encodeModel, mutate, mutations, type BModel } from './helpers/fuzz-bencode.js'

const REPLY_CODES = ['TRACKER_BAD_REPLY', 'TRACKER_FAILURE']
const MAX_PEERS = 7

function checkPeers (peers: readonly PeerAddress[], limit: number): void {
  if (peers.length > limit) throw new Error(`${peers.length} peers, more than the ${limit} asked`)
  for (const p of peers) {
    if (isIP(p.host) !== p.family) throw new Error(`peer host ${JSON.stringify(p.host)} is not an IPv${p.family} literal`)
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`peer port ${p.port}`)
  }
}

const count = (n: number | undefined, what: string): void => {
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) throw new Error(`${what} ${n}`)
}

/** `parse`, or its typed error (then undefined); an exception of another kind fails. */
function attempt<T> (parse: () => T, codes = REPLY_CODES): T | undefined {
  try {
    return parse()
  } catch (err) {
    expectTyped(err, codes)
    return undefined
  }
}

function httpAnnounce (bytes: Uint8Array): void {
  const reply = attempt(() => parseAnnounceReply(Buffer.from(bytes), MAX_PEERS))
  if (reply === undefined) return
  count(reply.interval, 'interval')
  count(reply.minInterval, 'min interval')
  count(reply.complete, 'complete')
  count(reply.incomplete, 'incomplete')
  checkPeers(reply.peers, MAX_PEERS)
  if (reply.warning !== undefined && typeof reply.warning !== 'string') throw new Error('warning is not text')
}

function httpScrape (bytes: Uint8Array): void {
  const reply = attempt(() => parseScrapeReply(Buffer.from(bytes)))
  for (const [hex, entry] of reply ?? []) {
    if (!/^[0-9a-f]{40}$/.test(hex)) throw new Error(`scrape key ${hex}`)
    count(entry.complete, 'complete')
    count(entry.incomplete, 'incomplete')
    count(entry.downloaded, 'downloaded')
  }
}

const text = (s: string): BModel => ({ t: 'bytes', v: new Uint8Array(Buffer.from(s)) })
const field = (name: string, arbitrary: fc.Arbitrary<BModel>): fc.Arbitrary<Array<[Uint8Array, BModel]>> =>
  fc.option(arbitrary).map((v) => v === null ? [] : [[new Uint8Array(Buffer.from(name)), v]])
const int = fc.oneof(fc.bigInt(-5n, 5000n), fc.constantFrom(2n ** 53n, -(2n ** 53n), 2n ** 64n)).map((v): BModel => ({ t: 'int', v }))
const compact = (size: number): fc.Arbitrary<BModel> => fc.integer({ min: 0, max: 12 }).chain((n) => fc.uint8Array({ minLength: n * size, maxLength: n * size + (n % 3 === 0 ? 1 : 0) }))
  .map((v): BModel => ({ t: 'bytes', v }))
const dictPeer = fc.record({
  ip: fc.oneof(fc.constantFrom('127.0.0.1', '::1', '10.0.0.300', 'localhost', 'example.org', '1.2.3.4\x1b[2J', ''), fc.ipV4(), fc.ipV6()),
  port: fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.constant(6881))
}).map(({ ip, port }): BModel => ({ t: 'dict', v: [[Buffer.from('ip'), text(ip)], [Buffer.from('port'), { t: 'int', v: BigInt(port) }]] }))

/** A tracker's announce reply: each field absent, of the right type, or of any type. */
const announceReply = fc.tuple(
  field('complete', fc.oneof(int, bvalue)),
  field('failure reason', fc.oneof(fc.constant(text('go away \x1b[31m')), bvalue)),
  field('incomplete', int),
  field('interval', fc.oneof(int, int, bvalue)),
  field('min interval', int),
  field('peers', fc.oneof(compact(6), fc.array(fc.oneof(dictPeer, bvalue), { maxLength: 12 }).map((v): BModel => ({ t: 'list', v })), bvalue)),
  field('peers6', fc.oneof(compact(18), bvalue)),
  field('tracker id', fc.oneof(fc.constant(text('abc')), bvalue)),
  field('warning message', fc.oneof(fc.constant(text('slow down\n')), bvalue))
).map((fields): BModel => ({ t: 'dict', v: fields.flat() }))

const scrapeReply = fc.array(fc.tuple(
  fc.oneof(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(Buffer.from('a'.repeat(40))))),
  fc.oneof(fc.tuple(int, int, int).map(([c, i, d]): BModel => ({ t: 'dict', v: [[Buffer.from('complete'), c], [Buffer.from('downloaded'), d], [Buffer.from('incomplete'), i]] })), bvalue)
), { maxLength: 5 }).map((files): BModel => ({ t: 'dict', v: [[Buffer.from('files'), { t: 'dict', v: files }]] }))

t.test('HTTP announce replies: random bytes, generated replies, mutations', async (t) => {
  await fuzz(t, 'tracker-http-announce-bytes', fc.uint8Array({ maxLength: 200 }), bytesCodec, 500, httpAnnounce)
  await fuzz(t, 'tracker-http-announce', fc.tuple(announceReply, fc.boolean()).map(([m, sorted]) => new Uint8Array(encodeModel(m, sorted))), bytesCodec, 1000, httpAnnounce)
  await fuzz(t, 'tracker-http-announce-mutated', fc.tuple(announceReply, mutations).map(([m, ops]) => mutate(encodeModel(m, true), ops)), bytesCodec, 1000, httpAnnounce)
  // nesting a recursive decoder would overflow on
  httpAnnounce(Buffer.from('d8:intervali1e5:peers' + 'l'.repeat(100_000) + 'e'.repeat(100_000) + 'e'))
})

t.test('HTTP scrape replies: random bytes, generated replies, mutations', async (t) => {
  await fuzz(t, 'tracker-http-scrape-bytes', fc.uint8Array({ maxLength: 200 }), bytesCodec, 500, httpScrape)
  await fuzz(t, 'tracker-http-scrape', scrapeReply.map((m) => new Uint8Array(encodeModel(m, true))), bytesCodec, 1000, httpScrape)
  await fuzz(t, 'tracker-http-scrape-mutated', fc.tuple(scrapeReply, mutations).map(([m, ops]) => mutate(encodeModel(m, true), ops)), bytesCodec, 1000, httpScrape)
})

t.test('compact peers, percent-decoding and IPv6 text: results well-formed, or a typed error', async (t) => {
  await fuzz(t, 'tracker-compact', fc.uint8Array({ maxLength: 120 }), bytesCodec, 1000, (bytes) => {
    for (const family of [4, 6] as const) {
      const peers = attempt(() => decodeCompactPeers(bytes, family, MAX_PEERS), ['TRACKER_BAD_REPLY'])
      if (peers !== undefined) checkPeers(peers, MAX_PEERS)
    }
  })
  await fuzz(t, 'tracker-percent', fc.uint8Array({ maxLength: 40 }), bytesCodec, 1000, (bytes) => {
    if (!percentDecodeBytes(percentEncodeBytes(bytes)).equals(Buffer.from(bytes))) throw new Error('percent-encoding does not round-trip')
    const v6 = Buffer.alloc(16)
    Buffer.from(bytes).copy(v6)
    if (!parseIPv6(formatIPv6(v6)).equals(v6)) throw new Error(`IPv6 ${formatIPv6(v6)} does not round-trip`)
    percentDecodeBytes(Buffer.from(bytes).toString('latin1'))
  })
})

t.test('UDP replies (BEP 15): random datagrams are well-formed results or typed errors', async (t) => {
  await fuzz(t, 'tracker-udp', fc.uint8Array({ maxLength: 120 }), bytesCodec, 1000, (bytes) => {
    const packet = Buffer.from(bytes)
    const id = attempt(() => parseUdpConnectReply(packet))
    if (id !== undefined && id.length !== 8) throw new Error('a connection id is 8 bytes')
    for (const family of [4, 6] as const) {
      const reply = attempt(() => parseUdpAnnounceReply(packet, family, MAX_PEERS))
      if (reply !== undefined) {
        count(reply.interval, 'interval')
        checkPeers(reply.peers, MAX_PEERS)
      }
    }
    const scrape = attempt(() => parseUdpScrapeReply(packet, [Buffer.alloc(20, 1), Buffer.alloc(20, 2)]))
    if (scrape !== undefined && scrape.size !== 2) throw new Error('two entries')
    if (parseUdpError(packet).code !== 'TRACKER_FAILURE') throw new Error('an error reply is TRACKER_FAILURE')
  })
})
