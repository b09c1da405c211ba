import t from 'tap'
import { randomBytes } from 'node:crypto'
import { decodeCompactPeers, encodeCompactPeer, percentEncodeBytes, percentDecodeBytes } from '../lib/tracker/index.js'
import { formatIPv6, parseIPv6 } from '../lib/tracker/codec.js'

t.test('IPv6 text form matches the WHATWG URL serializer (RFC 5952) on random and zero-heavy addresses', async (t) => {
  let mismatches = 0
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(16)
    // Zero out random groups so that runs of zeros of every length and position appear.
    for (let g = 0; g < 8; g++) if (Math.random() < 0.5) bytes.writeUInt16BE(0, 2 * g)
    const text = formatIPv6(bytes)
    const reference = new URL(`http://[${text}]/`).hostname.slice(1, -1)
    if (text !== reference || !parseIPv6(text).equals(bytes)) mismatches++
  }
  t.equal(mismatches, 0)
  t.same(parseIPv6('::ffff:1.2.3.4'), Buffer.from('00000000000000000000ffff01020304', 'hex'))
})

t.test('compact peers round-trip; a bad length is refused; the limit is honoured', async (t) => {
  const peers = [{ host: '1.2.3.4', port: 1, family: 4 as const }, { host: '255.255.255.255', port: 65535, family: 4 as const }]
  const bytes = Buffer.concat(peers.map(encodeCompactPeer))
  t.same(decodeCompactPeers(bytes, 4, 10), peers)
  t.same(decodeCompactPeers(bytes, 4, 1), peers.slice(0, 1))
  t.throws(() => decodeCompactPeers(bytes.subarray(1), 4, 10), { code: 'TRACKER_BAD_REPLY' })
  const v6 = { host: '2001:db8::ff00:42:8329', port: 51413, family: 6 as const }
  t.same(decodeCompactPeers(encodeCompactPeer(v6), 6, 10), [v6])
  t.throws(() => decodeCompactPeers(Buffer.alloc(17), 6, 10), { code: 'TRACKER_BAD_REPLY' })
})

t.test('percent-encoding of every byte value round-trips; only unreserved bytes stay literal', async (t) => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  const encoded = percentEncodeBytes(all)
  t.same(percentDecodeBytes(encoded), all)
  t.equal(encoded.replace(/%[0-9A-F]{2}/g, ''), '-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~')
  t.same(percentDecodeBytes('a+b%2'), Buffer.from('a b%2'), 'plus is a space; a broken escape is literal')
})
