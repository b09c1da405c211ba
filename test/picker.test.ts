import t from 'tap'
import { Picker, PICKER_DEFAULTS, type BlockRequest, type PeerView } from '../lib/scheduler/picker.js'
import { createLedger, BlockState, PieceState, type PieceLedger } from '../lib/ledger.js'
import { BLOCK_LENGTH } from '../lib/geometry.js'
import { seededRandom } from './helpers/create-fixtures.js'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

// Scenarios are written libtorrent-style, one character per piece:
//   availability "2223333"  peers announcing each piece (digits)
//   have / peer  "* *    "  '*' where we (or the peer) have the piece

const BLOCKS = 2 // blocks per piece in the string-driven tests

function peerOf (id: string, has: string): PeerView {
  return { id, has: (i: number) => has[i] === '*' }
}

interface Scenario {
  availability: string
  have?: string
  random?: () => number
  initialRandomPieces?: number
  maxEndgameRequesters?: number
  blocks?: number
}

function setup (s: Scenario): { picker: Picker, ledger: PieceLedger } {
  const n = s.availability.length
  const pieceLength = (s.blocks ?? BLOCKS) * BLOCK_LENGTH
  const ledger = createLedger({ pieceCount: n, pieceLength, lastPieceLength: pieceLength })
  // availability k: k distinct peers announce the piece
  const max = Math.max(0, ...[...s.availability].map(Number))
  for (let k = 0; k < max; k++) for (let i = 0; i < n; i++) if (Number(s.availability[i]) > k) ledger.peerHave(`p${k}`, i)
  const have = s.have ?? ''
  for (let i = 0; i < n; i++) if (have[i] === '*') ledger.markWritten(i)
  const picker = new Picker(ledger, {
    initialRandomPieces: s.initialRandomPieces ?? 0,
    ...(s.maxEndgameRequesters !== undefined ? { maxEndgameRequesters: s.maxEndgameRequesters } : {}),
    random: s.random ?? seededRandom(1)
  })
  return { picker, ledger }
}

/** The piece of the first block picked, -1 when nothing. */
function firstPiece (blocks: BlockRequest[]): number {
  return blocks.length === 0 ? -1 : blocks[0]!.index
}

const key = (b: BlockRequest): string => `${b.index}:${b.offset}`

t.test('defaults are named in one place', async (t) => {
  t.same(PICKER_DEFAULTS, { initialRandomPieces: 4, maxEndgameRequesters: 3 })
})

t.test('rarest first: the least available piece the peer has is picked', async (t) => {
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
    const { picker } = setup({ availability: c.availability, have: c.have })
    t.equal(firstPiece(picker.pick(peerOf('a', c.peer), 1)), c.expected, `${c.availability} have "${c.have}" peer "${c.peer}"`)
  }
})

t.test('the chain, term by term: deadline, then priority, then started, then availability', async (t) => {
  const all = peerOf('a', '*****')
  // availability alone: piece 3 is rarest
  let { picker, ledger } = setup({ availability: '33313' })
  t.equal(firstPiece(picker.pick(all, 1)), 3, 'rarest')
  // started beats rarer: piece 1 open with a free block
  ;({ picker, ledger } = setup({ availability: '33313' }))
  ledger.open(1)
  t.equal(firstPiece(picker.pick(all, 1)), 1, 'a started piece before a rarer unstarted one')
  // priority beats started
  ledger.setPriority(4, 4, 4)
  t.equal(firstPiece(picker.pick(all, 1)), 4, 'a higher priority before a started piece')
  // deadline beats priority: the earliest deadline first
  ledger.setDeadline(0, 2000)
  ledger.setDeadline(2, 1000)
  t.equal(firstPiece(picker.pick(all, 1)), 2, 'the earliest deadline first')
  t.equal(firstPiece(picker.pick(all, 2)), 2, 'the rest of that piece next')
  t.equal(firstPiece(picker.pick(all, 1)), 0, 'then the next deadline')
  // priority 0 is never picked, whatever else
  ;({ picker, ledger } = setup({ availability: '11111' }))
  ledger.setPriority(0, 4, 0)
  ledger.setPriority(2, 2, 1)
  t.same(picker.pick(all, 10).map((b) => b.index), [2, 2], 'only the wanted piece')
})

t.test('random first pieces: while we hold fewer than initialRandomPieces, availability is not looked at', async (t) => {
  const seen = new Set<number>()
  for (let seed = 1; seed <= 200; seed++) {
    const { picker } = setup({ availability: '1999999', initialRandomPieces: 1, random: seededRandom(seed) })
    seen.add(firstPiece(picker.pick(peerOf('a', '*******'), 1)))
  }
  t.same([...seen].sort(), [0, 1, 2, 3, 4, 5, 6], 'every piece is chosen by some seed, not only the rarest')
  const { picker } = setup({ availability: '1999999', have: ' *     ', initialRandomPieces: 1, random: seededRandom(3) })
  t.equal(firstPiece(picker.pick(peerOf('a', '*******'), 1)), 0, 'with one piece held, rarest first again')
})

t.test('ties break at random: every equally rare piece is chosen under some seed', async (t) => {
  const counts = new Map<number, number>()
  for (let seed = 1; seed <= 300; seed++) {
    const { picker } = setup({ availability: '2212122', random: seededRandom(seed) })
    const p = firstPiece(picker.pick(peerOf('a', '*******'), 1))
    counts.set(p, (counts.get(p) ?? 0) + 1)
  }
  t.same([...counts.keys()].sort(), [2, 4], 'only the rarest ones')
  for (const [piece, n] of counts) t.ok(n > 100, `piece ${piece} chosen ${n} of 300 times`)
})

t.test('spareSeed: new pieces only among those no other peer has; started ones still finish', async (t) => {
  const { picker, ledger } = setup({ availability: '0102300' })
  const seed = peerOf('s', '*******')
  const seen = new Set<number>()
  for (let i = 0; i < 4; i++) seen.add(firstPiece(picker.pick(seed, BLOCKS, { spareSeed: true })))
  t.same([...seen].sort(), [0, 2, 5, 6], 'the four pieces nobody else has, one per pick')
  t.same(picker.pick(seed, BLOCKS, { spareSeed: true }), [], 'then nothing new')
  ledger.open(1)
  t.equal(firstPiece(picker.pick(seed, 1, { spareSeed: true })), 1, 'a started piece is finished from anyone')
})

t.test('maxNew bounds the pieces one pick opens', async (t) => {
  const { picker, ledger } = setup({ availability: '1111' })
  const a = peerOf('a', '****')
  t.equal(picker.pick(a, 100, { maxNew: 1 }).length, BLOCKS, 'one piece, its blocks')
  t.equal(ledger.openCount, 1)
  t.same(picker.pick(a, 100, { maxNew: 0 }), [], 'nothing free in the open piece, none may be opened')
  t.equal(picker.pick(a, 100, { maxNew: 2 }).length, 2 * BLOCKS)
})

t.test('an exclusive re-fetch (a piece that failed its hash) belongs to its first requester', async (t) => {
  const { picker, ledger } = setup({ availability: '12', blocks: 4 })
  ledger.open(0)
  for (let b = 0; b < 4; b++) { ledger.request(0, b, b % 2 === 0 ? 'x' : 'y'); ledger.receive(0, b, b % 2 === 0 ? 'x' : 'y') }
  ledger.markHashing(0)
  ledger.markInvalid(0, [0, 1, 2, 3].map((block) => ({ block, peer: block % 2 === 0 ? 'x' : 'y', digest: Buffer.alloc(20) })))
  const a = peerOf('a', '**')
  const b = peerOf('b', '**')
  const first = picker.pick(a, 1)
  t.equal(first[0]!.index, 0, 'the failed piece again (the rarest)')
  t.equal(ledger.owner(0), 'a')
  t.notOk(picker.pick(b, 8).some((r) => r.index === 0), 'another peer gets none of its blocks')
  t.equal(picker.pick(a, 8).filter((r) => r.index === 0).length, 3, 'its owner gets the rest')
})

t.test('endgame: blocks already requested are duplicated, fewest requesters first, at most maxEndgameRequesters', async (t) => {
  const { picker, ledger } = setup({ availability: '11', blocks: 2, maxEndgameRequesters: 3 })
  const a = peerOf('a', '**')
  const b = peerOf('b', '**')
  const c = peerOf('c', '**')
  const d = peerOf('d', '**')
  const asked = picker.pick(a, 4)
  t.equal(asked.length, 4)
  t.ok(ledger.endgame, 'every block asked for')
  const dup = picker.pick(b, 10)
  t.same(dup.map(key).sort(), asked.map(key).sort(), 'b duplicates all four')
  ledger.receive(0, 0, 'a')
  const third = picker.pick(c, 10)
  t.same(third.map(key).sort(), ['0:16384', '1:0', '1:16384'], 'c: not the received block')
  t.same(picker.pick(d, 10), [], 'three requesters each: no more')
  t.same(picker.pick(a, 10), [], 'a never duplicates its own request')
})

// ---- the picker against a brute-force reference on random states -------------------------------------------

interface Sample {
  ledger: PieceLedger
  picker: Picker
  peer: PeerView
  count: number
  maxNew: number
  spareSeed: boolean
  initialRandomPieces: number
}

function randomSample (seed: number): Sample {
  const random = seededRandom(seed)
  const pieces = 1 + Math.floor(random() * 24)
  const blocks = 1 + Math.floor(random() * 4)
  const pieceLength = blocks * BLOCK_LENGTH
  const ledger = createLedger({ pieceCount: pieces, pieceLength, lastPieceLength: Math.max(1, pieceLength - Math.floor(random() * BLOCK_LENGTH)) })
  const peers = Math.floor(random() * 5)
  for (let p = 0; p < peers; p++) {
    if (random() < 0.15) ledger.peerHaveAll(`p${p}`)
    else ledger.peerBitfield(`p${p}`, () => random() < 0.5)
  }
  for (let i = 0; i < pieces; i++) {
    const r = random()
    if (r < 0.15) ledger.setPriority(i, i, 0)
    else if (r < 0.3) ledger.setPriority(i, i, 1 + Math.floor(random() * 7))
    if (random() < 0.15) ledger.setDeadline(i, Math.floor(random() * 4) * 1000)
  }
  for (let i = 0; i < pieces; i++) {
    const r = random()
    if (r < 0.2) ledger.markWritten(i)
    else if (r < 0.45) {
      ledger.open(i)
      for (let b = 0; b < ledger.geometry.blocksIn(i); b++) {
        const s = random()
        if (s < 0.3) ledger.request(i, b, `p${Math.floor(random() * 3)}`)
        else if (s < 0.5) { ledger.request(i, b, 'p0'); ledger.receive(i, b, 'p0') }
      }
    }
  }
  const initialRandomPieces = Math.floor(random() * 3)
  const picker = new Picker(ledger, { random, initialRandomPieces, maxEndgameRequesters: 2 + Math.floor(random() * 2) })
  const has = Array.from({ length: pieces }, () => random() < 0.7)
  return {
    ledger,
    picker,
    peer: { id: 'me', has: (i) => has[i] === true },
    count: 1 + Math.floor(random() * 3 * blocks * pieces),
    maxNew: random() < 0.3 ? Infinity : Math.floor(random() * 3),
    spareSeed: random() < 0.2,
    initialRandomPieces
  }
}

/**
 * The reference: every candidate piece sorted by the chain written out as a sort key, blocks taken in that order;
 * then (in endgame) duplicates. Written from the module's doc comment, not from its code.
 */
function reference (s: Sample): string[] {
  const { ledger, picker, peer } = s
  const held = ledger.count(PieceState.Verified) + ledger.count(PieceState.Written) + ledger.count(PieceState.Hashing) + ledger.openCount
  const phase = held < s.initialRandomPieces
  const candidates: number[] = []
  for (let i = 0; i < ledger.pieceCount; i++) {
    if (ledger.priority(i) === 0 || !peer.has(i)) continue
    const state = ledger.state(i)
    if (state === PieceState.Assembling) {
      let free = 0
      for (let b = 0; b < ledger.geometry.blocksIn(i); b++) if (ledger.blockState(i, b) === BlockState.Free) free++
      if (free > 0) candidates.push(i)
    } else if (state === PieceState.Missing && (!s.spareSeed || ledger.partialAvailability(i) === 0)) {
      candidates.push(i)
    }
  }
  const sortKey = (i: number): number[] => [
    ledger.deadline(i),
    -ledger.priority(i),
    ledger.state(i) === PieceState.Assembling ? 0 : 1,
    phase ? 0 : ledger.availability(i),
    picker.key(i)
  ]
  const less = (a: number, b: number): number => {
    const ka = sortKey(a)
    const kb = sortKey(b)
    for (let k = 0; k < ka.length; k++) if (ka[k] !== kb[k]) return ka[k]! < kb[k]! ? -1 : 1
    return 0
  }
  candidates.sort(less)
  const out: string[] = []
  let opened = 0
  for (const i of candidates) {
    if (out.length >= s.count) break
    if (ledger.state(i) === PieceState.Missing) {
      if (opened >= s.maxNew) continue
      opened++
    }
    for (let b = 0; b < ledger.geometry.blocksIn(i) && out.length < s.count; b++) {
      if (ledger.blockState(i, b) !== BlockState.Free) continue
      out.push(`${i}:${b * BLOCK_LENGTH}`)
    }
  }
  return out
}

t.test('pick() equals the brute-force reference on 3000 random states (priorities, deadlines, open pieces)', async (t) => {
  let compared = 0
  for (let seed = 1; seed <= 3000; seed++) {
    const sample = randomSample(seed)
    const expected = reference(sample)
    const endgameBefore = sample.ledger.endgame
    const got = sample.picker.pick(sample.peer, sample.count, { maxNew: sample.maxNew, spareSeed: sample.spareSeed }).map(key)
    // the free blocks come first in the reference's order; duplicates (endgame) may follow them
    const head = got.slice(0, expected.length)
    if (head.join() !== expected.join()) {
      t.fail(`seed ${seed}: got ${got.join(' ')}, expected ${expected.join(' ')}`)
      break
    }
    if (got.length > expected.length && !(endgameBefore || sample.ledger.endgame)) {
      t.fail(`seed ${seed}: ${got.length - expected.length} duplicates outside endgame`)
      break
    }
    compared++
  }
  t.equal(compared, 3000, 'every state agreed')
})

t.test('the kept order follows the ledger: 40 runs of 150 picks between random changes agree with the reference', async (t) => {
  // The picker is made first, so every later change reaches its order of unstarted pieces only through the
  // ledger's rank notifications (lib/scheduler/piece-order.ts): a missed one shows as a pick the reference
  // does not make. Up to 300 pieces: several buckets of the order's tree.
  let compared = 0
  for (let seed = 1; seed <= 40; seed++) {
    const random = seededRandom(10_000 + seed)
    const pieces = 1 + Math.floor(random() * 300)
    const blocks = 1 + Math.floor(random() * 3)
    const pieceLength = blocks * BLOCK_LENGTH
    const ledger = createLedger({ pieceCount: pieces, pieceLength, lastPieceLength: pieceLength })
    const picker = new Picker(ledger, { random, initialRandomPieces: 0, maxEndgameRequesters: 2 })
    const any = (): number => Math.floor(random() * pieces)
    let failed = false
    for (let step = 0; step < 150 && !failed; step++) {
      for (let changes = Math.floor(random() * 4); changes > 0; changes--) {
        const r = random()
        const peer = `p${Math.floor(random() * 4)}`
        if (r < 0.3) ledger.peerHave(peer, any())
        else if (r < 0.38) ledger.peerBitfield(peer, () => random() < 0.4)
        else if (r < 0.43) ledger.peerHaveAll(peer)
        else if (r < 0.5) ledger.removePeer(peer)
        else if (r < 0.6) { const a = any(); ledger.setPriority(a, Math.min(pieces - 1, a + Math.floor(random() * 40)), Math.floor(random() * 8)) }
        else if (r < 0.65) { const i = any(); if (random() < 0.5) ledger.setDeadline(i, Math.floor(random() * 4) * 1000); else ledger.clearDeadline(i) }
        else if (r < 0.75) {
          const open = [...ledger.openPieces()]
          const i = open[Math.floor(random() * open.length)]
          if (i !== undefined) {
            const e = random()
            if (e < 0.4) ledger.markInvalid(i, [])
            else if (e < 0.7) { ledger.markHashing(i); ledger.markVerified(i) } else ledger.markWritten(i)
          }
        } else if (r < 0.85) ledger.abandonAll('me')
        else if (r < 0.9) ledger.markWritten(any())
      }
      const has = Array.from({ length: pieces }, () => random() < 0.8)
      const sample: Sample = {
        ledger, picker, peer: { id: 'me', has: (i) => has[i] === true },
        count: 1 + Math.floor(random() * 6),
        maxNew: random() < 0.3 ? Infinity : Math.floor(random() * 3),
        spareSeed: random() < 0.2,
        initialRandomPieces: 0
      }
      const expected = reference(sample)
      const got = picker.pick(sample.peer, sample.count, { maxNew: sample.maxNew, spareSeed: sample.spareSeed }).map(key)
      if (got.slice(0, expected.length).join() !== expected.join()) {
        t.fail(`seed ${seed} step ${step}: got ${got.join(' ')}, expected ${expected.join(' ')}`)
        failed = true
      }
      compared++
    }
  }
  t.equal(compared, 40 * 150, 'every pick agreed')
})

t.test('a piece made wanted is seen by a pick made from the interest it raises (the scheduler fills at once)', async (t) => {
  const ledger = createLedger({ pieceCount: 64, pieceLength: BLOCK_LENGTH, lastPieceLength: BLOCK_LENGTH })
  const picker = new Picker(ledger, { initialRandomPieces: 0 })
  ledger.setPriority(1, 63, 0) // only piece 0 wanted
  ledger.peerHave('x', 40)
  const peer: PeerView = { id: 'x', has: (i) => ledger.peerHas('x', i) }
  t.same(picker.pick(peer, 1), [], 'nothing the peer has is wanted')
  const picked: number[] = []
  ledger.onChange((c) => { if (c.type === 'interest' && c.interesting) picked.push(...picker.pick(peer, 1).map((b) => b.index)) })
  ledger.setPriority(40, 40, 1)
  t.same(picked, [40], 'the pick inside the interest event already sees piece 40')
})

t.test('the random phase does not scan every piece: a pick looks at a few pieces, not all 65,536', async (t) => {
  const pieces = 65_536
  const ledger = createLedger({ pieceCount: pieces, pieceLength: BLOCK_LENGTH, lastPieceLength: BLOCK_LENGTH })
  ledger.peerHaveAll('a')
  const picker = new Picker(ledger, { random: seededRandom(7), initialRandomPieces: 4 })
  let looked = 0
  const peer: PeerView = { id: 'a', has: () => { looked++; return true } }
  t.ok(picker.randomPhase)
  const first = picker.pick(peer, 1)
  t.equal(first.length, 1)
  t.ok(looked <= 4, `peer.has asked ${looked} times`)
  let smallest = 0
  for (let i = 1; i < pieces; i++) if (picker.key(i) < picker.key(smallest)) smallest = i
  t.equal(first[0]!.index, smallest, 'the piece of the smallest key, as the comparator chain says')
  // a higher priority elsewhere wins over the smallest key
  const high = (smallest + 12_345) % pieces
  ledger.setPriority(high, high, 7)
  looked = 0
  t.equal(picker.pick(peer, 1)[0]!.index, high, 'the highest priority first')
  t.ok(looked < pieces, `and still not every piece (${looked})`)
})

t.test('the random order: every piece once, distinct keys, not the index order; order \'index\' gives the index order', async (t) => {
  const pieces = 1000
  const ledger = createLedger({ pieceCount: pieces, pieceLength: BLOCK_LENGTH, lastPieceLength: BLOCK_LENGTH })
  const picker = new Picker(ledger, { random: seededRandom(3) })
  const keys = range(pieces).map((i) => picker.key(i))
  t.same([...keys].sort((a, b) => a - b), range(pieces), 'the keys are the places 0 … n-1, each once')
  const inPlace = keys.filter((k, i) => k === i).length
  t.ok(inPlace < 20, `a shuffle, not the index order (${inPlace} of ${pieces} in place)`)
  const twin = new Picker(ledger, { random: seededRandom(3) })
  const again = range(pieces).map((i) => twin.key(i))
  t.same(again, keys, 'the same random source, the same order')
  // each piece lands first about equally often over many draws (a biased shuffle would not)
  const small = createLedger({ pieceCount: 4, pieceLength: BLOCK_LENGTH, lastPieceLength: BLOCK_LENGTH })
  const random = seededRandom(11)
  const firsts = [0, 0, 0, 0]
  for (let k = 0; k < 4000; k++) {
    const drawn = new Picker(small, { random })
    firsts[range(4).find((i) => drawn.key(i) === 0)!]!++
  }
  t.ok(firsts.every((n) => n > 850 && n < 1150), `first places spread evenly: ${firsts.join(', ')}`)
  const ordered = new Picker(ledger, { random: seededRandom(3), order: 'index' })
  t.ok(range(pieces).every((i) => ordered.key(i) === i), "order 'index': the index order")
})
