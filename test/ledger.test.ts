import t from 'tap'
import { createLedger, BlockState, PieceState, PRIORITY, type LedgerChange, type PieceLedger } from '../lib/ledger.js'
import { BLOCK_LENGTH } from '../lib/geometry.js'
import { seededRandom } from './helpers/create-fixtures.js'

const PIECE = 3 * BLOCK_LENGTH

function ledgerOf (pieces: number, last = PIECE): PieceLedger {
  return createLedger({ pieceCount: pieces, pieceLength: PIECE, lastPieceLength: last })
}

function recorder (ledger: PieceLedger): LedgerChange[] {
  const changes: LedgerChange[] = []
  ledger.onChange((c) => changes.push(c))
  return changes
}

/** Receive every block of a piece from one peer, then hash it. */
function assemble (ledger: PieceLedger, index: number, peer: string): void {
  ledger.open(index)
  for (let b = 0; b < ledger.geometry.blocksIn(index); b++) {
    ledger.request(index, b, peer)
    ledger.receive(index, b, peer)
  }
  ledger.markHashing(index)
}

t.test('geometry is the ledger\'s: sizes of pieces and blocks, once', async (t) => {
  const ledger = ledgerOf(3, BLOCK_LENGTH + 7)
  t.equal(ledger.geometry.pieceSize(0), PIECE)
  t.equal(ledger.geometry.pieceSize(2), BLOCK_LENGTH + 7)
  t.equal(ledger.geometry.blocksIn(2), 2)
  t.equal(ledger.geometry.blockSize(2, 1), 7)
  t.equal(ledger.geometry.length, 2 * PIECE + BLOCK_LENGTH + 7)
  t.equal(ledger.wantedBytes, ledger.geometry.length)
})

t.test('availability: each peer\'s contribution is kept, so repeats and disconnects subtract exactly what it added', async (t) => {
  const ledger = ledgerOf(4)
  ledger.peerBitfield('a', (i) => i < 2)
  ledger.peerBitfield('a', (i) => i < 2) // repeated: counted once
  ledger.peerHave('a', 1) // already announced
  ledger.peerHave('a', 3)
  ledger.peerHaveAll('b')
  t.same([0, 1, 2, 3].map((i) => ledger.availability(i)), [2, 2, 1, 2])
  ledger.peerHaveAll('a') // have-all after a bitfield replaces it
  t.same([0, 1, 2, 3].map((i) => ledger.availability(i)), [2, 2, 2, 2])
  t.equal(ledger.seedCount, 2)
  ledger.removePeer('b')
  ledger.removePeer('b')
  t.same([0, 1, 2, 3].map((i) => ledger.availability(i)), [1, 1, 1, 1])
  ledger.peerHaveNone('a')
  t.same([0, 1, 2, 3].map((i) => ledger.availability(i)), [0, 0, 0, 0])
  ledger.peerHave('c', 99) // out of range: ignored
  t.equal(ledger.peerAnnounced('c'), 0)
})

t.test('availability against a brute-force count on random event sequences', async (t) => {
  const random = seededRandom(5)
  for (let run = 0; run < 200; run++) {
    const n = 1 + Math.floor(random() * 30)
    const ledger = ledgerOf(n)
    const model = new Map<string, Set<number> | 'all'>()
    for (let step = 0; step < 60; step++) {
      const peer = `p${Math.floor(random() * 5)}`
      const r = random()
      if (r < 0.25) {
        const bits = new Set<number>()
        for (let i = 0; i < n; i++) if (random() < 0.5) bits.add(i)
        ledger.peerBitfield(peer, (i) => bits.has(i))
        model.set(peer, bits)
      } else if (r < 0.55) {
        const i = Math.floor(random() * n)
        ledger.peerHave(peer, i)
        const m = model.get(peer)
        if (m !== 'all') model.set(peer, new Set([...(m ?? []), i]))
      } else if (r < 0.65) {
        ledger.peerHaveAll(peer)
        model.set(peer, 'all')
      } else if (r < 0.75) {
        ledger.peerHaveNone(peer)
        model.set(peer, new Set())
      } else {
        ledger.removePeer(peer)
        model.delete(peer)
      }
    }
    for (let i = 0; i < n; i++) {
      let expected = 0
      for (const m of model.values()) if (m === 'all' || m.has(i)) expected++
      if (ledger.availability(i) !== expected) { t.fail(`run ${run}, piece ${i}: ${ledger.availability(i)} ≠ ${expected}`); return }
    }
  }
  t.pass('200 random sequences agree')
})

t.test('interest: one change when a peer starts or stops having pieces we need', async (t) => {
  const ledger = ledgerOf(3)
  const changes = recorder(ledger)
  const interest = (): unknown[] => changes.filter((c) => c.type === 'interest')
  ledger.peerHave('a', 1)
  ledger.peerHave('a', 2)
  t.same(interest(), [{ type: 'interest', peer: 'a', interesting: true }], 'once, on the first piece')
  t.equal(ledger.interesting('a'), 2)
  ledger.peerHaveAll('s')
  assemble(ledger, 1, 'a')
  ledger.markVerified(1)
  t.equal(ledger.interesting('a'), 1, 'a verified piece is no longer needed')
  ledger.setPriority(2, 2, 0)
  t.equal(ledger.interesting('a'), 0, 'nor an unwanted one')
  t.same(interest().slice(1), [{ type: 'interest', peer: 's', interesting: true }, { type: 'interest', peer: 'a', interesting: false }])
  ledger.setPriority(0, 0, 0)
  t.equal(ledger.interesting('s'), 0)
  t.same(interest().at(-1), { type: 'interest', peer: 's', interesting: false }, 'a seed loses interest when we need nothing')
  ledger.setPriority(2, 2, PRIORITY.normal)
  t.same(interest().slice(-2), [{ type: 'interest', peer: 's', interesting: true }, { type: 'interest', peer: 'a', interesting: true }])
})

t.test('piece states and counts: missing → assembling → hashing → verified → written, and complete', async (t) => {
  const ledger = ledgerOf(2, 100)
  const changes = recorder(ledger)
  assemble(ledger, 0, 'a')
  t.equal(ledger.state(0), PieceState.Hashing)
  t.equal(ledger.heldPieces, 1)
  t.equal(ledger.releasingPieces, 1)
  ledger.markVerified(0)
  t.ok(ledger.have(0))
  t.notOk(ledger.written(0))
  ledger.markWritten(0)
  t.equal(ledger.writtenWantedBytes, PIECE)
  t.equal(ledger.heldPieces, 0)
  t.notOk(ledger.complete)
  assemble(ledger, 1, 'b')
  ledger.markVerified(1)
  t.ok(ledger.verifiedAll)
  t.notOk(ledger.complete, 'verified is not on disk')
  ledger.markWritten(1)
  t.ok(ledger.complete)
  t.same(changes.filter((c) => c.type === 'complete'), [{ type: 'complete', written: false }, { type: 'complete', written: true }], 'each once')
  t.same(changes.filter((c) => c.type === 'state' && c.index === 0).map((c) => c.type === 'state' ? c.state : -1),
    [PieceState.Assembling, PieceState.Hashing, PieceState.Verified, PieceState.Written])
})

t.test('blocks: first copy wins, others are named for cancel; abandon frees unless others asked; endgame', async (t) => {
  const ledger = ledgerOf(1)
  ledger.open(0)
  ledger.request(0, 0, 'a')
  ledger.request(0, 1, 'a')
  ledger.request(0, 2, 'a')
  t.ok(ledger.endgame, 'every block asked for')
  ledger.request(0, 0, 'b') // endgame duplicate
  t.same(ledger.requesters(0, 0), ['a', 'b'])
  t.equal(ledger.requestedBlocks, 3, 'a block counts once however many asked')
  t.same(ledger.receive(0, 0, 'b'), ['a'], 'b wins, a is to be cancelled')
  t.equal(ledger.receive(0, 0, 'a'), null, 'the late copy is not expected')
  ledger.request(0, 1, 'b')
  ledger.abandon(0, 1, 'a')
  t.equal(ledger.blockState(0, 1), BlockState.Requested, 'still b\'s')
  ledger.abandon(0, 1, 'b')
  t.equal(ledger.blockState(0, 1), BlockState.Free)
  t.notOk(ledger.endgame)
  ledger.abandonAll('a')
  t.equal(ledger.blockState(0, 2), BlockState.Free)
  t.equal(ledger.requestedBlocks, 0)
  ledger.removePeer('zz')
})

t.test('a failed hash: evidence kept, the piece re-fetched from one peer alone, liars named when it verifies', async (t) => {
  const ledger = ledgerOf(1)
  const changes = recorder(ledger)
  const d = (n: number): Buffer => Buffer.alloc(20, n)
  ledger.open(0)
  for (const [b, peer] of [[0, 'honest'], [1, 'liar'], [2, 'honest']] as const) { ledger.request(0, b, peer); ledger.receive(0, b, peer) }
  t.same(ledger.deliverers(0), ['honest', 'liar', 'honest'])
  ledger.markHashing(0)
  const generation = ledger.generation(0)
  t.same(ledger.markInvalid(0, [{ block: 0, peer: 'honest', digest: d(1) }, { block: 1, peer: 'liar', digest: d(9) }, { block: 2, peer: 'honest', digest: d(3) }]).sort(), ['honest', 'liar'])
  t.equal(ledger.generation(0), generation + 1, 'a new generation')
  t.equal(ledger.state(0), PieceState.Missing)
  t.ok(ledger.suspect(0))
  ledger.open(0)
  ledger.request(0, 0, 'honest')
  t.notOk(ledger.mayRequest(0, 'liar'), 'exclusive: the first requester owns it')
  ledger.request(0, 1, 'liar')
  t.equal(ledger.blockState(0, 1), BlockState.Free, 'another peer\'s request is not recorded')
  for (const b of [1, 2]) ledger.request(0, b, 'honest')
  for (const b of [0, 1, 2]) ledger.receive(0, b, 'honest')
  ledger.markHashing(0)
  ledger.markVerified(0, [d(1), d(2), d(3)])
  t.same(changes.filter((c) => c.type === 'liars'), [{ type: 'liars', index: 0, peers: ['liar'] }], 'only the peer whose block differed')
  t.notOk(ledger.suspect(0))
})

t.test('resetPiece throws away received blocks (a banned contributor), keeps requests out', async (t) => {
  const ledger = ledgerOf(1)
  const changes = recorder(ledger)
  ledger.open(0)
  ledger.request(0, 0, 'a')
  ledger.receive(0, 0, 'a')
  ledger.request(0, 1, 'b')
  ledger.resetPiece(0)
  t.equal(ledger.blockState(0, 0), BlockState.Free)
  t.equal(ledger.blockState(0, 1), BlockState.Requested)
  t.same(ledger.deliverers(0), [null, null, null])
  t.same(changes.filter((c) => c.type === 'reset'), [{ type: 'reset', index: 0, generation: 1 }])
})

t.test('priorities: 0 removes a piece from what is wanted, deadlines are kept per piece', async (t) => {
  const ledger = ledgerOf(4, 10)
  ledger.setPriority(1, 2, 0)
  t.equal(ledger.wantedBytes, PIECE + 10)
  t.equal(ledger.needed, 2)
  ledger.markWritten(0)
  ledger.markWritten(3)
  t.ok(ledger.complete, 'the wanted pieces are on disk')
  ledger.setPriority(1, 1, PRIORITY.top)
  t.notOk(ledger.complete, 'wanting more undoes it')
  t.ok(ledger.hasRaisedPriorities)
  ledger.setDeadline(1, 500)
  t.equal(ledger.deadline(1), 500)
  t.equal(ledger.deadline(2), Infinity)
  ledger.clearDeadline(1)
  t.same([...ledger.deadlines()], [])
})
