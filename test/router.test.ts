/**
 * Deadline routing (lib/streaming/router.ts) over a real ledger and picker: urgent pieces go to peers that deliver
 * them in time, slow peers are skipped (but the best one never), late pieces are duplicated to a peer no slower.
 * Peers are plain records (rate, outstanding bytes, what they have); time is an argument.
 */
import t from 'tap'
import { DeadlineRouter, ROUTER_DEFAULTS, type RoutedPeer } from '../lib/streaming/router.js'
import { Picker } from '../lib/scheduler/picker.js'
import { createLedger, BlockState, type PieceLedger } from '../lib/ledger.js'
import { BLOCK_LENGTH } from '../lib/geometry.js'

const BLOCKS = 4
const PIECE = BLOCKS * BLOCK_LENGTH

interface Peer extends RoutedPeer { rate: number, outstandingBytes: number, seed: boolean }

function peer (id: string, rate: number, outstandingBytes = 0, has: (i: number) => boolean = () => true, seed = false): Peer {
  return { id, rate, outstandingBytes, has, seed }
}

function setup (pieces = 10): { ledger: PieceLedger, router: DeadlineRouter, picker: Picker } {
  const ledger = createLedger({ pieceCount: pieces, pieceLength: PIECE, lastPieceLength: PIECE })
  for (let i = 0; i < pieces; i++) ledger.peerHave('x', i) // availability, so every piece is wanted from someone
  const picker = new Picker(ledger, { initialRandomPieces: 0, order: 'index' })
  return { ledger, picker, router: new DeadlineRouter(ledger, picker) }
}

t.test('defaults are named in one place', async (t) => {
  t.ok(ROUTER_DEFAULTS.maxRequesters >= 2, 'a late piece can have a second requester')
  t.ok(Object.isFrozen(ROUTER_DEFAULTS))
})

t.test('without deadlines the router steps aside', async (t) => {
  const { router } = setup()
  const p = peer('p', 100_000)
  const route = router.route(p, () => [p], 8, 10, 0)
  t.same(route.blocks, [])
  t.equal(route.view, p, 'the picker sees the peer as it is')
})

t.test('urgent pieces, earliest deadline first, to a peer that delivers them in time', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(5, 2000)
  ledger.setDeadline(3, 1000)
  const fast = peer('fast', 1_000_000)
  const route = router.route(fast, () => [fast], 6, 10, 0)
  t.same(route.blocks.map((b) => b.index), [3, 3, 3, 3, 5, 5], 'piece 3 (due first), then 5')
  t.equal(ledger.blockState(3, 0), BlockState.Requested, 'marked in the ledger')
})

t.test('a slow peer is skipped for an urgent piece a faster peer has; it gets rarest-first work instead', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(3, 1000) // 64 KiB due in 1 s
  const slow = peer('slow', 16 * 1024) // 4 s for the piece
  const fast = peer('fast', 1_000_000)
  const peers = (): Peer[] => [slow, fast]
  const route = router.route(slow, peers, 4, 10, 0)
  t.same(route.blocks, [], 'no urgent blocks for the slow peer')
  t.notOk(route.view.has(3), 'and its ordinary pick does not see piece 3')
  t.ok(route.view.has(4), 'other pieces it still sees')
  const other = router.route(fast, peers, 4, 10, 0)
  t.same(other.blocks.map((b) => b.index), [3, 3, 3, 3], 'the fast peer takes it')
})

t.test('the best peer that has the piece is never skipped, even when the piece will be late', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(3, 100)
  const slow = peer('slow', 16 * 1024)
  const fastWithout = peer('fast', 1_000_000, 0, (i) => i !== 3)
  const route = router.route(slow, () => [slow, fastWithout], 4, 10, 0)
  t.same(route.blocks.map((b) => b.index), [3, 3, 3, 3], 'only the slow peer has it: it fetches it')
})

t.test('queue time counts: a fast peer with a long queue loses to an idle one', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(2, 500)
  const busy = peer('busy', 1_000_000, 2_000_000) // 2 s of queue
  const idle = peer('idle', 200_000) // 0.33 s for the piece
  const peers = (): Peer[] => [busy, idle]
  t.same(router.route(busy, peers, 4, 10, 0).blocks, [], 'the busy peer would be late')
  t.same(router.route(idle, peers, 4, 10, 0).blocks.map((b) => b.index), [2, 2, 2, 2])
})

t.test('an urgent piece is split among peers that would each deliver it in time', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(1, 1000)
  const first = peer('first', 100_000)
  const second = peer('second', 100_000)
  const peers = (): Peer[] => [first, second]
  t.same(router.route(first, peers, 8, 10, 0).blocks.filter((b) => b.index === 1).map((b) => b.offset), [0, BLOCK_LENGTH], 'urgentBlocksPerPeer (2) blocks')
  first.outstandingBytes = 2 * BLOCK_LENGTH
  t.same(router.route(second, peers, 8, 10, 0).blocks.filter((b) => b.index === 1).map((b) => b.offset), [2 * BLOCK_LENGTH, 3 * BLOCK_LENGTH], 'the other half from the other peer')
})

t.test('a late piece is asked of another peer, no slower, at most maxRequesters per block; the first copy wins', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(1, 1000)
  const first = peer('first', 100_000)
  const second = peer('second', 100_000)
  const third = peer('third', 100_000)
  const fourth = peer('fourth', 100_000)
  const peers = (): Peer[] => [first, second, third, fourth]
  router.route(first, peers, 4, 10, 0)
  router.route(second, peers, 4, 10, 0)
  first.outstandingBytes = second.outstandingBytes = 2 * BLOCK_LENGTH
  t.same([0, 1, 2, 3].map((b) => ledger.requesters(1, b).length), [1, 1, 1, 1], 'every block asked once')
  t.same(router.route(third, peers, 4, 10, 400).blocks, [], 'not late yet (lateAfter: 0.5 s before the deadline): no duplicate')
  const dup = router.route(third, peers, 4, 10, 1500)
  t.same(dup.blocks.map((b) => [b.index, b.offset]), [[1, 0], [1, BLOCK_LENGTH], [1, 2 * BLOCK_LENGTH], [1, 3 * BLOCK_LENGTH]], 'late: duplicated')
  t.same(ledger.requesters(1, 0), ['first', 'third'])
  t.same(router.route(fourth, peers, 4, 10, 1500).blocks, [], 'maxRequesters (2) reached')
  t.same(ledger.receive(1, 0, 'third'), ['first'], 'the first copy names the other requester to cancel')
})

t.test('a duplicate is not sent to a peer slower than the one already asked', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(1, 1000)
  const fast = peer('fast', 1_000_000)
  const slow = peer('slow', 20_000)
  const peers = (): Peer[] => [fast, slow]
  router.route(fast, peers, 4, 10, 0)
  fast.outstandingBytes = PIECE
  slow.outstandingBytes = PIECE
  t.same(router.route(slow, peers, 4, 10, 2000).blocks, [], 'its queue (3.3 s) is longer than the requester\'s (0.07 s)')
})

t.test('maxNew bounds the urgent pieces opened', async (t) => {
  const { ledger, router } = setup()
  for (let i = 0; i < 5; i++) ledger.setDeadline(i, 1000 + i)
  const p = peer('p', 1_000_000)
  const route = router.route(p, () => [p], 20, 2, 0)
  t.same([...new Set(route.blocks.map((b) => b.index))], [0, 1], 'two pieces opened')
})

t.test('a seed is spared an urgent piece that a peer which is not a seed delivers in time', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(2, 2000)
  const seed = peer('seed', 2_000_000, 0, () => true, true)
  const leecher = peer('leecher', 100_000, 0, (i) => i === 2)
  const peers = (): Peer[] => [seed, leecher]
  const fromSeed = router.route(seed, peers, 4, 10, 0)
  t.same(fromSeed.blocks, [], 'the leecher has it and would deliver it within 2 s: not the seed')
  t.notOk(fromSeed.view.has(2))
  t.same(router.route(leecher, peers, 4, 10, 0).blocks.map((b) => b.index), [2, 2], 'half of it: the seed would deliver it in time too')
  ledger.setDeadline(3, 200)
  const slowLeecher = peer('leecher', 100_000, 0, (i) => i === 3)
  t.same(router.route(seed, () => [seed, slowLeecher], 4, 10, 0).blocks.map((b) => b.index), [3, 3, 3, 3], 'in time only from the seed: the seed')
})

t.test('an urgent piece that the peer\'s queue would make late asks to preempt that queue', async (t) => {
  const { ledger, router } = setup()
  ledger.setDeadline(2, 500)
  const busy = peer('busy', 100_000, 16 * BLOCK_LENGTH) // 2.6 s of queue, and the only one with the piece
  const route = router.route(busy, () => [busy], 4, 10, 0)
  t.equal(route.blocks.length, 4)
  t.ok(route.preempt, 'preempt: its queued requests without a deadline would hold piece 2 back')
  const idle = peer('idle', 100_000)
  ledger.setDeadline(3, 5000)
  t.notOk(router.route(idle, () => [idle], 4, 10, 0).preempt, 'in time: nothing to preempt')
})
