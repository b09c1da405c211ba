import t from 'tap'
import { createHash } from 'node:crypto'
import { req2Hash } from '../lib/wire/mse/dh.js'
import { SkeyIndex } from '../lib/wire/mse/skey-index.js'

t.test('SkeyIndex finds an info hash by HASH(req2, ·) and forgets deleted ones', async t => {
  const hashes = [0, 1, 2].map((i) => createHash('sha1').update(`torrent ${i}`).digest())
  const index = new SkeyIndex(hashes.slice(0, 2))
  t.equal(index.size, 2)
  t.same(index.find(req2Hash(hashes[1]!)), hashes[1])
  t.equal(index.find(req2Hash(hashes[2]!)), null)
  t.equal(index.find(hashes[0]!), null, 'the info hash itself is not the key')
  index.add(hashes[2]!)
  index.delete(hashes[0]!)
  t.same(index.find(req2Hash(hashes[2]!)), hashes[2])
  t.equal(index.find(req2Hash(hashes[0]!)), null)
})
