/** What the server answers a file request (lib/http/range.ts): ranges, If-Range, If-None-Match, 416. */
import t from 'tap'
import { answerRange, fileEtag } from '../lib/http/range.js'

const hash = Buffer.alloc(20, 0xab)
const etag = fileEtag(hash, 3)

t.test('the ETag names the info hash and the file index', async (t) => {
  t.equal(etag, `"${'ab'.repeat(20)}-3"`)
  t.not(fileEtag(hash, 4), etag)
})

t.test('no Range: the whole file; one range: 206 with its bounds', async (t) => {
  t.same(answerRange(1000, etag, {}), { status: 200, start: 0, end: 999 })
  t.same(answerRange(1000, etag, { range: 'bytes=0-99' }), { status: 206, start: 0, end: 99 })
  t.same(answerRange(1000, etag, { range: 'bytes=900-' }), { status: 206, start: 900, end: 999 })
  t.same(answerRange(1000, etag, { range: 'bytes=-10' }), { status: 206, start: 990, end: 999 }, 'a suffix range')
  t.same(answerRange(1000, etag, { range: 'bytes=10-99999999999999999999' }), { status: 206, start: 10, end: 999 }, 'a huge end is clamped')
  t.same(answerRange(1000, etag, { range: 'bytes=0-5,3-9' }), { status: 206, start: 0, end: 9 }, 'overlapping ranges combine into one')
  t.same(answerRange(1000, etag, { range: 'Bytes = 5-6' }), { status: 206, start: 5, end: 6 }, 'unit case and spaces')
})

t.test('416: past the end, invalid, several ranges, any range of an empty file', async (t) => {
  for (const range of ['bytes=1000-', 'bytes=99999999999999999999-', 'bytes=500-100', 'bytes=abc', 'bytes=1-2,', 'bytes=0-1,5-9', 'bytes=' + Array.from({ length: 2000 }, (_, i) => `${i * 3}-${i * 3}`).join(',')]) {
    t.equal(answerRange(1000, etag, { range }).status, 416, range.slice(0, 40))
  }
  t.equal(answerRange(0, etag, { range: 'bytes=0-' }).status, 416)
  t.same(answerRange(0, etag, {}), { status: 200, start: 0, end: -1 }, 'an empty file, whole')
})

t.test('another unit is ignored; If-Range with another validator gets the whole file', async (t) => {
  t.same(answerRange(1000, etag, { range: 'items=0-5' }), { status: 200, start: 0, end: 999 })
  t.same(answerRange(1000, etag, { range: 'bytes=0-5', ifRange: etag }), { status: 206, start: 0, end: 5 })
  t.same(answerRange(1000, etag, { range: 'bytes=0-5', ifRange: '"other"' }), { status: 200, start: 0, end: 999 })
  t.same(answerRange(1000, etag, { range: 'bytes=0-5', ifRange: 'Wed, 21 Oct 2015 07:28:00 GMT' }), { status: 200, start: 0, end: 999 }, 'a date: we have no Last-Modified')
  t.same(answerRange(1000, etag, { range: 'bytes=0-5', ifRange: `W/${etag}` }), { status: 200, start: 0, end: 999 }, 'If-Range compares strongly')
})

t.test('If-None-Match naming the ETag (or *) is 304', async (t) => {
  t.same(answerRange(1000, etag, { ifNoneMatch: etag }), { status: 304 })
  t.same(answerRange(1000, etag, { ifNoneMatch: `"x", W/${etag}` }), { status: 304 }, 'weak comparison, in a list')
  t.same(answerRange(1000, etag, { ifNoneMatch: '*' }), { status: 304 })
  t.equal(answerRange(1000, etag, { ifNoneMatch: '"x"' }).status, 200)
})
