import t from 'tap'
import { BLOCK_LENGTH, Picker, PICKER_DEFAULTS, type BlockRequest, type PeerView } from '../lib/scheduler/picker.js'
import { seededRandom } from './helpers/create-fixtures.js'

// Scenarios are written libtorrent-style, one character per piece:
//   availability "2223333"  peers announcing each piece (digits)
//   have / peer  "* *    "  '*' where we (or the peer) have the piece

const BLOCKS = 2 // blocks per piece in the string-driven tests

function peerOf (id: string, has: string): PeerView {
  return { id, has: (i: number) => has[i] === '*' }
}

const allOf = (n: number): string => '*'.repeat(n)

interface Scenario {
  availability: string
  have?: string
  random?: () => number
  initialRandomPieces?: number
  maxEndgameRequesters?: number
  blocks?: number
}

function picker (s: Scenario): Picker {
  const n = s.availability.length
  const pieceLength = (s.blocks ?? BLOCKS) * BLOCK_LENGTH
  const p = new Picker({
    pieceCount: n,
    pieceLength,
    lastPieceLength: pieceLength,
    initialRandomPieces: s.initialRandomPieces ?? 0,
    ...(s.maxEndgameRequesters !== undefined ? { maxEndgameRequesters: s.maxEndgameRequesters } : {}),
    random: s.random ?? (() => { throw new Error('random() must not be called here') })
  })
  for (let i = 0; i < n; i++) for (let k = Number(s.availability[i]); k > 0; k--) p.addHave(i)
  const have = s.have ?? ''
  for (let i = 0; i < n; i++) if (have[i] === '*') p.markHave(i)
  return p
}

/** The piece of the first block picked, -1 when nothing. */
function firstPiece (blocks: BlockRequest[]): number {
  return blocks.length === 0 ? -1 : blocks[0]!.index
}

const key = (b: BlockRequest): string => `${b.index}:${b.offset}`

t.test('defaults are named in one place', async (t) => {
  t.same(PICKER_DEFAULTS, { blockLength: 16384, initialRandomPieces: 4, maxEndgameRequesters: 3 })
  t.equal(BLOCK_LENGTH, 16384, 'BEP 3 block size')
})

t.test('rarest first: the one least available piece the peer has is picked', async (t) => {
  const cases: Array<{ availability: string, have: string, peer: string, expected: number }> = [
    { availability: '4444144', have: '       ', peer: '*******', expected: 4 },
    { availability: '1111111', have: '****** ', peer: '*******', expected: 6 },
    { availability: '3213333', have: '       ', peer: '* *****', expected: 2 },
    { availability: '5432143', have: '    *  ', peer: '*******', expected: 3 },
    { availability: '5432143', have: '    *  ', peer: '*****  ', expected: 3 },
    { availability: '5433123', have: '   **  ', peer: '*******', expected: 5 },
    { availability: '2223333', have: '***    ', peer: '*** *  ', expected: 4 },
    { availability: '2223333', have: '       ', peer: '       ', expected: -1 },
    { availability: '1111111', have: '*******', peer: '*******', expected: -1 },
    { availability: '1111111', have: '*** ***', peer: '*** ***', expected: -1 }
  ]
  for (const c of cases) {
    // no ties for the rarest here; random() is still drawn for ties met earlier in the scan
    const p = picker({ availability: c.availability, have: c.have, random: seededRandom(1) })
    t.equal(firstPiece(p.pick(peerOf('a', c.peer), 1)), c.expected, `${c.availability} have "${c.have}" peer "${c.peer}"`)
  }
})

t.test('maxAvailability: new pieces only among those at most that many peers have; started ones still finish', async (t) => {
  const p = picker({ availability: '0102300', have: '       ', random: seededRandom(2) })
  const all = peerOf('s', '*******')
  const seen = new Set<number>()
  for (let i = 0; i < 4; i++) seen.add(firstPiece(p.pick(all, BLOCKS, { maxAvailability: 0 }))) // a whole piece each
  t.same([...seen].sort(), [0, 2, 5, 6], 'the four pieces nobody else has, one per pick')
  t.same(p.pick(all, BLOCKS, { maxAvailability: 0 }), [], 'then nothing new')
  t.equal(firstPiece(p.pick(all, 1)), 1, 'without the bound: the rarest of the rest (one block of it)')
  t.equal(firstPiece(p.pick(all, 1, { maxAvailability: 0 })), 1, 'a started piece is finished whatever its availability')
})

t.test('random tie-break: every equally rare piece is seen, a more common one never', async (t) => {
  const cases: Array<{ availability: string, have: string, peer: string, rarest: number[] }> = [
    { availability: '2223333', have: '       ', peer: '*******', rarest: [0, 1, 2] },
    { availability: '2223333', have: '***    ', peer: '*******', rarest: [3, 4, 5, 6] },
    { availability: '3131311', have: '      *', peer: '*******', rarest: [1, 3, 5] },
    { availability: '9999991', have: '       ', peer: '****** ', rarest: [0, 1, 2, 3, 4, 5] }
  ]
  const random = seededRandom(7)
  const runs = 3000
  for (const c of cases) {
    const seen = new Map<number, number>()
    for (let run = 0; run < runs; run++) {
      const p = picker({ availability: c.availability, have: c.have, random })
      const piece = firstPiece(p.pick(peerOf('a', c.peer), 1))
      seen.set(piece, (seen.get(piece) ?? 0) + 1)
    }
    t.same([...seen.keys()].sort((a, b) => a - b), c.rarest, `${c.availability}: exactly the rarest pieces are picked`)
    // reservoir sampling is uniform: each of k candidates about runs/k times (loose bound, 30%)
    const expected = runs / c.rarest.length
    for (const [piece, count] of seen) t.ok(Math.abs(count - expected) < 0.3 * expected, `piece ${piece} picked ${count} times (~${expected})`)
  }
})

t.test('started first: a partial piece is finished before a new one opens, oldest first', async (t) => {
  const p = picker({ availability: '3331', random: () => 0.99, blocks: 3 })
  const a = peerOf('a', '****')
  t.same(p.pick(a, 1), [{ index: 3, offset: 0, length: BLOCK_LENGTH }], 'rarest piece 3 opened')
  // piece 3 is still rarest-but-started; b lacks it, so b opens another piece (a tie among 0..2)
  const b = peerOf('b', '*** ')
  const opened = firstPiece(p.pick(b, 1))
  t.ok([0, 1, 2].includes(opened))
  t.equal(p.partialCount, 2)
  // c has everything: it finishes piece 3 (oldest) then the second piece, before opening a third
  const c = peerOf('c', '****')
  t.same(p.pick(c, 4).map(key), ['3:16384', '3:32768', `${opened}:16384`, `${opened}:32768`])
  t.equal(p.partialCount, 2, 'no new piece opened while started ones had free blocks')
  const next = p.pick(c, 1)
  t.equal(next.length, 1)
  t.not(next[0]!.index, 3)
  t.not(next[0]!.index, opened)
  t.equal(p.partialCount, 3, 'a new piece only once the started ones are fully requested')
})

t.test('initial random pieces: the first ones are random, then rarest first takes over', async (t) => {
  const random = seededRandom(11)
  const counts = new Map<number, number>()
  for (let run = 0; run < 2000; run++) {
    const p = picker({ availability: '1999999', initialRandomPieces: 2, random, blocks: 1 })
    const a = peerOf('a', allOf(7))
    const first = p.pick(a, 2).map((b) => b.index) // two random pieces
    for (const i of first) counts.set(i, (counts.get(i) ?? 0) + 1)
    t.equal(new Set(first).size, 2)
    // with two pieces open (haveCount + partial = 2) rarest first applies: piece 0 unless already taken
    const third = firstPiece(p.pick(a, 1))
    if (!first.includes(0)) t.equal(third, 0, 'rarest after the random start')
  }
  t.same([...counts.keys()].sort(), [0, 1, 2, 3, 4, 5, 6], 'every piece can be a random first piece')
  // pieces we already have count towards the random start
  const p = picker({ availability: '1999999', have: '  **   ', initialRandomPieces: 2, random: () => { throw new Error('no random') } })
  t.equal(firstPiece(p.pick(peerOf('a', allOf(7)), 1)), 0, 'two pieces had: straight to rarest first')
})

t.test('streaming window: pieces inside it come first, rarest first within it', async (t) => {
  const p = picker({ availability: '1113134', initialRandomPieces: 4, random: () => 0.99 })
  p.setWindow(4, 3)
  const a = peerOf('a', allOf(7))
  t.same(p.pick(a, 6).map((b) => b.index), [4, 4, 5, 5, 6, 6], 'window 4..6 by rarity, no random start while streaming')
  t.equal(firstPiece(p.pick(a, 1)), 0, 'then rarest first outside the window')
  p.setWindow(5, 100)
  t.equal(firstPiece(p.pick(a, 3)), 0, 'window clipped to the torrent and already started: started piece first')
  p.clearWindow()
  const q = picker({ availability: '1113134', random: () => 0.99 })
  q.setWindow(4, 0)
  t.equal(firstPiece(q.pick(a, 1)), 0, 'a zero-length window is no window')
  const r = picker({ availability: '1113134', random: () => 0.99 })
  r.setWindow(4, 3)
  t.equal(firstPiece(r.pick(peerOf('b', '****   '), 1)), 0, 'the peer has nothing in the window: rarest elsewhere')
})

t.test('piece and block sizes: odd piece length, odd last piece, odd last block', async (t) => {
  const pieceLength = 2 * BLOCK_LENGTH + 7232 // 40000
  const lastPieceLength = BLOCK_LENGTH + 1
  const p = new Picker({ pieceCount: 3, pieceLength, lastPieceLength, initialRandomPieces: 0, random: () => 0.99 })
  t.equal(p.blocksIn(0), 3)
  t.equal(p.blocksIn(2), 2)
  const blocks = p.pick(peerOf('a', '***'), 100)
  t.equal(blocks.length, 8)
  for (let i = 0; i < 3; i++) {
    const mine = blocks.filter((b) => b.index === i)
    t.same(mine.map((b) => b.offset), mine.map((_, k) => k * BLOCK_LENGTH), `piece ${i} offsets`)
    t.equal(mine.reduce((sum, b) => sum + b.length, 0), i === 2 ? lastPieceLength : pieceLength, `piece ${i} covered exactly`)
  }
  t.same(blocks.filter((b) => b.index === 2).map((b) => b.length), [BLOCK_LENGTH, 1], 'last block of the last piece is 1 byte')
  t.same(blocks.filter((b) => b.index === 0).map((b) => b.length), [BLOCK_LENGTH, BLOCK_LENGTH, 7232])
  // a torrent of one piece smaller than a block
  const tiny = new Picker({ pieceCount: 1, pieceLength: 32768, lastPieceLength: 5, random: () => 0.99 })
  t.same(tiny.pick(peerOf('a', '*'), 4), [{ index: 0, offset: 0, length: 5 }])
})

t.test('openNew: false only continues started pieces', async (t) => {
  const p = picker({ availability: '1222', random: () => 0.99 })
  const a = peerOf('a', allOf(4))
  t.same(p.pick(a, 5, { openNew: false }), [], 'nothing started, nothing picked')
  t.same(p.pick(a, 1).map(key), ['0:0'])
  t.same(p.pick(a, 5, { openNew: false }).map(key), ['0:16384'], 'the started piece only')
  t.same(p.pick(a, 5, { openNew: false }), [], 'and no endgame while pieces are unstarted')
  t.same(p.pick(a, 0), [], 'count 0')
})

t.test('endgame: duplicates only when no block is free anywhere', async (t) => {
  const p = picker({ availability: '22', random: () => 0.99 })
  const a = peerOf('a', '**')
  const b = peerOf('b', ' *')
  t.same(p.pick(b, 1).map(key), ['1:0'])
  t.same(p.pick(a, 2).map(key), ['1:16384', '0:0'], 'started piece first, then a new one')
  t.equal(p.endgame, false, 'piece 0 still has a free block')
  // b lacks piece 0, whose second block nobody asked for: b must not duplicate requests yet
  t.same(p.pick(b, 5), [], 'no endgame while a block is free (even one this peer cannot serve)')
  t.same(p.pick(a, 1).map(key), ['0:16384'], 'the free block goes first')
  t.equal(p.endgame, true)
  t.same(p.pick(b, 5).map(key), ['1:16384'], 'now b duplicates what it does not already have requested')
})

t.test('endgame: a peer gets free blocks before duplicates in one pick', async (t) => {
  const p = picker({ availability: '22', random: () => 0.99 })
  const a = peerOf('a', '**')
  const b = peerOf('b', '**')
  t.same(p.pick(a, 3).map(key), ['0:0', '0:16384', '1:0'])
  t.same(p.pick(b, 2).map(key), ['1:16384', '0:0'])
})

t.test('endgame: fewest requesters first, capped, first copy wins', async (t) => {
  const p = picker({ availability: '22', random: () => 0.99, maxEndgameRequesters: 3 })
  const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((id) => peerOf(id, '**')) as [PeerView, PeerView, PeerView, PeerView, PeerView]
  t.same(p.pick(a, 10).map(key), ['0:0', '0:16384', '1:0', '1:16384'])
  t.equal(p.endgame, true)
  t.same(p.pick(b, 1).map(key), ['0:0'], 'b duplicates one block')
  t.same(p.pick(c, 10).map(key), ['0:16384', '1:0', '1:16384', '0:0'], 'the three with one requester, then the one with two')
  t.same(p.pick(d, 10).map(key), ['0:16384', '1:0', '1:16384'], 'cap of 3: 0:0 has a, b and c already')
  t.same(p.pick(e, 10), [], 'every block at the cap')
  t.same(p.pick(a, 10), [], 'a is already asking for everything')
  t.equal(p.requestedBlocks, 4, 'duplicates counted once')

  t.same(p.blockReceived(0, 0, 'b'), ['a', 'c'], 'the others to cancel')
  t.equal(p.blockReceived(0, 0, 'a'), null, 'a second copy is unexpected')
  t.equal(p.blockReceived(0, 0, 'b'), null, 'and so is a third')
  t.same(p.blockReceived(0, 16384, 'a'), ['c', 'd'])
  t.equal(p.pieceAssembled(0), true)
  t.equal(p.pieceAssembled(1), false)
  t.equal(p.blockReceived(0, 1, 'a'), null, 'not a block boundary')
  t.equal(p.blockReceived(0, 5 * BLOCK_LENGTH, 'a'), null, 'past the piece')
  t.equal(p.blockReceived(1, -BLOCK_LENGTH, 'a'), null, 'negative offset')
  p.markHave(0)
  t.equal(p.blockReceived(0, 0, 'a'), null, 'a piece we have')
})

t.test('maxEndgameRequesters 1 turns endgame duplicates off', async (t) => {
  const p = picker({ availability: '2', random: () => 0.99, maxEndgameRequesters: 1 })
  t.equal(p.pick(peerOf('a', '*'), 2).length, 2)
  t.same(p.pick(peerOf('b', '*'), 2), [])
})

t.test('abandon frees a block only when no other peer asked for it', async (t) => {
  const p = picker({ availability: '2', random: () => 0.99 })
  const a = peerOf('a', '*')
  const b = peerOf('b', '*')
  const c = peerOf('c', '*')
  t.same(p.pick(a, 1).map(key), ['0:0'])
  p.abandon(0, 0, 'a')
  t.equal(p.requestedBlocks, 0)
  t.same(p.pick(b, 1).map(key), ['0:0'], 'freed: the next peer gets it')
  t.same(p.pick(a, 1).map(key), ['0:16384'])
  t.same(p.pick(c, 2).map(key), ['0:0', '0:16384'], 'endgame duplicates of both')
  p.abandon(0, 0, 'b')
  t.equal(p.endgame, true, 'c still asks for 0:0: not free')
  t.equal(p.requestedBlocks, 2)
  t.same(p.pick(b, 5).map(key), ['0:0', '0:16384'], 'b is no longer a requester of 0:0, so it may duplicate it again')
  p.abandon(0, 0, 'b')
  p.abandon(0, 0, 'c')
  t.equal(p.endgame, false, 'nobody asks for 0:0 any more')
  t.same(p.pick(b, 1).map(key), ['0:0'], 'free again: picked as a fresh request')
  t.same(p.blockReceived(0, 0, 'b'), [], 'b was the only requester left')
  p.abandon(0, 0, 'b') // received blocks are not abandoned
  p.abandon(0, 1, 'a') // not a block: ignored
  p.abandon(1, 0, 'a') // no such piece: ignored
  t.equal(p.requestedBlocks, 1)
  t.same(p.blockReceived(0, 16384, 'c'), ['a', 'b'])
  t.equal(p.pieceAssembled(0), true)
})

t.test('pieceFailed re-opens every block of the piece', async (t) => {
  const p = picker({ availability: '12', random: () => 0.99 })
  const a = peerOf('a', '**')
  t.same(p.pick(a, 2).map(key), ['0:0', '0:16384'])
  t.same(p.blockReceived(0, 0, 'a'), [])
  t.same(p.blockReceived(0, 16384, 'a'), [])
  t.equal(p.pieceAssembled(0), true)
  p.pieceFailed(0)
  t.equal(p.pieceAssembled(0), false)
  t.equal(p.blockReceived(0, 0, 'a'), null, 'blocks of the failed attempt are not expected')
  t.same(p.pick(a, 2).map(key), ['0:0', '0:16384'], 'the failed piece (still rarest) again')
  t.equal(p.done, false)
  p.pieceFailed(1) // never started: nothing changes
  t.same(p.pick(a, 3).map(key), ['1:0', '1:16384'])
  p.markHave(0)
  p.markHave(1)
  t.equal(p.done, true)
  t.equal(p.haveCount, 2)
  p.markHave(1)
  t.equal(p.haveCount, 2, 'markHave is idempotent')
})

t.test('setWanted: unwanted pieces are skipped, done once every wanted piece is had', async (t) => {
  const p = picker({ availability: '1123333', have: '      *', random: () => 0.99 })
  const wanted = '  **  *'
  p.setWanted((i) => wanted[i] === '*')
  t.equal(p.wantedMissing, 2)
  t.equal(p.wanted(0), false)
  const a = peerOf('a', allOf(7))
  t.same(p.pick(a, 10).map((b) => b.index), [2, 2, 3, 3], 'only pieces 2 and 3 (6 is had)')
  t.same(p.pick(peerOf('b', allOf(7)), 1).map(key), ['2:0'], 'endgame among wanted pieces only')
  t.equal(p.done, false)
  p.markHave(2)
  t.equal(p.done, false)
  p.markHave(0) // an unwanted piece arriving anyway does not count
  t.equal(p.wantedMissing, 1)
  p.markHave(3)
  t.equal(p.done, true)
  t.same(p.pick(a, 10), [])
  // changing the selection later counts the new wanted pieces
  p.setWanted(() => true)
  t.equal(p.wantedMissing, 3)
  t.equal(p.done, false)
  t.same([...new Set(p.pick(a, 10).map((b) => b.index))], [1, 4, 5], 'rarest first among the newly wanted')
})

t.test('availability follows bitfields, haves and seeds', async (t) => {
  const p = picker({ availability: '000', random: () => 0.99 })
  p.addBitfield({ get: (i) => i !== 1 })
  p.addBitfield({ get: (i) => i === 0 })
  p.addSeed()
  t.same([0, 1, 2].map((i) => p.availability(i)), [3, 1, 2])
  p.removeBitfield({ get: (i) => i === 0 })
  p.removeSeed()
  p.removeSeed()
  t.same([0, 1, 2].map((i) => p.availability(i)), [1, 0, 1])
  p.removeBitfield({ get: () => true })
  p.removeBitfield({ get: () => true })
  t.same([0, 1, 2].map((i) => p.availability(i)), [0, 0, 0], 'never below zero')
})

// ---- against a brute-force reference on random inputs ------------------------------------------------

t.test('the first block picked is one the reference allows', async (t) => {
  const random = seededRandom(2024)
  const int = (n: number): number => Math.floor(random() * n)
  let checked = 0
  for (let run = 0; run < 3000; run++) {
    const n = 1 + int(12)
    const blocks = 1 + int(3)
    const pieceLength = blocks * BLOCK_LENGTH
    const initialRandomPieces = int(4)
    const p = new Picker({ pieceCount: n, pieceLength, lastPieceLength: pieceLength, initialRandomPieces, random })
    const availability = Array.from({ length: n }, () => int(5))
    availability.forEach((a, i) => { for (let k = 0; k < a; k++) p.addHave(i) })
    const wanted = Array.from({ length: n }, () => random() < 0.8)
    p.setWanted((i) => wanted[i]!)
    const have = Array.from({ length: n }, () => random() < 0.25)
    have.forEach((h, i) => { if (h) p.markHave(i) })
    // open some pieces, each by a helper peer that has only that piece; all but the last of its blocks requested
    const partial: number[] = []
    const free = new Map<number, number>()
    for (let i = 0; i < n; i++) {
      if (!wanted[i]! || have[i]! || random() > 0.3) continue
      const take = int(blocks + 1)
      if (take === 0) continue
      const picked = p.pick(peerOf(`h${i}`, ' '.repeat(i) + '*'), take)
      if (picked.length === 0 || picked[0]!.index !== i) { t.fail(`helper could not open piece ${i}`); continue }
      partial.push(i)
      free.set(i, blocks - picked.length)
    }
    const window = random() < 0.3 ? { start: int(n), length: 1 + int(4) } : null
    if (window !== null) p.setWindow(window.start, window.length)
    const peerHas = Array.from({ length: n }, () => random() < 0.7)
    const peer: PeerView = { id: 'p', has: (i) => peerHas[i]! }

    // reference: the set of pieces whose block may come first
    const legalNew = (i: number): boolean => wanted[i]! && !have[i]! && !partial.includes(i) && peerHas[i]!
    const rarest = (range: number[]): number[] => {
      const min = Math.min(...range.map((i) => availability[i]!))
      return range.filter((i) => availability[i] === min)
    }
    const all = Array.from({ length: n }, (_, i) => i)
    let allowed: number[]
    const started = partial.find((i) => free.get(i)! > 0 && peerHas[i]!)
    if (started !== undefined) {
      allowed = [started]
    } else {
      const inWindow = window === null ? [] : all.filter((i) => i >= window.start && i < window.start + window.length && legalNew(i))
      const haveCount = have.filter(Boolean).length
      if (inWindow.length > 0) allowed = rarest(inWindow)
      else if (window === null && haveCount + partial.length < initialRandomPieces) allowed = all.filter(legalNew)
      else allowed = all.filter(legalNew).length > 0 ? rarest(all.filter(legalNew)) : []
    }
    const unstarted = all.filter((i) => wanted[i]! && !have[i]! && !partial.includes(i)).length
    const anyFree = partial.some((i) => free.get(i)! > 0)
    const endgame = allowed.length === 0 && unstarted === 0 && !anyFree
    t.equal(p.endgame, unstarted === 0 && !anyFree, `run ${run}: endgame state`)

    const picked = p.pick(peer, 1)
    if (endgame) {
      if (picked.length > 0) t.ok(partial.includes(picked[0]!.index) && peerHas[picked[0]!.index]!, `run ${run}: endgame duplicate of a started piece`)
    } else if (allowed.length === 0) {
      t.same(picked, [], `run ${run}: nothing legal, nothing picked`)
    } else {
      t.ok(allowed.includes(firstPiece(picked)), `run ${run}: picked ${firstPiece(picked)} from ${JSON.stringify(allowed)}`)
    }
    checked++
  }
  t.equal(checked, 3000)
})

t.test('random swarm simulation keeps the picker\'s invariants and finishes', async (t) => {
  const random = seededRandom(99)
  const int = (n: number): number => Math.floor(random() * n)
  for (let run = 0; run < 60; run++) {
    const n = 1 + int(10)
    const pieceLength = (1 + int(3)) * BLOCK_LENGTH - int(2) * 100
    const lastPieceLength = 1 + int(pieceLength)
    const max = 1 + int(4)
    const p = new Picker({ pieceCount: n, pieceLength, lastPieceLength, maxEndgameRequesters: max, initialRandomPieces: int(3), random })
    const peers = Array.from({ length: 1 + int(5) }, (_, k) => {
      const has = Array.from({ length: n }, () => random() < 0.6)
      if (k === 0) has.fill(true) // someone has everything, so the download can finish
      p.addBitfield({ get: (i) => has[i]! })
      return { view: { id: `p${k}`, has: (i: number) => has[i]! }, outstanding: new Map<string, BlockRequest>() }
    })
    const received = new Set<string>()
    let steps = 0
    while (!p.done && steps++ < 20000) {
      const peer = peers[int(peers.length)]!
      const op = random()
      if (op < 0.4) {
        const blocks = p.pick(peer.view, 1 + int(4), { openNew: random() < 0.9 })
        for (const b of blocks) {
          const k = key(b)
          if (peer.outstanding.has(k)) t.fail(`${peer.view.id} asked twice for ${k}`)
          if (received.has(k)) t.fail(`${k} asked for after it arrived`)
          if (!peer.view.has(b.index)) t.fail(`${peer.view.id} does not have ${b.index}`)
          const others = peers.filter((q) => q.outstanding.has(k)).length
          // free blocks come first within one pick, so after a duplicate nothing may be free
          if (others > 0 && !p.endgame) t.fail(`${k} duplicated outside endgame`)
          if (others + 1 > max) t.fail(`${k} has ${others + 1} requesters, cap ${max}`)
          peer.outstanding.set(k, b)
        }
      } else if (op < 0.8 && peer.outstanding.size > 0) {
        const [k, b] = [...peer.outstanding][int(peer.outstanding.size)]!
        peer.outstanding.delete(k)
        const others = p.blockReceived(b.index, b.offset, peer.view.id)
        if (received.has(k)) {
          t.equal(others, null, `${k}: a second copy`)
          continue
        }
        if (others === null) { t.fail(`${k}: expected block refused`); continue }
        received.add(k)
        for (const id of others) peers.find((q) => q.view.id === id)!.outstanding.delete(k)
        if (p.pieceAssembled(b.index)) {
          if (random() < 0.1) {
            p.pieceFailed(b.index)
            for (const key of [...received]) if (key.startsWith(`${b.index}:`)) received.delete(key)
          } else {
            p.markHave(b.index)
          }
        }
      } else if (peer.outstanding.size > 0) {
        const [k, b] = [...peer.outstanding][int(peer.outstanding.size)]!
        peer.outstanding.delete(k)
        p.abandon(b.index, b.offset, peer.view.id)
      }
      const outstanding = new Set(peers.flatMap((q) => [...q.outstanding.keys()]).filter((k) => !received.has(k)))
      if (p.requestedBlocks !== outstanding.size) {
        t.fail(`run ${run} step ${steps}: requestedBlocks ${p.requestedBlocks}, outstanding ${outstanding.size}`)
        break
      }
    }
    t.ok(p.done, `run ${run}: finished in ${steps} steps`)
    t.equal(p.haveCount, n)
  }
})
