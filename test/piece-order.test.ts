import t from 'tap'
import { BUCKET, PieceOrder } from '../lib/scheduler/piece-order.js'
import { seededRandom } from './helpers/create-fixtures.js'

/** The reference: a scan in index order keeping the first of the least accepted values. */
function scan (values: Float64Array, accept: (i: number) => boolean): number {
  let best = -1
  for (let i = 0; i < values.length; i++) {
    if (values[i] === Infinity || !accept(i)) continue
    if (best < 0 || values[i]! < values[best]!) best = i
  }
  return best
}

t.test('best() equals a scan, across random changes, predicates and ties', async (t) => {
  let compared = 0
  for (let seed = 1; seed <= 60; seed++) {
    const random = seededRandom(seed)
    const count = 1 + Math.floor(random() * 700)
    const values = new Float64Array(count)
    // few distinct values, so ties are common; some pieces not candidates at all
    const draw = (): number => random() < 0.2 ? Infinity : Math.floor(random() * 6)
    for (let i = 0; i < count; i++) values[i] = draw()
    const order = new PieceOrder(count, (i) => values[i]!)
    for (let step = 0; step < 100; step++) {
      // a few changes, or many at once (a bitfield)
      const changes = random() < 0.1 ? count : Math.floor(random() * 5)
      for (let c = 0; c < changes; c++) {
        const i = Math.floor(random() * count)
        values[i] = draw()
        order.changed(i)
      }
      const density = random()
      const has = Array.from({ length: count }, () => random() < density)
      const accept = (i: number): boolean => has[i] === true
      const got = order.best(accept)
      const want = scan(values, accept)
      if (got !== want) { t.fail(`seed ${seed} step ${step}: got ${got}, want ${want}`); return }
      compared++
    }
  }
  t.equal(compared, 6000)
})

t.test('a change not reported is not seen (the order is kept, not rescanned)', async (t) => {
  const values = new Float64Array(100).fill(5)
  const order = new PieceOrder(100, (i) => values[i]!)
  t.equal(order.best(() => true), 0, 'ties: the lowest index')
  values[70] = 1
  order.changed(70)
  t.equal(order.best(() => true), 70)
  values[10] = 0 // not reported: piece 10's bucket keeps its old least value
  t.equal(order.best(() => true), 70)
  order.changed(10)
  t.equal(order.best(() => true), 10)
})

t.test('cost: when the best piece overall is accepted, one query looks at a few buckets, not every piece', async (t) => {
  const count = 65_536
  const random = seededRandom(7)
  const values = new Float64Array(count)
  for (let i = 0; i < count; i++) values[i] = Math.floor(random() * 0x100000000)
  let looked = 0
  const order = new PieceOrder(count, (i) => { looked++; return values[i]! })
  let best = order.best(() => true) // the first query builds the tree: every piece looked at once
  t.ok(looked <= count + BUCKET, `built with one look at each piece, then one bucket (${looked})`)
  for (let q = 0; q < 100; q++) {
    values[best] = Infinity // opened: no longer a candidate
    order.changed(best)
    looked = 0
    best = order.best(() => true) // its bucket recomputed, then one path down
    if (looked > 4 * BUCKET) { t.fail(`query ${q}: ${looked} looks`); return }
  }
  t.pass(`100 queries, each at most ${4 * BUCKET} looks`)
})
