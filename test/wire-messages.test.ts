import t from 'tap'
import {
  decodeExtendedHandshake,
  decodeMessage,
  encodeExtendedHandshake,
  encodeMessage,
  encodeMessageToBuffer,
  MessageId,
  type Message
} from '../lib/wire/index.js'

const EVERY_MESSAGE: Message[] = [
  { type: 'keep-alive' },
  { type: 'choke' },
  { type: 'unchoke' },
  { type: 'interested' },
  { type: 'not-interested' },
  { type: 'have', index: 0xfffffffe },
  { type: 'bitfield', bitfield: Buffer.from([0xa5, 0x80]) },
  { type: 'request', index: 1, offset: 16384, length: 16384 },
  { type: 'piece', index: 2, offset: 32768, data: Buffer.from('hello block') },
  { type: 'cancel', index: 3, offset: 0, length: 100 },
  { type: 'port', port: 6881 },
  { type: 'suggest', index: 4 },
  { type: 'have-all' },
  { type: 'have-none' },
  { type: 'reject', index: 5, offset: 16384, length: 1 },
  { type: 'allowed-fast', index: 6 },
  { type: 'extended', id: 3, payload: Buffer.from('d1:ai1ee') }
]

/** Split an encoded message into (id, payload) the way the framing does. */
function split (buf: Buffer): { length: number, id: number, payload: Buffer } {
  const length = buf.readUInt32BE(0)
  return { length, id: buf[4], payload: buf.subarray(5) }
}

t.test('every message round-trips through encode and decode', async t => {
  for (const msg of EVERY_MESSAGE) {
    const buf = encodeMessageToBuffer(msg)
    t.equal(buf.readUInt32BE(0), buf.length - 4, `${msg.type}: length prefix counts what follows it`)
    if (msg.type === 'keep-alive') {
      t.equal(buf.length, 4)
      continue
    }
    const { id, payload } = split(buf)
    t.same(decodeMessage(id, payload), msg, msg.type)
  }
})

t.test('ids are those of BEP 3, BEP 6 and BEP 10', async t => {
  const ids = EVERY_MESSAGE.filter((m) => m.type !== 'keep-alive').map((m) => encodeMessageToBuffer(m)[4])
  t.same(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 20])
  t.equal(MessageId.extended, 20)
})

t.test('known byte layouts', async t => {
  t.same([...encodeMessageToBuffer({ type: 'have', index: 258 })], [0, 0, 0, 5, 4, 0, 0, 1, 2])
  t.same([...encodeMessageToBuffer({ type: 'request', index: 1, offset: 2, length: 3 })], [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])
  t.same([...encodeMessageToBuffer({ type: 'port', port: 0x1ae1 })], [0, 0, 0, 3, 9, 0x1a, 0xe1])
  t.same([...encodeMessageToBuffer({ type: 'have-all' })], [0, 0, 0, 1, 0x0e])
})

t.test('piece, bitfield and extended payloads are passed through, not copied', async t => {
  const data = Buffer.alloc(16384, 7)
  const parts = encodeMessage({ type: 'piece', index: 9, offset: 16384, data })
  t.equal(parts.length, 2)
  t.equal(parts[1], data, 'the block itself is the second part')
  t.same([...parts[0]], [0, 0, 0x40, 9, 7, 0, 0, 0, 9, 0, 0, 0x40, 0])
  const payload = Buffer.from('x')
  t.equal(encodeMessage({ type: 'extended', id: 1, payload })[1], payload)
  const bits = Buffer.from([1])
  t.equal(encodeMessage({ type: 'bitfield', bitfield: bits })[1], bits)
})

t.test('decoded piece data is a view of the payload', async t => {
  const payload = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from('abc')])
  const msg = decodeMessage(7, payload)
  t.equal(msg?.type, 'piece')
  if (msg?.type === 'piece') t.equal(msg.data.buffer, payload.buffer)
})

t.test('a payload of the wrong size for its id is BAD_MESSAGE; unknown ids are null', async t => {
  t.throws(() => decodeMessage(MessageId.have, Buffer.alloc(3)), { code: 'BAD_MESSAGE' })
  t.throws(() => decodeMessage(MessageId.choke, Buffer.alloc(1)), { code: 'BAD_MESSAGE' })
  t.throws(() => decodeMessage(MessageId.request, Buffer.alloc(13)), { code: 'BAD_MESSAGE' })
  t.throws(() => decodeMessage(MessageId.piece, Buffer.alloc(7)), { code: 'BAD_MESSAGE' })
  t.throws(() => decodeMessage(MessageId.extended, Buffer.alloc(0)), { code: 'BAD_MESSAGE' })
  t.equal(decodeMessage(42, Buffer.alloc(10)), null)
  t.equal(decodeMessage(0x0a, Buffer.alloc(0)), null)
})

t.test('extended handshake: m, v, p, reqq, metadata_size, yourip', async t => {
  const dict = { m: { ut_metadata: 3, ut_pex: 1 }, v: 'zentorrent 0.1.0 ✓', p: 6881, reqq: 500, metadata_size: 31235, yourip: Buffer.from([127, 0, 0, 1]) }
  const back = decodeExtendedHandshake(encodeExtendedHandshake(dict))
  t.same(back, dict)
  t.same(decodeExtendedHandshake(encodeExtendedHandshake({})), { m: {} }, 'm is always present (BEP 10)')
})

t.test('extended handshake: odd keys are dropped or kept, not fatal', async t => {
  const raw = Buffer.from('d1:md6:ut_pexi-1e3:badi300e4:goodi2ee4:reqqi0e1:pi70000e6:youripi5e1:xi9ee')
  t.same(decodeExtendedHandshake(raw), { m: { good: 2 }, x: 9 })
})

t.test('extended handshake: not bencode or not a dict is BAD_MESSAGE', async t => {
  t.throws(() => decodeExtendedHandshake(Buffer.from('d1:m')), { code: 'BAD_MESSAGE' })
  t.throws(() => decodeExtendedHandshake(Buffer.from('li1ee')), { code: 'BAD_MESSAGE' })
  t.throws(() => decodeExtendedHandshake(Buffer.from('4:spam')), { code: 'BAD_MESSAGE' })
})
