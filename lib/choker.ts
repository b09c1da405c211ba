/**
 * The choker: which peers we upload to (BEP 3 "Choking and optimistic unchoking"; the original client's
 * Choker.py and libtorrent's `choker.cpp`, fastest-upload flavour when seeding). Pure: no timers, no sockets;
 * the caller runs `rechoke` every `rechokeInterval` and passes the clock and the randomness in `ctx`.
 *
 * The algorithm, one call to `rechoke(peers, { now, seeding, random })`:
 *
 * 1. Snubbed (only while leeching): a peer that has sent us no piece data for `snubTimeout` — counted from its
 *    last piece, or from when it connected if it never sent one — is snubbed. It loses any regular slot (it is
 *    not reciprocating, so the slot goes to someone who is) but may still be picked as the optimistic unchoke,
 *    which is how it gets a fresh chance. While seeding nobody is snubbed: we expect nothing from anyone.
 * 2. Eligible for a slot: interested peers (an uninterested peer would not use the slot), not snubbed, and,
 *    while seeding, not seeds (a seed wants nothing from us, even if it claims interest).
 * 3. Regular slots: the `regularSlots` eligible peers ranked best by the comparator chain
 *      leeching: download rate (bytes/s they give us) descending — tit-for-tat;
 *      seeding:  upload rate (bytes/s we give them) descending — the peers that can take data fastest;
 *      then peers that held a regular slot after the previous rechoke first (hysteresis: with equal rates we do
 *      not swap peers back and forth, which BEP 3 calls fibrillation);
 *      then peer id ascending (a total, stable order, so results are exact and testable).
 * 4. The optimistic unchoke: one interested (and, while seeding, non-seed) peer outside the regular set,
 *    snubbed peers included. The current one is kept until `optimisticInterval` has passed since it was chosen
 *    (every 3rd rechoke with the defaults); it is replaced at once if it left, lost interest, or earned a
 *    regular slot (then it no longer needs the optimistic one). The replacement is drawn at random, weighted:
 *    a peer connected less than `newPeerAge` ago weighs `newPeerWeight` (3), others 1 — the original client's
 *    "new connections are three times as likely to start as the optimistic unchoke", because a new peer has
 *    nothing to trade yet and this is its only way in. The outgoing optimistic peer is not re-drawn when
 *    anyone else qualifies, so the slot actually rotates. Candidates are ordered by id before the draw so the
 *    same `random` values give the same choice.
 * 5. Everyone not in `unchoke` (regular ∪ optimistic) is choked.
 *
 * Uninterested peers are never unchoked here. (The original client also unchoked uninterested peers with good
 * rates so they would be ready on becoming interested; we leave that out — an interest change is followed by
 * the next rechoke at most `rechokeInterval` later, and it keeps the number of unchoked peers predictable.)
 */

/** The tunables, with the values libtorrent and the original client use. Durations in milliseconds. */
export interface ChokerOptions {
  /** Upload slots given by rate (BEP 3 / the original client: 4). */
  regularSlots: number
  /** How often the caller should run `rechoke` (BEP 3: every ten seconds). Informational for the caller. */
  rechokeInterval: number
  /** How long an optimistic unchoke lasts before rotating (BEP 3: every 30 s, i.e. every 3rd rechoke). */
  optimisticInterval: number
  /** No piece data for this long while we leech → snubbed (libtorrent: 60 s). */
  snubTimeout: number
  /** A peer connected for less than this is "new" for the optimistic draw (three rechoke rounds). */
  newPeerAge: number
  /** How much likelier a new peer is to be drawn for the optimistic slot (the original client: 3). */
  newPeerWeight: number
}

export const CHOKER_DEFAULTS: Readonly<ChokerOptions> = Object.freeze({
  regularSlots: 4,
  rechokeInterval: 10_000,
  optimisticInterval: 30_000,
  snubTimeout: 60_000,
  newPeerAge: 30_000,
  newPeerWeight: 3
})

export interface ChokerPeer {
  readonly id: string
  /** The peer is interested in what we have (it would use an unchoke). */
  readonly interested: boolean
  /** Bytes/s we receive from this peer. */
  readonly downloadRate: number
  /** Bytes/s we send to this peer. */
  readonly uploadRate: number
  /** When the connection was made (same clock as `ctx.now`). */
  readonly connectedAt: number
  /** When the last piece data arrived from this peer, or null if none ever did. */
  readonly lastPieceReceivedAt: number | null
  /** The peer has every piece. */
  readonly isSeed?: boolean
}

export interface ChokeContext {
  readonly now: number
  /** We have every piece (rank by upload rate, no snubbing, seeds not unchoked). */
  readonly seeding: boolean
  /** Uniform in [0, 1), like Math.random. */
  readonly random: () => number
}

export interface ChokeDecision {
  /** Peers to unchoke: the regular set plus the optimistic one. Everyone else is choked. */
  readonly unchoke: Set<string>
  /** The peers holding a regular (rate-ranked) slot. */
  readonly regular: Set<string>
  /** The optimistic unchoke, if any peer qualified. */
  readonly optimistic: string | null
  /** Peers snubbing us (always empty while seeding). */
  readonly snubbed: Set<string>
}

export interface Choker {
  readonly options: Readonly<ChokerOptions>
  rechoke: (peers: readonly ChokerPeer[], ctx: ChokeContext) => ChokeDecision
}

export function createChoker (opts: Partial<ChokerOptions> = {}): Choker {
  const options: Readonly<ChokerOptions> = Object.freeze({ ...CHOKER_DEFAULTS, ...opts })
  if (!Number.isInteger(options.regularSlots) || options.regularSlots < 0) {
    throw new RangeError(`regularSlots must be a non-negative integer, got ${options.regularSlots}`)
  }
  if (!(options.newPeerWeight >= 1)) throw new RangeError(`newPeerWeight must be ≥ 1, got ${options.newPeerWeight}`)

  // State owned by this choker (one per torrent): the optimistic unchoke and when it was chosen, and the
  // previous regular set for the hysteresis tie-break.
  let optimistic: string | null = null
  let optimisticSince = 0
  let previousRegular = new Set<string>()

  function rechoke (peers: readonly ChokerPeer[], ctx: ChokeContext): ChokeDecision {
    const { now, seeding } = ctx
    const snubbed = new Set<string>()
    if (!seeding) {
      for (const peer of peers) if (isSnubbed(peer, now, options.snubTimeout)) snubbed.add(peer.id)
    }
    const wanting = peers.filter((peer) => peer.interested && !(seeding && peer.isSeed === true))
    const eligible = wanting.filter((peer) => !snubbed.has(peer.id))
    const ranked = eligible.sort(compareForSlot(seeding, previousRegular))
    const regular = new Set(ranked.slice(0, options.regularSlots).map((peer) => peer.id))

    const candidates = wanting.filter((peer) => !regular.has(peer.id))
    const current = optimistic === null ? undefined : candidates.find((peer) => peer.id === optimistic)
    if (current === undefined || now - optimisticSince >= options.optimisticInterval) {
      const others = candidates.filter((peer) => peer.id !== optimistic)
      const pool = others.length > 0 ? others : candidates
      optimistic = drawOptimistic(pool, now, options, ctx.random)
      optimisticSince = now
    }

    previousRegular = regular
    const unchoke = new Set(regular)
    if (optimistic !== null) unchoke.add(optimistic)
    return { unchoke, regular: new Set(regular), optimistic, snubbed }
  }

  return { options, rechoke }
}

export function isSnubbed (peer: ChokerPeer, now: number, snubTimeout: number): boolean {
  return now - (peer.lastPieceReceivedAt ?? peer.connectedAt) >= snubTimeout
}

/** The comparator chain for regular slots: best first (see step 3 at the top). */
export function compareForSlot (seeding: boolean, previousRegular: ReadonlySet<string>) {
  return (a: ChokerPeer, b: ChokerPeer): number => {
    const rate = seeding ? b.uploadRate - a.uploadRate : b.downloadRate - a.downloadRate
    if (rate !== 0) return rate
    const held = Number(previousRegular.has(b.id)) - Number(previousRegular.has(a.id))
    if (held !== 0) return held
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  }
}

/** Weighted draw: new peers weigh `newPeerWeight`, others 1; candidates in id order so a draw is repeatable. */
function drawOptimistic (pool: readonly ChokerPeer[], now: number, options: ChokerOptions, random: () => number): string | null {
  if (pool.length === 0) return null
  const sorted = [...pool].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const weights = sorted.map((peer) => (now - peer.connectedAt < options.newPeerAge ? options.newPeerWeight : 1))
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  let point = random() * total
  for (let i = 0; i < sorted.length; i++) {
    point -= weights[i]
    if (point < 0) return sorted[i].id
  }
  // random() returned ~1 and rounding left point at 0: the last candidate.
  return sorted[sorted.length - 1].id
}
