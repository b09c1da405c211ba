import t from 'tap'
import { MockAgent, setGlobalDispatcher, getGlobalDispatcher } from 'undici'
import { boundedGet, undiciLoaded } from '../lib/http-get.js'

// A file of its own: it loads undici's index (for MockAgent), which test/tracker-http.test.ts checks is not loaded.
t.test('the lean undici path dispatches on the global dispatcher, as the index would (a proxy or a mock applies)', async (t) => {
  const before = getGlobalDispatcher()
  const mock = new MockAgent()
  mock.disableNetConnect()
  mock.get('http://tracker.test').intercept({ path: '/announce?info_hash=%00%FF&x=1', method: 'GET' }).reply(200, 'd8:intervali60ee')
  setGlobalDispatcher(mock)
  t.teardown(async () => { setGlobalDispatcher(before); await mock.close() })
  const got = await boundedGet('http://tracker.test/announce?info_hash=%00%FF&x=1#fragment', { timeout: 5000, maxRedirects: 2, maxBytes: 1000 })
  t.equal(got.body.toString(), 'd8:intervali60ee', 'the mock answered: path and query passed as given, the fragment dropped')
  t.equal(undiciLoaded, 'lean')
})
