import t from 'tap'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'
import {
  checkMetadataSize, decodeMetadataMessage, encodeMetadataMessage, MAX_METADATA_SIZE, metadataPieceCount, metadataPieceLength
} from '../lib/metadata/codec.js'

function codeOf (fn: () => unknown): ErrorCode | 'no error' | 'untyped' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isZentorrentError(err) ? err.code : 'untyped'
  }
}

t.test('the exact bytes BEP 9 gives for each message', async (t) => {
  t.equal(encodeMetadataMessage({ type: 'request', piece: 0 }).toString(), 'd8:msg_typei0e5:piecei0ee')
  t.equal(encodeMetadataMessage({ type: 'reject', piece: 0 }).toString(), 'd8:msg_typei2e5:piecei0ee')
  t.equal(encodeMetadataMessage({ type: 'data', piece: 0, totalSize: 3425, data: Buffer.from('xxxx') }).toString(),
    'd8:msg_typei1e5:piecei0e10:total_sizei3425eexxxx')
  t.same(decodeMetadataMessage(Buffer.from('d8:msg_typei0e5:piecei0ee')), { type: 'request', piece: 0 })
  t.same(decodeMetadataMessage(Buffer.from('d8:msg_typei2e5:piecei7ee')), { type: 'reject', piece: 7 })
})

t.test('data: the bytes after the dictionary are the piece, as a view', async (t) => {
  const piece = Buffer.alloc(16384, 0xab)
  piece[0] = 0x64 // 'd': the piece may itself look like bencode
  const payload = encodeMetadataMessage({ type: 'data', piece: 3, totalSize: 60000, data: piece })
  const msg = decodeMetadataMessage(payload)
  if (msg?.type !== 'data') throw new Error('not data')
  t.equal(msg.piece, 3)
  t.equal(msg.totalSize, 60000)
  t.same(msg.data, piece)
  t.equal(msg.data.buffer, payload.buffer, 'no copy')
  // keys in another order, and an extra key, as some clients write them
  const odd = Buffer.concat([Buffer.from('d5:piecei1e10:total_sizei5e8:msg_typei1e1:xi9ee'), Buffer.from('hello')])
  t.same(decodeMetadataMessage(odd), { type: 'data', piece: 1, totalSize: 5, data: Buffer.from('hello') })
})

t.test('an unknown msg_type is ignored (BEP 9)', async (t) => {
  t.equal(decodeMetadataMessage(Buffer.from('d8:msg_typei3e5:piecei0ee')), null)
  t.equal(decodeMetadataMessage(Buffer.from('d8:msg_typei99ee')), null)
})

t.test('request and reject: trailing bytes are tolerated', async (t) => {
  t.same(decodeMetadataMessage(Buffer.from('d8:msg_typei0e5:piecei1eeXYZ')), { type: 'request', piece: 1 })
})

t.test('hostile forms: BAD_METADATA_MESSAGE each', async (t) => {
  const table: Array<[string, string]> = [
    ['empty', ''],
    ['not bencode', 'hello'],
    ['a list', 'l8:msg_typei0ee'],
    ['an integer', 'i0e'],
    ['truncated dictionary', 'd8:msg_typei0e5:piecei0e'],
    ['string length beyond the payload', 'd8:msg_type999999999:x'],
    ['no msg_type', 'd5:piecei0ee'],
    ['msg_type a string', 'd8:msg_type1:05:piecei0ee'],
    ['negative msg_type', 'd8:msg_typei-1e5:piecei0ee'],
    ['no piece', 'd8:msg_typei0ee'],
    ['piece a string', 'd8:msg_typei0e5:piece1:0e'],
    ['negative piece', 'd8:msg_typei0e5:piecei-1ee'],
    ['piece beyond 2^53', 'd8:msg_typei0e5:piecei99999999999999999999ee'],
    ['data without total_size', 'd8:msg_typei1e5:piecei0eexxxx'],
    ['data without bytes', 'd8:msg_typei1e5:piecei0e10:total_sizei4ee'],
    ['data with negative total_size', 'd8:msg_typei1e5:piecei0e10:total_sizei-4eexxxx'],
    ['nested too deep', 'd8:msg_typei0e5:piecei0e1:x' + 'l'.repeat(100) + 'e'.repeat(100) + 'e']
  ]
  for (const [what, text] of table) t.equal(codeOf(() => decodeMetadataMessage(Buffer.from(text))), 'BAD_METADATA_MESSAGE', what)
})

t.test('piece geometry and the size bound', async (t) => {
  t.equal(metadataPieceCount(1), 1)
  t.equal(metadataPieceCount(16384), 1)
  t.equal(metadataPieceCount(16385), 2)
  t.equal(metadataPieceLength(16385, 0), 16384)
  t.equal(metadataPieceLength(16385, 1), 1)
  t.equal(metadataPieceLength(16385, 2), 0, 'out of range')
  t.equal(metadataPieceLength(16385, -1), 0)
  t.equal(checkMetadataSize(1), 1)
  t.equal(checkMetadataSize(MAX_METADATA_SIZE), MAX_METADATA_SIZE)
  for (const size of [0, -1, MAX_METADATA_SIZE + 1, 1.5, '100', undefined, Number.MAX_SAFE_INTEGER + 2]) {
    t.equal(codeOf(() => checkMetadataSize(size)), 'BAD_METADATA_SIZE', `metadata_size ${String(size)}`)
  }
  t.equal(codeOf(() => checkMetadataSize(1001, 1000)), 'BAD_METADATA_SIZE', 'a lower bound given by the caller')
})
