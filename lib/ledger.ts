/**
 * The piece ledger: one structure that owns every per-piece fact of a download (in the role of libtorrent's
 * piece_picker). Stages report into it; the scheduler, the picker, the uploader and displays read it; nobody keeps a
 * shadow copy. Pure: no sockets, timers or disk.
 *
 * What it holds:
 * - geometry (lib/geometry.ts): piece and block sizes;
 * - priority per piece (0 = not wanted, 1 = normal … 7 = top) and optional deadlines (ms on the caller's clock);
 * - availability: how many connected peers announced each piece, with each peer's contribution kept (as a bit
 *   set, or "has all" for a seed) so a repeated bitfield, have-all after a bitfield, or a disconnect subtracts
 *   exactly what that peer added; and per peer how many pieces we still need it has (interest);
 * - block states of open pieces: free → requested (by whom; several peers only in endgame) → received (from whom);
 * - piece states: missing → assembling → hashing → verified → written (or back to missing when the hash fails);
 * - evidence of failed hash checks: which peer delivered each block of the failed attempt and a digest of it, so
 *   when the piece later verifies the peers whose blocks differed are known (libtorrent's smart ban). A piece that
 *   failed is re-fetched from one peer alone ("exclusive") until it verifies.
 *
 * Generations: a piece's generation grows each time its received blocks are thrown away (a failed hash, a banned
 * contributor). Blocks carry the generation they were received under, so one still travelling down the pipeline
 * after a reset is recognised as stale and dropped.
 *
 * One change notification: `onChange(listener)` receives every change as a typed record. Beside it, for an index
 * kept over the pieces (the picker's order of unstarted pieces), `onRankChange(listener)` is told the piece whose
 * state, priority or availability from peers other than seeds moved — a bare index, as a bitfield moves thousands.
 */
import { createGeometry, type GeometrySource, type PieceGeometry } from './geometry.js'

/** A piece's life: missing → assembling (open for requests) → hashing → verified → written. */
export const PieceState = { Missing: 0, Assembling: 1, Hashing: 2, Verified: 3, Written: 4 } as const
// eslint-disable-next-line @typescript-eslint/no-redeclare
export type PieceState = typeof PieceState[keyof typeof PieceState]
/** A block of an open piece: free → requested → received. */
export const BlockState = { Free: 0, Requested: 1, Received: 2 } as const
// eslint-disable-next-line @typescript-eslint/no-redeclare
export type BlockState = typeof BlockState[keyof typeof BlockState]

export const PRIORITY = { skip: 0, normal: 1, high: 4, top: 7 } as const

export type LedgerChange =
  | { readonly type: 'state', readonly index: number, readonly state: PieceState, readonly previous: PieceState }
  /** A piece's received blocks were thrown away (its generation grew). */
  | { readonly type: 'reset', readonly index: number, readonly generation: number }
  /** Priorities or deadlines changed (`index` -1: many pieces). */
  | { readonly type: 'priority', readonly index: number }
  /** A peer now has (or no longer has) pieces we need. */
  | { readonly type: 'interest', readonly peer: string, readonly interesting: boolean }
  /** A piece failed its hash check; these peers had sent its blocks. */
  | { readonly type: 'invalid', readonly index: number, readonly contributors: readonly string[] }
  /** A piece that had failed verified; these peers had sent blocks that differ from the good data. */
  | { readonly type: 'liars', readonly index: number, readonly peers: readonly string[] }
  /** Every wanted piece is verified (`written` false) or on disk (`written` true). */
  | { readonly type: 'complete', readonly written: boolean }

export type ChangeListener = (change: LedgerChange) => void

/** Who sent a block of a failed attempt, and a digest of what they sent. */
export interface BlockEvidence {
  readonly block: number
  readonly peer: string
  readonly digest: Buffer
}

interface PeerContribution {
  /** Bit set of announced pieces (null for a seed or a peer that announced nothing yet). */
  bits: Uint8Array | null
  seed: boolean
  /** Pieces announced (pieceCount for a seed). */
  announced: number
  /** Pieces announced that are wanted and not yet verified (only for non-seeds; seeds have `needed`). */
  interesting: number
}

class OpenPiece {
  readonly state: Uint8Array
  readonly requesters: Array<string[] | null>
  readonly deliveredBy: Array<string | null>
  free: number
  received = 0
  /** Re-fetched after a failed hash: one peer (the owner, the first to request) fetches all of it. */
  exclusive = false
  owner: string | null = null
  constructor (readonly index: number, blocks: number) {
    this.state = new Uint8Array(blocks)
    this.requesters = new Array<string[] | null>(blocks).fill(null)
    this.deliveredBy = new Array<string | null>(blocks).fill(null)
    this.free = blocks
  }
}

export interface LedgerOptions {
  blockLength?: number
}

export class PieceLedger {
  readonly geometry: PieceGeometry
  readonly pieceCount: number
  readonly #state: Uint8Array
  readonly #priority: Uint8Array
  readonly #deadlines: Map<number, number> = new Map()
  readonly #open: Map<number, OpenPiece> = new Map()
  readonly #generations: Map<number, number> = new Map()
  readonly #evidence: Map<number, BlockEvidence[]> = new Map()
  readonly #availability: Uint16Array
  #seeds = 0
  readonly #peers: Map<string, PeerContribution> = new Map()
  /** Replaced, never changed, when a listener comes or goes: an emit runs over the list as it was when it began,
   * without copying it (4–5 changes a piece, each copy an array: with 16 KiB pieces, ~8 % of what the main thread
   * allocated). */
  #listeners: readonly ChangeListener[] = []
  #rankListeners: ReadonlyArray<(index: number) => void> = []
  readonly #counts = [0, 0, 0, 0, 0]
  /** Wanted pieces not yet verified. */
  #needed = 0
  /** Wanted pieces verified but not yet written. */
  #unwritten = 0
  /** Wanted pieces in Missing state (not open). */
  #unstarted = 0
  #freeBlocks = 0
  #requestedBlocks = 0
  #wantedBytes = 0
  #writtenWantedBytes = 0
  #nonDefaultPriorities = 0
  #announcedVerified = false
  #announcedWritten = false

  constructor (source: GeometrySource, opts: LedgerOptions = {}) {
    this.geometry = createGeometry(source, opts.blockLength)
    this.pieceCount = this.geometry.pieceCount
    this.#state = new Uint8Array(this.pieceCount)
    this.#priority = new Uint8Array(this.pieceCount).fill(PRIORITY.normal)
    this.#availability = new Uint16Array(this.pieceCount)
    this.#counts[PieceState.Missing] = this.pieceCount
    this.#needed = this.pieceCount
    this.#unstarted = this.pieceCount
    this.#wantedBytes = this.geometry.length
  }

  onChange (listener: ChangeListener): () => void {
    if (!this.#listeners.includes(listener)) this.#listeners = [...this.#listeners, listener]
    return () => { this.#listeners = this.#listeners.filter((l) => l !== listener) }
  }

  /**
   * `listener(index)` after piece `index`'s state, priority or partial availability (peers other than seeds)
   * changed. Seeds are not reported: a seed adds the same to every piece.
   */
  onRankChange (listener: (index: number) => void): () => void {
    this.#rankListeners = [...this.#rankListeners, listener]
    return () => { this.#rankListeners = this.#rankListeners.filter((l) => l !== listener) }
  }

  #rankChanged (index: number): void {
    for (const listener of this.#rankListeners) listener(index)
  }

  #emit (change: LedgerChange): void {
    const listeners = this.#listeners
    for (let i = 0; i < listeners.length; i++) listeners[i]!(change)
  }

  // ---- wanted, priorities, deadlines -------------------------------------------------------------------

  priority (index: number): number { return this.#priority[index]! }
  wanted (index: number): boolean { return this.#priority[index]! > 0 }
  /** Deadline of a piece (ms on the caller's clock), or Infinity. */
  deadline (index: number): number { return this.#deadlines.get(index) ?? Infinity }
  /** Pieces with a deadline, in no particular order. */
  deadlines (): IterableIterator<[number, number]> { return this.#deadlines.entries() }
  /** How many pieces have a deadline. */
  get deadlineCount (): number { return this.#deadlines.size }
  /** Whether any piece has a priority other than normal or skip (the picker's fast path). */
  get hasRaisedPriorities (): boolean { return this.#nonDefaultPriorities > 0 }

  /** Set the priority of pieces `first..last` (inclusive). */
  setPriority (first: number, last: number, priority: number): void {
    const p = Math.max(0, Math.min(PRIORITY.top, Math.round(priority)))
    let changed = false
    for (let i = Math.max(0, first); i <= Math.min(this.pieceCount - 1, last); i++) {
      const before = this.#priority[i]!
      if (before === p) continue
      changed = true
      if (before > PRIORITY.normal) this.#nonDefaultPriorities--
      if (p > PRIORITY.normal) this.#nonDefaultPriorities++
      this.#priority[i] = p
      // the rank first: #wantedChanged emits 'interest', and a listener may pick at once (the scheduler's fill)
      this.#rankChanged(i)
      if ((before > 0) !== (p > 0)) this.#wantedChanged(i, p > 0)
    }
    if (changed) {
      this.#checkComplete()
      this.#emit({ type: 'priority', index: first === last ? first : -1 })
    }
  }

  setDeadline (index: number, at: number): void {
    if (this.#deadlines.get(index) === at) return
    this.#deadlines.set(index, at)
    this.#emit({ type: 'priority', index })
  }

  clearDeadline (index: number): void {
    if (this.#deadlines.delete(index)) this.#emit({ type: 'priority', index })
  }

  #wantedChanged (index: number, wanted: boolean): void {
    const d = wanted ? 1 : -1
    const size = this.geometry.pieceSize(index)
    const state = this.#state[index]!
    this.#wantedBytes += d * size
    if (state < PieceState.Verified) {
      if (state === PieceState.Missing) this.#unstarted += d
      this.#changeNeeded(d)
      for (const [id, peer] of this.#peers) {
        if (!peer.seed && peer.bits !== null && hasBit(peer.bits, index)) this.#addInterest(id, peer, d)
      }
    } else if (state === PieceState.Verified) {
      this.#unwritten += d
    } else {
      this.#writtenWantedBytes += d * size
    }
  }

  /** `needed` moves by `d`; a seed's interest is "we need anything": it flips when `needed` crosses zero. */
  #changeNeeded (d: number): void {
    const before = this.#needed
    this.#needed += d
    if ((before > 0) === (this.#needed > 0)) return
    for (const [id, p] of this.#peers) if (p.seed) this.#emit({ type: 'interest', peer: id, interesting: this.#needed > 0 })
  }

  // ---- availability ------------------------------------------------------------------------------------

  availability (index: number): number { return this.#availability[index]! + this.#seeds }
  /** Peers other than seeds that announced the piece. */
  partialAvailability (index: number): number { return this.#availability[index]! }
  get seedCount (): number { return this.#seeds }
  get peerCount (): number { return this.#peers.size }

  peerHas (peer: string, index: number): boolean {
    const p = this.#peers.get(peer)
    if (p === undefined) return false
    return p.seed || (p.bits !== null && hasBit(p.bits, index))
  }

  peerIsSeed (peer: string): boolean {
    const p = this.#peers.get(peer)
    return p !== undefined && (p.seed || p.announced === this.pieceCount)
  }

  peerAnnounced (peer: string): number { return this.#peers.get(peer)?.announced ?? 0 }

  /** How many pieces we still need that the peer has. */
  interesting (peer: string): number {
    const p = this.#peers.get(peer)
    if (p === undefined) return 0
    return p.seed ? this.#needed : p.interesting
  }

  /** A peer's bitfield: replaces whatever it announced before. */
  peerBitfield (peer: string, has: (index: number) => boolean): void {
    const before = this.interesting(peer)
    this.#uncount(peer)
    const p = this.#contribution(peer)
    const bits = new Uint8Array((this.pieceCount + 7) >> 3)
    let announced = 0
    let interesting = 0
    for (let i = 0; i < this.pieceCount; i++) {
      if (!has(i)) continue
      bits[i >> 3]! |= 0x80 >> (i & 7)
      announced++
      if (this.#availability[i]! < 0xffff) { this.#availability[i]!++; this.#rankChanged(i) }
      if (this.#isNeeded(i)) interesting++
    }
    p.bits = bits
    p.announced = announced
    p.interesting = interesting
    this.#interestMoved(peer, before)
  }

  peerHave (peer: string, index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) return
    const p = this.#contribution(peer)
    if (p.seed) return
    p.bits ??= new Uint8Array((this.pieceCount + 7) >> 3)
    if (hasBit(p.bits, index)) return // a repeat: counted once
    p.bits[index >> 3]! |= 0x80 >> (index & 7)
    p.announced++
    if (this.#availability[index]! < 0xffff) { this.#availability[index]!++; this.#rankChanged(index) }
    if (this.#isNeeded(index)) this.#addInterest(peer, p, 1)
  }

  peerHaveAll (peer: string): void {
    const before = this.interesting(peer)
    this.#uncount(peer)
    const p = this.#contribution(peer)
    p.seed = true
    p.announced = this.pieceCount
    this.#seeds++
    this.#interestMoved(peer, before)
  }

  peerHaveNone (peer: string): void {
    const before = this.interesting(peer)
    this.#uncount(peer)
    this.#contribution(peer)
    this.#interestMoved(peer, before)
  }

  /** The peer left: its availability is subtracted and its requests freed. */
  removePeer (peer: string): void {
    if (!this.#peers.has(peer)) return
    this.#uncount(peer)
    this.#peers.delete(peer)
    this.abandonAll(peer)
  }

  #contribution (peer: string): PeerContribution {
    let p = this.#peers.get(peer)
    if (p === undefined) {
      p = { bits: null, seed: false, announced: 0, interesting: 0 }
      this.#peers.set(peer, p)
    }
    return p
  }

  #uncount (peer: string): void {
    const p = this.#peers.get(peer)
    if (p === undefined) return
    if (p.seed) this.#seeds--
    if (p.bits !== null) {
      for (let i = 0; i < this.pieceCount; i++) {
        if (hasBit(p.bits, i) && this.#availability[i]! > 0) { this.#availability[i]!--; this.#rankChanged(i) }
      }
    }
    p.bits = null
    p.seed = false
    p.announced = 0
    p.interesting = 0
  }

  #isNeeded (index: number): boolean {
    return this.#priority[index]! > 0 && this.#state[index]! < PieceState.Verified
  }

  #addInterest (id: string, p: PeerContribution, d: number): void {
    const before = p.interesting
    p.interesting += d
    if ((before > 0) !== (p.interesting > 0)) this.#emit({ type: 'interest', peer: id, interesting: p.interesting > 0 })
  }

  #interestMoved (peer: string, before: number): void {
    const after = this.interesting(peer)
    if ((before > 0) !== (after > 0)) this.#emit({ type: 'interest', peer, interesting: after > 0 })
  }

  // ---- piece states ------------------------------------------------------------------------------------

  state (index: number): PieceState { return this.#state[index]! as PieceState }
  count (state: PieceState): number { return this.#counts[state]! }
  generation (index: number): number { return this.#generations.get(index) ?? 0 }
  /** Verified or written: never to be requested again. */
  have (index: number): boolean { return this.#state[index]! >= PieceState.Verified }
  /** On disk: what we announce and serve. */
  written (index: number): boolean { return this.#state[index]! === PieceState.Written }

  /** Wanted pieces not yet verified. */
  get needed (): number { return this.#needed }
  /** Pieces held in memory between the socket and the disk (assembling, hashing, verified but unwritten). */
  get heldPieces (): number {
    return this.#counts[PieceState.Assembling]! + this.#counts[PieceState.Hashing]! + this.#counts[PieceState.Verified]!
  }

  /** Pieces held that need no more input to be released (being hashed, verified but not yet written). */
  get releasingPieces (): number { return this.#counts[PieceState.Hashing]! + this.#counts[PieceState.Verified]! }
  /** Every wanted piece verified. */
  get verifiedAll (): boolean { return this.#needed === 0 }
  /** Every wanted piece on disk. */
  get complete (): boolean { return this.#needed === 0 && this.#unwritten === 0 }
  get wantedBytes (): number { return this.#wantedBytes }
  get writtenWantedBytes (): number { return this.#writtenWantedBytes }
  get wantedPieces (): number {
    let n = 0
    for (let i = 0; i < this.pieceCount; i++) if (this.#priority[i]! > 0) n++
    return n
  }

  get writtenWantedPieces (): number {
    let n = 0
    for (let i = 0; i < this.pieceCount; i++) if (this.#priority[i]! > 0 && this.#state[i] === PieceState.Written) n++
    return n
  }

  #setState (index: number, state: PieceState): void {
    const previous = this.#state[index]! as PieceState
    if (previous === state) return
    const wanted = this.#priority[index]! > 0
    this.#counts[previous]!--
    this.#counts[state]!++
    this.#state[index] = state
    if (wanted) {
      if (previous === PieceState.Missing) this.#unstarted--
      if (state === PieceState.Missing) this.#unstarted++
      if (previous < PieceState.Verified && state >= PieceState.Verified) this.#neededDone(index)
      if (previous === PieceState.Verified) this.#unwritten--
      if (state === PieceState.Verified) this.#unwritten++
      if (state === PieceState.Written) this.#writtenWantedBytes += this.geometry.pieceSize(index)
    }
    if (previous === PieceState.Missing || state === PieceState.Missing) this.#rankChanged(index)
    this.#emit({ type: 'state', index, state, previous })
  }

  #neededDone (index: number): void {
    this.#changeNeeded(-1)
    for (const [id, p] of this.#peers) {
      if (!p.seed && p.bits !== null && hasBit(p.bits, index)) this.#addInterest(id, p, -1)
    }
  }

  /** Emits 'complete' once each time every wanted piece becomes verified, and once each time they are all on disk. */
  #checkComplete (): void {
    const verified = this.#needed === 0
    const written = verified && this.#unwritten === 0
    if (verified && !this.#announcedVerified) this.#emit({ type: 'complete', written: false })
    if (written && !this.#announcedWritten) this.#emit({ type: 'complete', written: true })
    this.#announcedVerified = verified
    this.#announcedWritten = written
  }

  /** Every block arrived: the verifier is hashing it. */
  markHashing (index: number): void {
    this.#closeOpen(index)
    this.#setState(index, PieceState.Hashing)
  }

  /**
   * The piece passed its hash check. `blockDigests` (one per block, of the good data) is needed only when the
   * piece had failed before (`suspect`): the peers whose earlier blocks differ are reported as liars.
   */
  markVerified (index: number, blockDigests?: readonly Buffer[]): void {
    if (this.have(index)) return
    this.#closeOpen(index)
    this.#setState(index, PieceState.Verified)
    this.#checkComplete()
    const evidence = this.#evidence.get(index)
    if (evidence !== undefined) {
      this.#evidence.delete(index)
      if (blockDigests !== undefined) {
        const liars = new Set<string>()
        for (const e of evidence) {
          const good = blockDigests[e.block]
          if (good !== undefined && !good.equals(e.digest)) liars.add(e.peer)
        }
        if (liars.size > 0) this.#emit({ type: 'liars', index, peers: [...liars] })
      }
    }
  }

  /**
   * The piece failed its hash check: its blocks are thrown away and it is fetched again, from one peer alone.
   * `evidence` records who sent what; returns the peers that contributed.
   */
  markInvalid (index: number, evidence: readonly BlockEvidence[]): string[] {
    this.#closeOpen(index)
    const contributors = [...new Set(evidence.map((e) => e.peer))]
    // keep the first failed attempt's evidence with the most contributors: that is where a liar hides
    const before = this.#evidence.get(index)
    if (before === undefined || new Set(before.map((e) => e.peer)).size < contributors.length) this.#evidence.set(index, [...evidence])
    this.#bumpGeneration(index)
    this.#setState(index, PieceState.Missing)
    this.#emit({ type: 'invalid', index, contributors })
    return contributors
  }

  /** Whether the piece failed a hash check and has not verified since (it is re-fetched from one peer). */
  suspect (index: number): boolean { return this.#evidence.has(index) }

  /** The piece is on disk (the sink wrote it, or the resume check found it). */
  markWritten (index: number): void {
    if (this.#state[index] === PieceState.Written) return
    this.#closeOpen(index)
    this.#setState(index, PieceState.Written)
    this.#checkComplete()
  }

  /** Who delivered each received block of an open piece (null for blocks not received). */
  deliverers (index: number): ReadonlyArray<string | null> {
    return this.#open.get(index)?.deliveredBy ?? []
  }

  /**
   * Throw away an open piece's received blocks (a contributor was banned): they become free again, requests
   * still out stay out, and the generation grows so blocks still on their way are dropped.
   */
  resetPiece (index: number): void {
    const open = this.#open.get(index)
    if (open === undefined) return
    for (let b = 0; b < open.state.length; b++) {
      if (open.state[b] !== BlockState.Received) continue
      open.state[b] = BlockState.Free
      open.deliveredBy[b] = null
      open.free++
      open.received--
      this.#freeBlocks++
    }
    this.#bumpGeneration(index)
  }

  #bumpGeneration (index: number): void {
    const generation = this.generation(index) + 1
    this.#generations.set(index, generation)
    this.#emit({ type: 'reset', index, generation })
  }

  // ---- blocks of open pieces ---------------------------------------------------------------------------

  /** Open pieces, oldest first. */
  openPieces (): IterableIterator<number> { return this.#open.keys() }
  get openCount (): number { return this.#open.size }
  isOpen (index: number): boolean { return this.#open.has(index) }
  /** Wanted pieces neither open nor verified. */
  get unstarted (): number { return this.#unstarted }
  /** Blocks requested and not yet received (each block once, however many peers asked). */
  get requestedBlocks (): number { return this.#requestedBlocks }
  /** Every block of every wanted piece has been asked for at least once: duplicates may be requested. */
  get endgame (): boolean { return this.#unstarted === 0 && this.#freeBlocks === 0 && this.#needed > 0 }

  freeBlocks (index: number): number { return this.#open.get(index)?.free ?? 0 }
  receivedBlocks (index: number): number { return this.#open.get(index)?.received ?? 0 }
  /** The peer fetching an exclusive piece alone (null: anyone may). */
  owner (index: number): string | null { return this.#open.get(index)?.owner ?? null }
  /** Whether `peer` may request blocks of the open piece (an exclusive piece belongs to its first requester). */
  mayRequest (index: number, peer: string): boolean {
    const open = this.#open.get(index)
    return open !== undefined && (!open.exclusive || open.owner === null || open.owner === peer)
  }

  blockState (index: number, block: number): BlockState {
    const open = this.#open.get(index)
    if (open === undefined) return this.have(index) ? BlockState.Received : BlockState.Free
    return open.state[block]! as BlockState
  }

  requesters (index: number, block: number): readonly string[] {
    return this.#open.get(index)?.requesters[block] ?? []
  }

  /** Open a missing piece for requests (the picker does, when it chooses it). */
  open (index: number): void {
    if (this.#open.has(index) || this.#state[index] !== PieceState.Missing) return
    const open = new OpenPiece(index, this.geometry.blocksIn(index))
    open.exclusive = this.#evidence.has(index)
    this.#open.set(index, open)
    this.#freeBlocks += open.free
    this.#setState(index, PieceState.Assembling)
  }

  /** `peer` asked for a block. A free block becomes requested; a requested one gains a requester (endgame). */
  request (index: number, block: number, peer: string): void {
    const open = this.#open.get(index)
    if (open === undefined) return
    const state = open.state[block]
    if (state === BlockState.Received || state === undefined) return
    if (open.exclusive) {
      if (open.owner !== null && open.owner !== peer) return
      open.owner = peer
    }
    const list = open.requesters[block] ??= []
    if (list.includes(peer)) return
    list.push(peer)
    if (state === BlockState.Free) {
      open.state[block] = BlockState.Requested
      open.free--
      this.#freeBlocks--
      this.#requestedBlocks++
    }
  }

  /**
   * A block arrived from `peer`. Returns the other peers that had asked for it (to cancel), or null when it is not
   * expected (not open, already received): the caller drops the data.
   */
  receive (index: number, block: number, peer: string): string[] | null {
    const open = this.#open.get(index)
    if (open === undefined) return null
    const state = open.state[block]
    if (state === undefined || state === BlockState.Received) return null
    if (open.exclusive && open.owner !== peer) return null
    if (state === BlockState.Free) {
      open.free--
      this.#freeBlocks--
    } else {
      this.#requestedBlocks--
    }
    open.state[block] = BlockState.Received
    open.deliveredBy[block] = peer
    open.received++
    const others = (open.requesters[block] ?? []).filter((id) => id !== peer)
    open.requesters[block] = null
    return others
  }

  /** A request will not be answered (choke, reject, timeout, disconnect): the block is free unless others asked. */
  abandon (index: number, block: number, peer: string): void {
    const open = this.#open.get(index)
    if (open === undefined || open.state[block] !== BlockState.Requested) return
    const list = open.requesters[block]
    if (list !== null && list !== undefined) {
      const at = list.indexOf(peer)
      if (at >= 0) list.splice(at, 1)
    }
    if (list === null || list === undefined || list.length === 0) {
      open.requesters[block] = null
      open.state[block] = BlockState.Free
      open.free++
      this.#freeBlocks++
      this.#requestedBlocks--
    }
    if (open.owner === peer && !this.#requestsFrom(open, peer) && open.received === 0) open.owner = null
  }

  /** Every request `peer` has outstanding is abandoned (it disconnected, was snubbed or banned). */
  abandonAll (peer: string): void {
    for (const open of this.#open.values()) {
      for (let b = 0; b < open.state.length; b++) {
        if (open.state[b] === BlockState.Requested && open.requesters[b]?.includes(peer) === true) this.abandon(open.index, b, peer)
      }
      if (open.owner === peer) {
        open.owner = null
        // an exclusive fetch is only evidence if one peer sent every block: start it over with the next peer
        if (open.received > 0) this.resetPiece(open.index)
      }
    }
  }

  #requestsFrom (open: OpenPiece, peer: string): boolean {
    for (let b = 0; b < open.state.length; b++) if (open.requesters[b]?.includes(peer) === true) return true
    return false
  }

  #closeOpen (index: number): void {
    const open = this.#open.get(index)
    if (open === undefined) return
    this.#freeBlocks -= open.free
    for (let b = 0; b < open.state.length; b++) if (open.state[b] === BlockState.Requested) this.#requestedBlocks--
    this.#open.delete(index)
  }
}

function hasBit (bits: Uint8Array, index: number): boolean {
  return (bits[index >> 3]! & (0x80 >> (index & 7))) !== 0
}

export function createLedger (source: GeometrySource, opts?: LedgerOptions): PieceLedger {
  return new PieceLedger(source, opts)
}
