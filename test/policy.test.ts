/** The streaming policies (lib/streaming/policy.ts): what each sets, the environment knob, the sequential order. */
import t from 'tap'
import { policyFromEnv, policyOptions, sequentialPicker, streamingFromEnv, STREAM_POLICIES } from '../lib/streaming/policy.js'
import { Picker } from '../lib/scheduler/picker.js'
import { createLedger } from '../lib/ledger.js'
import { BLOCK_LENGTH } from '../lib/geometry.js'

t.test('each policy turns the readers\' window and deadlines on or off', async (t) => {
  t.same(STREAM_POLICIES, ['rarest', 'sequential', 'window', 'deadline'])
  t.same(policyOptions('rarest'), { readahead: false, deadlines: false })
  t.same(policyOptions('sequential'), { readahead: false, deadlines: false, sequential: true })
  t.same(policyOptions('window'), { readahead: true, deadlines: false })
  t.same(policyOptions('deadline'), { readahead: true }, 'the default behaviour')
})

t.test('ZENTORRENT_STREAM_POLICY and ZENTORRENT_STREAM_READAHEAD', async (t) => {
  t.equal(policyFromEnv({}), null)
  t.same(streamingFromEnv({}), {}, 'unset: the defaults, nothing passed')
  t.same(streamingFromEnv({ ZENTORRENT_STREAM_POLICY: 'window' }), { streaming: { readahead: true, deadlines: false } })
  t.same(streamingFromEnv({ ZENTORRENT_STREAM_READAHEAD: '1000' }), { streaming: { readaheadBytes: 1000 } })
  t.same(streamingFromEnv({ ZENTORRENT_STREAM_HORIZON: '1500' }), { streaming: { deadlines: { horizon: 1500 } } })
  t.same(streamingFromEnv({ ZENTORRENT_STREAM_HORIZON: '1500', ZENTORRENT_STREAM_POLICY: 'window' }), { streaming: { readahead: true, deadlines: false } }, 'no deadlines: no horizon')
  t.throws(() => policyFromEnv({ ZENTORRENT_STREAM_POLICY: 'fastest' }), { code: 'BAD_ARGUMENT' })
  t.throws(() => streamingFromEnv({ ZENTORRENT_STREAM_READAHEAD: '-5' }), { code: 'BAD_ARGUMENT' })
})

t.test('sequential: the picker\'s chain takes pieces in index order whatever their availability', async (t) => {
  const n = 12
  const ledger = createLedger({ pieceCount: n, pieceLength: BLOCK_LENGTH, lastPieceLength: BLOCK_LENGTH })
  for (let i = 0; i < n; i++) for (let k = 0; k < (i * 7) % 5; k++) ledger.peerHave(`p${k}`, i) // availability all over
  const picker = new Picker(ledger, sequentialPicker())
  const peer = { id: 'x', has: () => true }
  const order = Array.from({ length: n }, () => picker.pick(peer, 1, { maxNew: 1 })[0]!.index)
  t.same(order, Array.from({ length: n }, (_, i) => i))
})
