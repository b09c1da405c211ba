import t from 'tap'
import { ByteQueue } from '../lib/wire/mse/byte-queue.js'
import { seededRandom } from './helpers/create-fixtures.js'

t.test('random pushes, peeks, skips and takes agree with one flat buffer', async t => {
  const random = seededRandom(12)
  const q = new ByteQueue()
  let flat = Buffer.alloc(0)
  let next = 0
  let mismatches = 0
  for (let step = 0; step < 5000; step++) {
    const op = random()
    if (op < 0.4) {
      const n = Math.floor(random() * 40) // zero-length pushes too
      const chunk = Buffer.alloc(n)
      for (let i = 0; i < n; i++) chunk[i] = next++ & 255
      q.push(chunk)
      flat = Buffer.concat([flat, chunk])
    } else {
      const n = Math.floor(random() * (flat.length + 1))
      if (op < 0.6) {
        if (!q.peek(n).equals(flat.subarray(0, n))) mismatches++
      } else if (op < 0.8) {
        q.skip(n)
        flat = flat.subarray(n)
      } else {
        if (!q.take(n).equals(flat.subarray(0, n))) mismatches++
        flat = flat.subarray(n)
      }
    }
    if (q.length !== flat.length) mismatches++
  }
  t.equal(mismatches, 0)
  t.same(q.takeAll(), flat)
  t.equal(q.length, 0)
  t.equal(q.peek(5).length, 0, 'an empty queue peeks nothing')
})

t.test('peek gives a view within one chunk and a copy across chunks', async t => {
  const q = new ByteQueue()
  const first = Buffer.from('abcdef')
  q.push(first)
  q.push(Buffer.from('ghij'))
  const view = q.peek(4)
  view[0] = 0x41
  t.equal(first.toString(), 'Abcdef', 'a view of the pushed chunk')
  const across = q.peek(8)
  t.equal(across.toString(), 'Abcdefgh')
  across[0] = 0x5a
  t.equal(first.toString(), 'Abcdef', 'a copy when the bytes span chunks')
})
