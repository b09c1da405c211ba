import t from 'tap'
import { oncePerTurn } from '../lib/clock.js'

const turn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('oncePerTurn: many calls in one turn run the work once, after the turn; cancel drops a pending run', async (t) => {
  let runs = 0
  const batch = oncePerTurn(() => { runs++ })
  batch.soon()
  batch.soon()
  batch.soon()
  t.equal(runs, 0, 'not at once')
  await turn()
  t.equal(runs, 1, 'once for the three calls')
  batch.soon()
  await turn()
  t.equal(runs, 2, 'a later turn runs again')
  batch.soon()
  batch.cancel()
  await turn()
  t.equal(runs, 2, 'cancelled')
})
