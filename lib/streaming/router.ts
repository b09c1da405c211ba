/**
 * Request routing for pieces with deadlines (libtorrent's `request_time_critical_pieces`, simplified): which
 * peer asks for a piece a reader needs soon, and when a late piece is asked of a second peer. The scheduler
 * (lib/scheduler/scheduler.ts) calls `route` each time it tops a peer's queue up; pieces without a deadline are
 * left to the picker's ordinary chain (priority window, rarest-first), so the swarm keeps trading.
 *
 * For peer p (one that lets us request) at time `now`:
 *   rate(q)    = q's measured download rate, at least `minPeerRate`; `unknownPeerRate` while it has none
 *   queue(q)   = outstanding bytes at q / rate(q)                         (its expected queue time)
 *   eta(q, i)  = now + queue(q) + bytes of piece i not yet received / rate(q)
 * 1. Urgent pieces: p is offered the pieces with a deadline that it has, earliest deadline first (the picker's
 *    chain, spareSeed off: an urgent piece may come from a seed), unless p is slow for the piece: eta(p, i) is past
 *    the deadline and another peer q that has it would deliver sooner (eta(q, i) < eta(p, i)). A slow peer is
 *    skipped; the best one available is never skipped, even when the piece will be late (somebody must fetch it).
 *    A seed is skipped as well when a peer that is not a seed has the piece and would deliver it in time: a seed's
 *    upload is what the whole swarm shares, and viewers at the same place all want the same urgent pieces (sent to
 *    each of them by the seed, the swarm's copies stop differing: sequential's failure). A skipped piece is hidden
 *    from p's ordinary pick too, so p spends its queue on rarest-first pieces instead.
 *    p takes at most `urgentBlocksPerPeer` blocks of one urgent piece per fill when another peer that has it would
 *    deliver it in time too, so the blocks of a piece due soon are fetched from several peers at once (libtorrent picks time-critical blocks one by one, each from the peer
 *    with the shortest queue): a piece from a peer that sends 70 KiB/s takes a second, its halves from two half that.
 *    When p takes an urgent piece its queue would make late (eta(p, i) past the deadline), the route asks for
 *    `preempt`: the scheduler cancels p's outstanding requests for pieces without a deadline, which a peer serves
 *    in order ahead of ours (a 16-request queue at a peer sending 100 KiB/s is 2.5 s of waiting); they go back to
 *    the picker and are asked again, behind the urgent ones.
 * 2. Late duplicates: a piece whose deadline has passed (by `lateAfter` ms; −500: half a second before it) and whose outstanding blocks are asked
 *    of fewer than `maxRequesters` peers is asked of p as well — at most `maxLatePieces` such pieces (earliest
 *    first), and only when p is not slower than the peers already asked (queue(p) ≤ queue(q) × `duplicateSlack`).
 *    The first copy wins; the scheduler cancels the others (ledger.receive names them).
 * Cost: O(deadline pieces × peers) per fill, only while deadlines exist; none otherwise.
 */
import { BlockState, type PieceLedger } from '../ledger.js'
import type { BlockRequest, PeerView, Picker } from '../scheduler/picker.js'

export interface RouterOptions {
  /** Bytes/s assumed for a peer with no measured rate yet (nothing asked of it, or just connected). */
  unknownPeerRate: number
  /** Bytes/s a measured rate is taken to be at least. */
  minPeerRate: number
  /** ms past its deadline before a piece is duplicated to a second peer (negative: that long before it, when it has not come). */
  lateAfter: number
  /** Peers asked for one block of a late piece at most. */
  maxRequesters: number
  /** Late pieces duplicated at once (the earliest). */
  maxLatePieces: number
  /** A duplicate goes to p only if p's queue time is at most this multiple of the current requester's. */
  duplicateSlack: number
  /** Blocks of one urgent piece one peer is asked for per fill. */
  urgentBlocksPerPeer: number
}

export const ROUTER_DEFAULTS: Readonly<RouterOptions> = Object.freeze({
  unknownPeerRate: 64 * 1024,
  minPeerRate: 8 * 1024,
  lateAfter: -500,
  maxRequesters: 2,
  maxLatePieces: 2,
  duplicateSlack: 1,
  urgentBlocksPerPeer: 2
})

/** What the router needs of a peer (the scheduler's PeerState provides it). */
export interface RoutedPeer extends PeerView {
  /** Bytes/s it delivers to us. */
  readonly rate: number
  /** Bytes we asked of it and have not received. */
  readonly outstandingBytes: number
  /** It has every piece. */
  readonly seed: boolean
}

export interface Route {
  /** Blocks of urgent pieces and duplicates of late ones, already marked requested in the ledger. */
  readonly blocks: BlockRequest[]
  /** The view the ordinary picker gets for p: deadline pieces routed to other peers hidden. */
  readonly view: PeerView
  /** Cancel p's outstanding requests for pieces without a deadline: they would hold the urgent ones back. */
  readonly preempt: boolean
}

/** The scheduler's hook (SchedulerOptions.router). */
export interface RequestRouter {
  route: (peer: RoutedPeer, peers: () => Iterable<RoutedPeer>, count: number, maxNew: number, now: number) => Route
}

export class DeadlineRouter implements RequestRouter {
  readonly #ledger: PieceLedger
  readonly #picker: Picker
  readonly #opts: RouterOptions

  constructor (ledger: PieceLedger, picker: Picker, opts: Partial<RouterOptions> = {}) {
    this.#ledger = ledger
    this.#picker = picker
    this.#opts = { ...ROUTER_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) }
  }

  route (peer: RoutedPeer, peers: () => Iterable<RoutedPeer>, count: number, maxNew: number, now: number): Route {
    const ledger = this.#ledger
    const deadlines = [...ledger.deadlines()].filter(([i]) => ledger.wanted(i) && !ledger.have(i))
    if (deadlines.length === 0 || count <= 0) return { blocks: [], view: peer, preempt: false }
    const others = [...peers()].filter((q) => q.id !== peer.id)
    const mine = this.#eta(peer, now)
    const verdict = new Map<number, boolean>()
    /** Urgent pieces routed here that p's queue would make late. */
    const lateHere = new Set<number>()
    /** Whether p may fetch deadline piece i (it has it, and is not a slow peer for it). */
    const routedHere = (i: number): boolean => {
      let ok = verdict.get(i)
      if (ok !== undefined) return ok
      const deadline = ledger.deadline(i)
      const remaining = this.#remaining(i)
      const own = mine(remaining)
      const spareSeed = peer.seed && others.some((q) => !q.seed && q.has(i) && this.#eta(q, now)(remaining) <= deadline)
      ok = !spareSeed && (own <= deadline || !others.some((q) => q.has(i) && this.#eta(q, now)(remaining) < own))
      if (ok && own > deadline) lateHere.add(i)
      verdict.set(i, ok)
      return ok
    }
    const blocks: BlockRequest[] = []
    // 2. late duplicates first: they are the most urgent
    const late = deadlines.filter(([i, at]) => at + this.#opts.lateAfter < now && ledger.isOpen(i) && peer.has(i) && ledger.mayRequest(i, peer.id))
      .sort((a, b) => a[1] - b[1]).slice(0, this.#opts.maxLatePieces)
    for (const [i] of late) this.#duplicate(peer, i, others, count, blocks)
    // 1. urgent pieces routed here, earliest deadline first (the picker's chain: deadline is its first term)
    // one block at a time, at most urgentBlocksPerPeer of a piece: the rest of it is for the next peers' fills
    const taken = new Map<number, number>()
    const shared = new Map<number, boolean>()
    /** Another peer that has piece i would deliver it in time: p leaves it some of the blocks. */
    const sharedWith = (i: number): boolean => {
      let ok = shared.get(i)
      if (ok === undefined) {
        const remaining = this.#remaining(i)
        ok = others.some((q) => q.has(i) && this.#eta(q, now)(remaining) <= ledger.deadline(i))
        shared.set(i, ok)
      }
      return ok
    }
    const urgent: PeerView = {
      id: peer.id,
      has: (i) => ledger.deadline(i) !== Infinity && peer.has(i) && routedHere(i) &&
        ((taken.get(i) ?? 0) < this.#opts.urgentBlocksPerPeer || !sharedWith(i))
    }
    let opened = 0
    while (blocks.length < count) {
      const open = ledger.openCount
      const [block] = this.#picker.pick(urgent, 1, { maxNew: Math.max(0, maxNew - opened) })
      if (block === undefined) break
      opened += ledger.openCount - open
      taken.set(block.index, (taken.get(block.index) ?? 0) + 1)
      blocks.push(block)
    }
    const view: PeerView = { id: peer.id, has: (i) => peer.has(i) && (ledger.deadline(i) === Infinity || routedHere(i)) }
    const preempt = peer.outstandingBytes > 0 && blocks.some((b) => lateHere.has(b.index))
    return { blocks, view, preempt }
  }

  /** eta(q, ·) as a function of the bytes still to fetch. */
  #eta (q: RoutedPeer, now: number): (bytes: number) => number {
    const rate = this.#rate(q)
    const queue = q.outstandingBytes * 1000 / rate
    return (bytes) => now + queue + bytes * 1000 / rate
  }

  #rate (q: RoutedPeer): number {
    return q.rate > 0 ? Math.max(q.rate, this.#opts.minPeerRate) : this.#opts.unknownPeerRate
  }

  #queue (q: RoutedPeer): number {
    return q.outstandingBytes / this.#rate(q)
  }

  /** Bytes of piece `index` not yet received. */
  #remaining (index: number): number {
    const geometry = this.#ledger.geometry
    const received = this.#ledger.receivedBlocks(index)
    return Math.max(0, geometry.pieceSize(index) - received * geometry.blockLength)
  }

  /** Ask p for the blocks of late piece i that others are fetching, when p is not slower than they are. */
  #duplicate (peer: RoutedPeer, index: number, others: readonly RoutedPeer[], count: number, out: BlockRequest[]): void {
    const ledger = this.#ledger
    const geometry = ledger.geometry
    const byId = new Map(others.map((q) => [q.id, q]))
    const mine = this.#queue(peer)
    for (let b = 0; b < geometry.blocksIn(index) && out.length < count; b++) {
      if (ledger.blockState(index, b) !== BlockState.Requested) continue
      const requesters = ledger.requesters(index, b)
      if (requesters.includes(peer.id) || requesters.length >= this.#opts.maxRequesters) continue
      const fastest = Math.min(...requesters.map((id) => { const q = byId.get(id); return q === undefined ? Infinity : this.#queue(q) }))
      if (mine > fastest * this.#opts.duplicateSlack) continue
      ledger.request(index, b, peer.id)
      out.push({ index, offset: b * geometry.blockLength, length: geometry.blockSize(index, b) })
    }
  }
}
