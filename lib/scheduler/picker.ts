/**
 * The piece picker: which blocks to ask a peer for next, as an ordering over the ledger (lib/ledger.ts). It holds
 * no state of its own but a random tie-break key per piece; every fact it orders by is the ledger's.
 *
 * Order of pieces — one comparator chain, each term deciding only when the ones before tie (anacrolix's
 * `pieceOrderLess`, libtorrent's priority buckets):
 *   1. deadline, earliest first (streaming readers set them; pieces without one come after);
 *   2. priority, highest first (file priorities, a reader's window);
 *   3. started before unstarted (finish what holds memory before opening more);
 *   4. availability, rarest first — except while we hold fewer than `initialRandomPieces`, when a random piece is
 *      better (BitTorrent's "random first piece": something to trade soon);
 *   5. a random key per piece (a fixed random permutation, drawn once from `random`), so ties break at random
 *      but the order stays total and repeatable.
 * A new priority (a file, a streaming deadline) is a new term here, not a branch in the scheduler.
 *
 * Candidates: wanted pieces the peer has, missing or open with free blocks, that the peer may request (an
 * exclusive re-fetch belongs to one peer). Options narrow them: `maxNew` bounds how many unstarted pieces may be
 * opened (the scheduler's memory budget), `spareSeed` keeps a seed to pieces no other peer offers.
 * Endgame (ledger.endgame: every wanted block asked for): a peer may ask for blocks already requested from others,
 * fewest requesters first, at most `maxEndgameRequesters` per block; the first copy wins and the scheduler cancels
 * the rest.
 *
 * Cost: choosing a new piece is a query of the order of unstarted pieces (lib/scheduler/piece-order.ts), kept
 * as the ledger reports rank changes: terms 2, 4 and 5 as one value per piece (term 3 is moot among unstarted
 * pieces; seeds add the same availability to every piece, so only other peers' counts move it). Pieces with a
 * deadline are looked at first, one by one; during the random phase, a walk in key order that stops at the first
 * candidate of the highest priority.
 */
import { BlockState, PRIORITY, PieceState, type PieceLedger } from '../ledger.js'
import { PieceOrder } from './piece-order.js'
import type { BlockRequest } from '../wire/messages.js'

export interface PickerOptions {
  /** Random pieces opened before rarest-first takes over. */
  initialRandomPieces?: number
  /** Requesters of one block at most, in endgame. */
  maxEndgameRequesters?: number
  random?: () => number
  /** 'index': the tie-break keys are the piece indexes, not a random permutation (the sequential policy, tests). */
  order?: 'random' | 'index'
}

export const PICKER_DEFAULTS = {
  initialRandomPieces: 4,
  maxEndgameRequesters: 3
} as const

export type { BlockRequest }

/** What the picker needs to know about a peer. */
export interface PeerView {
  readonly id: string
  /** Whether we may ask this peer for the piece now (it has it; while it chokes us, only allowed-fast pieces). */
  has: (index: number) => boolean
}

export interface PickOptions {
  /** Unstarted pieces that may be opened by this call at most (default unbounded). */
  maxNew?: number
  /** Open only pieces no peer but seeds has (sparing a seed's upload; see Scheduler). */
  spareSeed?: boolean
}

export class Picker {
  readonly ledger: PieceLedger
  readonly #initialRandomPieces: number
  readonly #maxEndgameRequesters: number
  /** The random tie-break: a key per piece. */
  readonly #key: Uint32Array
  /** The pieces in (key, index) order: the random phase walks it (see #bestNew). */
  readonly #byKey: Uint32Array
  /** Unstarted wanted pieces by (priority, availability from non-seeds, key): see piece-order.ts. */
  readonly #order: PieceOrder

  constructor (ledger: PieceLedger, opts: PickerOptions = {}) {
    this.ledger = ledger
    this.#initialRandomPieces = opts.initialRandomPieces ?? PICKER_DEFAULTS.initialRandomPieces
    this.#maxEndgameRequesters = opts.maxEndgameRequesters ?? PICKER_DEFAULTS.maxEndgameRequesters
    const { key, byKey } = opts.order === 'index' ? indexOrder(ledger.pieceCount) : randomOrder(ledger.pieceCount, opts.random ?? Math.random)
    this.#key = key
    this.#byKey = byKey
    this.#order = new PieceOrder(ledger.pieceCount, (i) => this.#rank(i))
    ledger.onRankChange((i) => this.#order.changed(i))
  }

  /**
   * An unstarted wanted piece's place in terms 2, 4 and 5 of the chain as one number (smaller first; exact in a
   * double: 3 + 16 + 32 bits); Infinity for every other piece.
   */
  #rank (index: number): number {
    const ledger = this.ledger
    const priority = ledger.priority(index)
    if (priority === 0 || ledger.state(index) !== PieceState.Missing) return Infinity
    return ((PRIORITY.top - priority) * 0x10000 + ledger.partialAvailability(index)) * 0x100000000 + this.#key[index]!
  }

  /** The random tie-break key of a piece (for tests). */
  key (index: number): number { return this.#key[index]! }

  /** Whether the availability term is skipped (random first pieces). */
  get randomPhase (): boolean {
    const ledger = this.ledger
    return ledger.count(PieceState.Verified) + ledger.count(PieceState.Written) + ledger.count(PieceState.Hashing) +
      ledger.openCount < this.#initialRandomPieces
  }

  /** The comparator chain: negative when piece `a` should be picked before `b`. */
  compare (a: number, b: number, randomPhase = this.randomPhase): number {
    const ledger = this.ledger
    return byDeadline(ledger.deadline(a), ledger.deadline(b)) ||
      ledger.priority(b) - ledger.priority(a) ||
      Number(ledger.isOpen(b)) - Number(ledger.isOpen(a)) ||
      (randomPhase ? 0 : ledger.availability(a) - ledger.availability(b)) ||
      this.#key[a]! - this.#key[b]!
  }

  /** Whether piece `index` may be picked for `peer` (before ordering). */
  candidate (peer: PeerView, index: number, opts: PickOptions = {}): boolean {
    const ledger = this.ledger
    if (!ledger.wanted(index) || !peer.has(index)) return false
    const state = ledger.state(index)
    if (state === PieceState.Assembling) return ledger.freeBlocks(index) > 0 && ledger.mayRequest(index, peer.id)
    if (state !== PieceState.Missing) return false
    if ((opts.maxNew ?? Infinity) <= 0) return false
    return opts.spareSeed !== true || ledger.partialAvailability(index) === 0
  }

  /**
   * Up to `count` blocks for this peer to request, marked as requested by it in the ledger (pieces opened as
   * needed). Order: the comparator chain over candidates, free blocks of each piece in order; then, in endgame,
   * duplicates.
   */
  pick (peer: PeerView, count: number, opts: PickOptions = {}): BlockRequest[] {
    const picked: BlockRequest[] = []
    if (count <= 0) return picked
    const ledger = this.ledger
    const randomPhase = this.randomPhase
    const open: number[] = []
    for (const index of ledger.openPieces()) if (this.candidate(peer, index)) open.push(index)
    open.sort((a, b) => this.compare(a, b, randomPhase))
    let maxNew = opts.maxNew ?? Infinity
    // With only default priorities and no deadlines, every open piece comes before every unstarted one (term 3),
    // so the scan for a new piece can wait until the open ones are used up.
    const urgent = ledger.hasRaisedPriorities || ledger.deadlineCount > 0
    let next: number | null = null
    let scanned = false
    let o = 0
    while (picked.length < count) {
      if (!scanned && maxNew > 0 && (urgent || o >= open.length)) {
        next = this.#bestNew(peer, { ...opts, maxNew }, randomPhase)
        scanned = true
      }
      let index: number
      if (o < open.length && (next === null || this.compare(open[o]!, next, randomPhase) < 0)) {
        index = open[o++]!
      } else if (next !== null) {
        index = next
        ledger.open(index)
        maxNew--
        next = null
        scanned = false
      } else {
        break
      }
      this.#takeFree(index, peer.id, count, picked)
    }
    if (picked.length < count && ledger.endgame) this.#pickEndgame(peer, count, picked)
    return picked
  }

  /** The best unstarted candidate, or null. */
  #bestNew (peer: PeerView, opts: PickOptions, randomPhase: boolean): number | null {
    const ledger = this.ledger
    if (ledger.unstarted === 0 || (opts.maxNew ?? Infinity) <= 0) return null
    let best = -1
    const consider = (i: number): void => {
      if (ledger.state(i) !== PieceState.Missing || !this.candidate(peer, i, opts)) return
      if (best < 0 || this.compare(i, best, randomPhase) < 0) best = i
    }
    // deadlines first: a piece with one beats every piece without (term 1)
    for (const [i] of ledger.deadlines()) consider(i)
    if (best >= 0) return best
    if (randomPhase) {
      // among unstarted candidates without a deadline the chain is priority, then key: walk the pieces in key
      // order and stop at the first candidate of the highest priority any unstarted piece has (a full scan with
      // the comparator cost ~20 ms a pick with 65,536 pieces, before the first request)
      let top = 0
      for (let i = 0; i < ledger.pieceCount; i++) {
        const p = ledger.priority(i)
        if (p > top && ledger.state(i) === PieceState.Missing) top = p
      }
      let bestPriority = 0
      for (let place = 0; place < this.#byKey.length && bestPriority < top; place++) {
        const i = this.#byKey[place]!
        const p = ledger.priority(i)
        if (p <= bestPriority || ledger.state(i) !== PieceState.Missing || !this.candidate(peer, i, opts)) continue
        best = i
        bestPriority = p
      }
    } else {
      // every candidate left has no deadline: the kept order decides (same result as the scan)
      best = this.#order.best((i) => this.candidate(peer, i, opts))
    }
    return best < 0 ? null : best
  }

  #takeFree (index: number, peerId: string, count: number, out: BlockRequest[]): void {
    const ledger = this.ledger
    const geometry = ledger.geometry
    const blocks = geometry.blocksIn(index)
    for (let b = 0; b < blocks && out.length < count; b++) {
      if (ledger.blockState(index, b) !== BlockState.Free) continue
      ledger.request(index, b, peerId)
      out.push({ index, offset: b * geometry.blockLength, length: geometry.blockSize(index, b) })
    }
  }

  #pickEndgame (peer: PeerView, count: number, out: BlockRequest[]): void {
    const ledger = this.ledger
    const geometry = ledger.geometry
    const open = [...ledger.openPieces()].filter((i) => ledger.wanted(i) && peer.has(i) && ledger.mayRequest(i, peer.id))
    // fewest requesters first: one pass per requester count
    for (let limit = 1; limit < this.#maxEndgameRequesters && out.length < count; limit++) {
      for (const index of open) {
        const blocks = geometry.blocksIn(index)
        for (let b = 0; b < blocks; b++) {
          if (out.length >= count) return
          if (ledger.blockState(index, b) !== BlockState.Requested) continue
          const requesters = ledger.requesters(index, b)
          if (requesters.length !== limit || requesters.includes(peer.id)) continue
          ledger.request(index, b, peer.id)
          out.push({ index, offset: b * geometry.blockLength, length: geometry.blockSize(index, b) })
        }
      }
    }
  }
}

function byDeadline (a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1
}

/**
 * A random permutation of the pieces (`byKey`, a Fisher–Yates shuffle) and each piece's place in it (`key`): the
 * order of distinct random keys, drawn in one pass. Drawing 32-bit keys and sorting them (four 8-bit radix passes)
 * took ~11 ms of the start-up with 32,768 pieces, most of it before V8 had compiled the loops (`--cpu-prof`).
 */
function indexOrder (n: number): { key: Uint32Array, byKey: Uint32Array } {
  const key = new Uint32Array(n)
  for (let i = 0; i < n; i++) key[i] = i
  return { key, byKey: key.slice() }
}

function randomOrder (n: number, random: () => number): { key: Uint32Array, byKey: Uint32Array } {
  const byKey = new Uint32Array(n)
  for (let i = 0; i < n; i++) byKey[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1))) // a `random` of exactly 1 stays in range
    const t = byKey[i]!
    byKey[i] = byKey[j]!
    byKey[j] = t
  }
  const key = new Uint32Array(n)
  for (let place = 0; place < n; place++) key[byKey[place]!] = place
  return { key, byKey }
}
