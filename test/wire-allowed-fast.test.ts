import t from 'tap'
import { allowedFastSet } from '../lib/wire/allowed-fast.js'

t.test('the BEP 6 example: 80.4.4.200, info hash 0xAA×20, 1313 pieces', async (t) => {
  const infoHash = Buffer.alloc(20, 0xaa)
  t.same(allowedFastSet('80.4.4.200', infoHash, 1313, 7), [1059, 431, 808, 1217, 287, 376, 1188])
  t.same(allowedFastSet('80.4.4.200', infoHash, 1313, 9), [1059, 431, 808, 1217, 287, 376, 1188, 353, 508])
})

t.test('peers of one /24 share the set; an IPv4-mapped address is the IPv4 one; IPv6 gets none', async (t) => {
  const infoHash = Buffer.alloc(20, 0xaa)
  t.same(allowedFastSet('80.4.4.1', infoHash, 1313, 7), allowedFastSet('80.4.4.200', infoHash, 1313, 7))
  t.same(allowedFastSet('::ffff:80.4.4.200', infoHash, 1313, 7), allowedFastSet('80.4.4.200', infoHash, 1313, 7))
  t.same(allowedFastSet('::1', infoHash, 1313, 7), [])
})

t.test('never more pieces than the torrent has, all distinct and in range', async (t) => {
  const infoHash = Buffer.alloc(20, 0x11)
  const small = allowedFastSet('127.0.0.1', infoHash, 3, 10)
  t.same([...small].sort(), [0, 1, 2])
  for (const n of [1, 7, 100, 5000]) {
    const set = allowedFastSet('10.0.0.7', infoHash, n)
    t.equal(new Set(set).size, set.length)
    t.ok(set.every((i) => i >= 0 && i < n))
  }
})
