import t from 'tap'
import { createChoker, CHOKER_DEFAULTS, type ChokerPeer, type ChokeDecision } from '../lib/choker.js'
import { seededRandom } from './helpers/create-fixtures.js'

const S = 1000 // ms per second

function peer (id: string, fields: Partial<ChokerPeer> = {}): ChokerPeer {
  return { id, interested: true, downloadRate: 0, uploadRate: 0, connectedAt: -3600 * S, lastPieceReceivedAt: 0, ...fields }
}

const sorted = (set: Set<string>): string[] => [...set].sort()
const never = (): number => { throw new Error('random() must not be called here') }

t.test('defaults are the ones BEP 3, libtorrent and the original client use', async (t) => {
  t.same(createChoker().options, {
    regularSlots: 4, rechokeInterval: 10 * S, optimisticInterval: 30 * S, snubTimeout: 60 * S, newPeerAge: 30 * S, newPeerWeight: 3
  })
  t.throws(() => createChoker({ regularSlots: -1 }), RangeError)
  t.throws(() => createChoker({ newPeerWeight: 0.5 }), RangeError)
})

t.test('leeching: the four interested peers that give us the most get the regular slots, round by round', async (t) => {
  const choker = createChoker()
  // Scripted download rates (bytes/s to us) for six peers over four rounds, 10 s apart.
  const script: Array<Record<string, number>> = [
    { a: 500, b: 400, c: 300, d: 200, e: 100, f: 0 },
    { a: 100, b: 400, c: 300, d: 200, e: 900, f: 0 },
    { a: 100, b: 0, c: 0, d: 50, e: 900, f: 800 },
    { a: 7, b: 6, c: 5, d: 4, e: 3, f: 2 }
  ]
  const expected = [['a', 'b', 'c', 'd'], ['b', 'c', 'd', 'e'], ['a', 'd', 'e', 'f'], ['a', 'b', 'c', 'd']]
  script.forEach((rates, round) => {
    const now = round * 10 * S
    const peers = Object.entries(rates).map(([id, rate]) => peer(id, { downloadRate: rate, lastPieceReceivedAt: now }))
    const decision = choker.rechoke(peers, { now, seeding: false, random: () => 0 })
    t.same(sorted(decision.regular), expected[round], `round ${round}`)
    t.ok(decision.optimistic !== null && !decision.regular.has(decision.optimistic), 'an optimistic peer outside the regular set')
    t.same(sorted(decision.unchoke), [...expected[round], decision.optimistic].sort(), 'unchoke = regular ∪ optimistic')
  })
})

t.test('the optimistic slot rotates every third rechoke (30 s), not before', async (t) => {
  const choker = createChoker()
  const random = seededRandom(7)
  const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map((id, i) => peer(id, { downloadRate: 1000 - i }))
  let last: string | null = null
  for (let round = 0; round < 10; round++) {
    const now = round * 10 * S
    const fresh = peers.map((p) => ({ ...p, lastPieceReceivedAt: now }))
    const decision = choker.rechoke(fresh, { now, seeding: false, random })
    t.same(sorted(decision.regular), ['a', 'b', 'c', 'd'])
    t.not(decision.optimistic, null)
    if (round % 3 === 0) t.not(decision.optimistic, last, `round ${round}: a new optimistic peer`)
    else t.equal(decision.optimistic, last, `round ${round}: the same optimistic peer`)
    last = decision.optimistic
  }
})

t.test('the optimistic draw sees every candidate and favours new peers 3 to 1', async (t) => {
  const random = seededRandom(42)
  const now = 1000 * S
  // Four fast peers fill the regular slots; candidates: two new (connected 5 s ago) and four old.
  const peers = [
    ...['r1', 'r2', 'r3', 'r4'].map((id) => peer(id, { downloadRate: 10_000, lastPieceReceivedAt: now })),
    ...['n1', 'n2'].map((id) => peer(id, { connectedAt: now - 5 * S, lastPieceReceivedAt: null })),
    ...['o1', 'o2', 'o3', 'o4'].map((id) => peer(id, { lastPieceReceivedAt: now }))
  ]
  const counts = new Map<string, number>()
  const draws = 30_000
  for (let i = 0; i < draws; i++) {
    const { optimistic } = createChoker().rechoke(peers, { now, seeding: false, random })
    counts.set(String(optimistic), (counts.get(String(optimistic)) ?? 0) + 1)
  }
  t.same([...counts.keys()].sort(), ['n1', 'n2', 'o1', 'o2', 'o3', 'o4'], 'every candidate seen, no regular peer drawn')
  const perNew = ((counts.get('n1') ?? 0) + (counts.get('n2') ?? 0)) / 2
  const perOld = ['o1', 'o2', 'o3', 'o4'].reduce((sum, id) => sum + (counts.get(id) ?? 0), 0) / 4
  const ratio = perNew / perOld
  t.ok(ratio > 2.6 && ratio < 3.4, `new/old ≈ 3 (got ${ratio.toFixed(2)})`)
  // Expected shares: 3/10 for each new peer, 1/10 for each old one.
  t.ok(Math.abs(perNew / draws - 0.3) < 0.02 && Math.abs(perOld / draws - 0.1) < 0.02, 'shares ≈ 0.3 and 0.1')
})

t.test('a snubbing peer loses its regular slot but may still be the optimistic unchoke', async (t) => {
  const choker = createChoker({ regularSlots: 2 })
  const now = 200 * S
  const peers = [
    peer('fast-but-silent', { downloadRate: 9999, lastPieceReceivedAt: now - 60 * S }), // exactly snubTimeout
    peer('never-sent', { downloadRate: 0, connectedAt: now - 61 * S, lastPieceReceivedAt: null }),
    peer('x', { downloadRate: 10, lastPieceReceivedAt: now - 59 * S }),
    peer('y', { downloadRate: 5, lastPieceReceivedAt: now })
  ]
  const decision = choker.rechoke(peers, { now, seeding: false, random: () => 0 })
  t.same(sorted(decision.snubbed), ['fast-but-silent', 'never-sent'])
  t.same(sorted(decision.regular), ['x', 'y'])
  t.equal(decision.optimistic, 'fast-but-silent', 'snubbed peers stay in the optimistic draw')
  t.same(sorted(decision.unchoke), ['fast-but-silent', 'x', 'y'])

  // A new peer that has not had time to send anything is not snubbed.
  const young = choker.rechoke([peer('young', { connectedAt: now - 10 * S, lastPieceReceivedAt: null })], { now, seeding: false, random: () => 0 })
  t.same(sorted(young.snubbed), [])
  t.same(sorted(young.regular), ['young'])
})

t.test('seeding: rank by the rate we upload at, never unchoke seeds, snub nobody', async (t) => {
  const choker = createChoker({ regularSlots: 2 })
  const now = 500 * S
  const peers = [
    peer('a', { uploadRate: 100, downloadRate: 5000, lastPieceReceivedAt: null }),
    peer('b', { uploadRate: 300, downloadRate: 0, lastPieceReceivedAt: null }),
    peer('c', { uploadRate: 200, downloadRate: 0, lastPieceReceivedAt: null }),
    peer('seed', { uploadRate: 900, isSeed: true, lastPieceReceivedAt: null }),
    peer('bored', { uploadRate: 800, interested: false, lastPieceReceivedAt: null })
  ]
  const decision = choker.rechoke(peers, { now, seeding: true, random: () => 0.99 })
  t.same(sorted(decision.regular), ['b', 'c'])
  t.equal(decision.optimistic, 'a', 'the only candidate left')
  t.same(sorted(decision.snubbed), [])
  t.notOk(decision.unchoke.has('seed'))
  t.notOk(decision.unchoke.has('bored'))
})

t.test('uninterested peers never take a slot, however fast', async (t) => {
  const choker = createChoker()
  const peers = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => peer(id, { interested: false, downloadRate: 1e9, uploadRate: 1e9 }))
  for (const seeding of [false, true]) {
    const decision = choker.rechoke([...peers, peer('slow', { downloadRate: 1, lastPieceReceivedAt: 0 })], { now: 0, seeding, random: Math.random })
    t.same(sorted(decision.unchoke), ['slow'])
    t.equal(decision.optimistic, null, 'nobody left for the optimistic slot')
  }
  const none = choker.rechoke([], { now: 0, seeding: false, random: never })
  t.same([none.unchoke.size, none.regular.size, none.snubbed.size, none.optimistic], [0, 0, 0, null])
})

t.test('ties keep the peers already unchoked, then go by id', async (t) => {
  const choker = createChoker({ regularSlots: 2 })
  const ids = ['a', 'b', 'c', 'd']
  const first = choker.rechoke(ids.map((id) => peer(id, { downloadRate: id === 'c' || id === 'd' ? 10 : 0 })), { now: 0, seeding: false, random: () => 0 })
  t.same(sorted(first.regular), ['c', 'd'])
  // All equal now: c and d keep their slots rather than a and b taking them by id.
  const second = choker.rechoke(ids.map((id) => peer(id)), { now: 10 * S, seeding: false, random: () => 0 })
  t.same(sorted(second.regular), ['c', 'd'])
  const fresh = createChoker({ regularSlots: 2 }).rechoke(ids.map((id) => peer(id)), { now: 0, seeding: false, random: () => 0 })
  t.same(sorted(fresh.regular), ['a', 'b'], 'with no history, by id')
})

t.test('the optimistic peer is replaced at once when it earns a regular slot, loses interest or leaves', async (t) => {
  const choker = createChoker({ regularSlots: 1 })
  const base = [peer('a', { downloadRate: 100 }), peer('b'), peer('c')]
  let d = choker.rechoke(base, { now: 0, seeding: false, random: () => 0 })
  t.same([sorted(d.regular), d.optimistic], [['a'], 'b'])
  d = choker.rechoke([peer('a'), peer('b', { downloadRate: 500 }), peer('c')], { now: 10 * S, seeding: false, random: () => 0 })
  t.same([sorted(d.regular), d.optimistic], [['b'], 'a'], 'b earned the regular slot; a drawn instead')
  d = choker.rechoke([peer('a', { interested: false }), peer('b', { downloadRate: 500 }), peer('c')], { now: 20 * S, seeding: false, random: () => 0 })
  t.same([sorted(d.regular), d.optimistic], [['b'], 'c'], 'a lost interest')
  d = choker.rechoke([peer('b', { downloadRate: 500 }), peer('a')], { now: 25 * S, seeding: false, random: () => 0 })
  t.same([sorted(d.regular), d.optimistic], [['b'], 'a'], 'c left')
  d = choker.rechoke([peer('b', { downloadRate: 500 }), peer('a')], { now: 30 * S, seeding: false, random: never })
  t.equal(d.optimistic, 'a', 'kept: only 5 s old')
  d = choker.rechoke([peer('b', { downloadRate: 500 }), peer('a')], { now: 55 * S, seeding: false, random: () => 0.5 })
  t.equal(d.optimistic, 'a', 'due to rotate, but the only candidate keeps it')
})

// --- brute-force reference ------------------------------------------------------------------------------------

/** Better-for-a-slot relation written out plainly (rate, then held a slot before, then id). */
function better (a: ChokerPeer, b: ChokerPeer, seeding: boolean, held: Set<string>): boolean {
  const ra = seeding ? a.uploadRate : a.downloadRate
  const rb = seeding ? b.uploadRate : b.downloadRate
  if (ra !== rb) return ra > rb
  if (held.has(a.id) !== held.has(b.id)) return held.has(a.id)
  return a.id < b.id
}

function subsets<T> (items: T[], k: number): T[][] {
  if (k === 0) return [[]]
  if (items.length < k) return []
  const [head, ...tail] = items
  return [...subsets(tail, k - 1).map((s) => [head, ...s]), ...subsets(tail, k)]
}

function reference (peers: ChokerPeer[], now: number, seeding: boolean, slots: number, held: Set<string>): { regular: string[], snubbed: string[] } {
  const snubbed = seeding ? [] : peers.filter((p) => now - (p.lastPieceReceivedAt ?? p.connectedAt) >= 60 * S).map((p) => p.id)
  const eligible = peers.filter((p) => p.interested && !(seeding && p.isSeed === true) && !snubbed.includes(p.id))
  // The regular set is the unique subset of the right size that no outsider beats any insider.
  const winners = subsets(eligible, Math.min(slots, eligible.length)).filter((set) =>
    set.every((inside) => eligible.every((outside) => set.includes(outside) || !better(outside, inside, seeding, held))))
  if (winners.length !== 1) throw new Error(`reference found ${winners.length} regular sets`)
  return { regular: winners[0].map((p) => p.id).sort(), snubbed: snubbed.sort() }
}

t.test('random small swarms agree with a brute-force reference, round after round', async (t) => {
  const random = seededRandom(2024)
  const pick = (n: number): number => Math.floor(random() * n)
  let checked = 0
  for (let swarm = 0; swarm < 300; swarm++) {
    const slots = pick(4) + 1
    const choker = createChoker({ regularSlots: slots })
    let held = new Set<string>()
    let previous: ChokeDecision | null = null
    let optimisticSince = 0
    for (let round = 0; round < 8; round++) {
      const now = 100 * S + round * 10 * S
      const seeding = random() < 0.3
      const n = pick(7)
      const peers: ChokerPeer[] = []
      for (let i = 0; i < n; i++) {
        peers.push({
          id: `p${pick(9)}${i}`,
          interested: random() < 0.75,
          downloadRate: pick(4) * 100, // few distinct values: ties are common
          uploadRate: pick(4) * 100,
          connectedAt: now - pick(120) * S,
          lastPieceReceivedAt: random() < 0.2 ? null : now - pick(90) * S,
          isSeed: random() < 0.15
        })
      }
      const decision = choker.rechoke(peers, { now, seeding, random })
      const want = reference(peers, now, seeding, slots, held)
      t.same(sorted(decision.regular), want.regular)
      t.same(sorted(decision.snubbed), want.snubbed)
      const candidates = peers.filter((p) => p.interested && !(seeding && p.isSeed === true) && !decision.regular.has(p.id)).map((p) => p.id)
      if (candidates.length === 0) t.equal(decision.optimistic, null)
      else t.ok(decision.optimistic !== null && candidates.includes(decision.optimistic), 'optimistic among the candidates')
      const prior = previous?.optimistic ?? null
      const due = prior === null || !candidates.includes(prior) || now - optimisticSince >= 30 * S
      if (!due) t.equal(decision.optimistic, prior, 'kept within its 30 s')
      else {
        optimisticSince = now
        if (prior !== null && candidates.length > 1) t.not(decision.optimistic, prior, 'rotated away when others wait')
      }
      t.same(sorted(decision.unchoke), [...decision.regular, ...(decision.optimistic === null ? [] : [decision.optimistic])].sort())
      held = decision.regular
      previous = decision
      checked++
    }
  }
  t.equal(checked, 2400)
})

t.test('CHOKER_DEFAULTS is frozen', async (t) => {
  t.ok(Object.isFrozen(CHOKER_DEFAULTS))
})
