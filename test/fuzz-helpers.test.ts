import t from 'tap'
import { noHang } from './helpers/fuzz.js'

t.test('noHang returns what the code returns, and stops an endless loop with an Error naming the bound', async (t) => {
  t.equal(noHang(() => 6 * 7), 42)
  t.throws(() => noHang(() => { for (;;) { /* a hang */ } }, 200), /still running after 200 ms: a hang/)
  t.throws(() => noHang(() => { throw new RangeError('its own error') }), RangeError, 'other errors pass through')
})
