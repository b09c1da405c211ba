import t from 'tap'
import { decodeHandshake, encodeHandshake, generatePeerId, HANDSHAKE_LENGTH, PEER_ID_PREFIX } from '../lib/wire/index.js'

const infoHash = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex')
const peerId = Buffer.from('-XX0000-abcdefghijkl', 'latin1')

t.test('a handshake is 68 bytes laid out as BEP 3 says', async t => {
  const buf = encodeHandshake({ infoHash, peerId, extended: false, fast: false })
  t.equal(buf.length, HANDSHAKE_LENGTH)
  t.equal(buf[0], 19)
  t.equal(buf.subarray(1, 20).toString('latin1'), 'BitTorrent protocol')
  t.same(buf.subarray(20, 28), Buffer.alloc(8))
  t.same(buf.subarray(28, 48), infoHash)
  t.same(buf.subarray(48, 68), peerId)
})

t.test('the BEP 10 and BEP 6 bits sit at reserved[5] & 0x10 and reserved[7] & 0x04', async t => {
  for (const extended of [false, true]) {
    for (const fast of [false, true]) {
      const buf = encodeHandshake({ infoHash, peerId, extended, fast })
      t.equal(buf[25], extended ? 0x10 : 0)
      t.equal(buf[27], fast ? 0x04 : 0)
      const hs = decodeHandshake(buf)
      t.equal(hs.extended, extended)
      t.equal(hs.fast, fast)
      t.same(hs.infoHash, infoHash)
      t.same(hs.peerId, peerId)
    }
  }
  const defaults = decodeHandshake(encodeHandshake({ infoHash, peerId }))
  t.ok(defaults.extended && defaults.fast, 'both extensions advertised by default')
})

t.test('other reserved bits are kept but do not count as extensions', async t => {
  const buf = encodeHandshake({ infoHash, peerId, extended: false, fast: false })
  buf[20] = 0x80
  buf[27] = 0x01 // BEP 5 DHT bit
  const hs = decodeHandshake(buf)
  t.notOk(hs.extended)
  t.notOk(hs.fast)
  t.same([...hs.reserved], [0x80, 0, 0, 0, 0, 0, 0, 0x01])
})

t.test('decoded buffers are copies: the input may be reused', async t => {
  const buf = encodeHandshake({ infoHash, peerId })
  const hs = decodeHandshake(buf)
  buf.fill(0)
  t.same(hs.infoHash, infoHash)
})

t.test('a wrong protocol string or length is BAD_HANDSHAKE', async t => {
  const good = encodeHandshake({ infoHash, peerId })
  const badLen = Buffer.from(good)
  badLen[0] = 18
  const badStr = Buffer.from(good)
  badStr[5] = 0x41
  const http = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n'), Buffer.alloc(52)])
  for (const [name, buf] of [['pstrlen', badLen], ['pstr', badStr], ['http', http], ['short', good.subarray(0, 67)]] as const) {
    t.throws(() => decodeHandshake(buf), { code: 'BAD_HANDSHAKE' }, name)
  }
})

t.test('encode refuses ids and hashes of the wrong size', async t => {
  t.throws(() => encodeHandshake({ infoHash: Buffer.alloc(19), peerId }), { code: 'BAD_ARGUMENT' })
  t.throws(() => encodeHandshake({ infoHash, peerId: Buffer.alloc(21) }), { code: 'BAD_ARGUMENT' })
})

t.test('generatePeerId: Azureus style -ZT0100- and 12 random bytes', async t => {
  const id = generatePeerId((n) => Buffer.alloc(n, 0xab))
  t.equal(id.length, 20)
  t.equal(id.subarray(0, 8).toString('latin1'), PEER_ID_PREFIX)
  t.same(id.subarray(8), Buffer.alloc(12, 0xab))
  t.notSame(generatePeerId(), generatePeerId(), 'random by default')
})
