import t from 'tap'
import { BitField } from '../lib/wire/index.js'

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('piece 0 is the high bit of byte 0 (BEP 3)', async t => {
  const bf = new BitField(10)
  bf.set(0)
  bf.set(9)
  t.same([...bf.toBuffer()], [0x80, 0x40])
  t.ok(bf.get(0))
  t.notOk(bf.get(1))
  t.ok(bf.get(9))
  t.notOk(bf.get(10), 'out of range reads are false')
  t.notOk(bf.get(-1))
  t.same([...bf], [0, 9])
})

t.test('count, hasAll, hasNone, setAll keeps spare bits clear', async t => {
  const bf = new BitField(11)
  t.ok(bf.hasNone())
  bf.setAll()
  t.ok(bf.hasAll())
  t.equal(bf.count(), 11)
  t.same([...bf.toBuffer()], [0xff, 0xe0])
  bf.set(3, false)
  bf.set(3, false)
  t.equal(bf.count(), 10)
  t.notOk(bf.hasAll())
  bf.clear()
  t.equal(bf.count(), 0)
  t.ok(BitField.full(8).hasAll())
  t.ok(new BitField(0).hasAll(), 'an empty torrent is complete')
})

t.test('set out of range is INDEX_OUT_OF_RANGE', async t => {
  const bf = new BitField(8)
  t.throws(() => { bf.set(8) }, { code: 'INDEX_OUT_OF_RANGE' })
  t.throws(() => { bf.set(-1) }, { code: 'INDEX_OUT_OF_RANGE' })
})

t.test('fromBuffer: wrong length or spare bits set is BAD_BITFIELD', async t => {
  t.throws(() => BitField.fromBuffer(Buffer.from([0xff]), 10), { code: 'BAD_BITFIELD' })
  t.throws(() => BitField.fromBuffer(Buffer.from([0xff, 0, 0]), 10), { code: 'BAD_BITFIELD' })
  t.throws(() => BitField.fromBuffer(Buffer.from([0xff, 0x20]), 10), { code: 'BAD_BITFIELD' })
  const ok = BitField.fromBuffer(Buffer.from([0xff, 0xc0]), 10)
  t.ok(ok.hasAll())
  const any = BitField.fromBuffer(Buffer.from([0x01]))
  t.equal(any.length, 8)
  t.ok(any.get(7))
})

t.test('fromBuffer copies its input', async t => {
  const buf = Buffer.from([0xf0])
  const bf = BitField.fromBuffer(buf, 8)
  buf[0] = 0
  t.equal(bf.count(), 4)
})

t.test('resize keeps bits below the new length', async t => {
  const bf = BitField.fromBuffer(Buffer.from([0xa5]), 8)
  const big = bf.resize(20)
  t.equal(big.length, 20)
  t.same([...big], [0, 2, 5, 7])
  const small = bf.resize(3)
  t.same([...small], [0, 2])
})

t.test('agrees with a boolean-array reference on random operations', async t => {
  const rnd = prng(42)
  for (let round = 0; round < 50; round++) {
    const n = 1 + Math.floor(rnd() * 200)
    const bf = new BitField(n)
    const ref: boolean[] = new Array<boolean>(n).fill(false)
    for (let op = 0; op < 300; op++) {
      const i = Math.floor(rnd() * n)
      const v = rnd() < 0.6
      bf.set(i, v)
      ref[i] = v
    }
    const bits = ref.map((v, i) => v === bf.get(i))
    t.notOk(bits.includes(false), `round ${round}: every bit matches`)
    t.equal(bf.count(), ref.filter(Boolean).length)
    const back = BitField.fromBuffer(bf.toBuffer(), n)
    t.equal(back.count(), bf.count())
    t.same([...back], [...bf])
  }
})
