/**
 * The piece picker: which blocks to ask a peer for next. A passive structure fed by events, as in libtorrent:
 * bitfield / have / have-all raise a piece's availability, a disconnect lowers it, `pick(peer, n)` returns
 * blocks. No sockets, no disk, no timers; randomness is passed in, so tests are exact.
 *
 * Order of pieces — a comparator chain (as anacrolix's request strategy):
 *   1. pieces already started, oldest first (finish what is open before opening more: "strict priority");
 *   2. pieces inside the streaming window (when one is set), rarest first;
 *   3. while we hold fewer than `initialRandomPieces`, a random piece the peer has (something to trade soon,
 *      BitTorrent's "random first piece");
 *   4. every other wanted piece, rarest first, ties broken at random (reservoir sampling over the scan).
 * Endgame: when no wanted piece has a block nobody asked for, a peer may ask for blocks already requested from
 * others (fewest requesters first); the first copy to arrive wins and the scheduler cancels the rest.
 *
 * Cost: opening a new piece scans every piece once (O(pieces)); it happens once per piece, not per block.
 */

/** BEP 3: requests are for 16 KiB blocks; every client accepts this size. */
export const BLOCK_LENGTH = 16384

export interface PickerOptions {
  pieceCount: number
  pieceLength: number
  lastPieceLength: number
  blockLength?: number
  /** Random pieces opened before rarest-first takes over. */
  initialRandomPieces?: number
  /** Requesters of one block at most, in endgame. */
  maxEndgameRequesters?: number
  random?: () => number
}

export const PICKER_DEFAULTS = {
  blockLength: BLOCK_LENGTH,
  initialRandomPieces: 4,
  maxEndgameRequesters: 3
} as const

export interface BlockRequest {
  readonly index: number
  readonly offset: number
  readonly length: number
}

/** What the picker needs to know about a peer. */
export interface PeerView {
  readonly id: string
  has: (index: number) => boolean
}

export interface BitfieldLike {
  get: (index: number) => boolean
}

const FREE = 0
const REQUESTED = 1
const RECEIVED = 2

class PartialPiece {
  readonly state: Uint8Array
  /** Who asked for each requested block (more than one only in endgame). */
  readonly requesters: Map<number, Set<string>> = new Map()
  free: number
  received = 0

  constructor (readonly index: number, blocks: number) {
    this.state = new Uint8Array(blocks)
    this.free = blocks
  }

  get complete (): boolean { return this.received === this.state.length }
}

export class Picker {
  readonly pieceCount: number
  readonly pieceLength: number
  readonly lastPieceLength: number
  readonly blockLength: number
  readonly #initialRandomPieces: number
  readonly #maxEndgameRequesters: number
  readonly #random: () => number

  /** Peers that announced a piece, not counting seeds (those are #seeds, added to every piece). */
  readonly #availability: Uint16Array
  #seeds = 0
  readonly #have: Uint8Array
  #haveCount = 0
  readonly #wanted: Uint8Array
  /** Wanted pieces we neither have nor have started: when 0 and no partial has a free block, it is endgame. */
  #unstarted = 0
  #wantedMissing = 0
  readonly #partial: Map<number, PartialPiece> = new Map()
  #window: { start: number, end: number } | null = null

  constructor (opts: PickerOptions) {
    this.pieceCount = opts.pieceCount
    this.pieceLength = opts.pieceLength
    this.lastPieceLength = opts.lastPieceLength
    this.blockLength = opts.blockLength ?? PICKER_DEFAULTS.blockLength
    this.#initialRandomPieces = opts.initialRandomPieces ?? PICKER_DEFAULTS.initialRandomPieces
    this.#maxEndgameRequesters = opts.maxEndgameRequesters ?? PICKER_DEFAULTS.maxEndgameRequesters
    this.#random = opts.random ?? Math.random
    this.#availability = new Uint16Array(this.pieceCount)
    this.#have = new Uint8Array(this.pieceCount)
    this.#wanted = new Uint8Array(this.pieceCount).fill(1)
    this.#unstarted = this.pieceCount
    this.#wantedMissing = this.pieceCount
  }

  // ---- piece geometry -------------------------------------------------------------------------------

  pieceSize (index: number): number {
    return index === this.pieceCount - 1 ? this.lastPieceLength : this.pieceLength
  }

  blocksIn (index: number): number {
    return Math.ceil(this.pieceSize(index) / this.blockLength)
  }

  blockSize (index: number, block: number): number {
    return Math.min(this.blockLength, this.pieceSize(index) - block * this.blockLength)
  }

  // ---- availability (fed by peers' bitfield / have / have-all, and disconnects) -----------------------

  availability (index: number): number { return this.#availability[index]! + this.#seeds }

  addSeed (): void { this.#seeds++ }
  removeSeed (): void { this.#seeds = Math.max(0, this.#seeds - 1) }

  addBitfield (bits: BitfieldLike): void {
    for (let i = 0; i < this.pieceCount; i++) if (bits.get(i)) this.#availability[i]!++
  }

  removeBitfield (bits: BitfieldLike): void {
    for (let i = 0; i < this.pieceCount; i++) if (bits.get(i) && this.#availability[i]! > 0) this.#availability[i]!--
  }

  addHave (index: number): void { this.#availability[index]!++ }

  // ---- what we want and have ------------------------------------------------------------------------

  get haveCount (): number { return this.#haveCount }
  get wantedMissing (): number { return this.#wantedMissing }
  get done (): boolean { return this.#wantedMissing === 0 }
  get partialCount (): number { return this.#partial.size }

  have (index: number): boolean { return this.#have[index] === 1 }
  wanted (index: number): boolean { return this.#wanted[index] === 1 }

  /** Only these pieces are downloaded (file selection). Call before picking starts. */
  setWanted (wanted: (index: number) => boolean): void {
    this.#unstarted = 0
    this.#wantedMissing = 0
    for (let i = 0; i < this.pieceCount; i++) {
      this.#wanted[i] = wanted(i) ? 1 : 0
      if (this.#wanted[i] === 1 && this.#have[i] === 0) {
        this.#wantedMissing++
        if (!this.#partial.has(i)) this.#unstarted++
      }
    }
  }

  /** The piece is verified (and stored): never pick it again. */
  markHave (index: number): void {
    if (this.#have[index] === 1) return
    const partial = this.#partial.get(index)
    if (partial !== undefined) this.#partial.delete(index)
    else if (this.#wanted[index] === 1) this.#unstarted--
    this.#have[index] = 1
    this.#haveCount++
    if (this.#wanted[index] === 1) this.#wantedMissing--
  }

  /** The piece failed its hash check: every block is free again. */
  pieceFailed (index: number): void {
    if (this.#partial.delete(index) && this.#wanted[index] === 1) this.#unstarted++
  }

  /** Pieces near the play position come first (streaming); null to clear. */
  setWindow (start: number, length: number): void {
    this.#window = length > 0 ? { start, end: Math.min(this.pieceCount, start + length) } : null
  }

  clearWindow (): void { this.#window = null }

  /** True when every block of every wanted piece has been asked for at least once. */
  get endgame (): boolean {
    if (this.#unstarted > 0) return false
    for (const partial of this.#partial.values()) if (partial.free > 0) return false
    return true
  }

  // ---- picking --------------------------------------------------------------------------------------

  /**
   * Up to `count` blocks for this peer to request, marked as requested by it. With `openNew: false` only
   * pieces already started are considered (the caller's memory budget for open pieces is spent). With
   * `maxAvailability`, new pieces are opened only among those at most that many (non-seed) peers have: the
   * scheduler asks a seed only for pieces no other peer can give (see Scheduler's #fill).
   */
  pick (peer: PeerView, count: number, opts: { openNew?: boolean, maxAvailability?: number } = {}): BlockRequest[] {
    const picked: BlockRequest[] = []
    if (count <= 0) return picked
    // 1. started pieces, oldest first
    for (const partial of this.#partial.values()) {
      if (partial.free > 0 && peer.has(partial.index)) this.#takeFree(partial, peer.id, count, picked)
      if (picked.length >= count) return picked
    }
    // 2-4. open new pieces
    while (picked.length < count && opts.openNew !== false) {
      const index = this.#choosePiece(peer, opts.maxAvailability ?? Infinity)
      if (index < 0) break
      const partial = new PartialPiece(index, this.blocksIn(index))
      this.#partial.set(index, partial)
      this.#unstarted--
      this.#takeFree(partial, peer.id, count, picked)
    }
    // Endgame only when no wanted block is free anywhere (`endgame`), not merely when every piece is started: a
    // started piece this peer lacks may still have blocks nobody asked for, and duplicating then wastes bandwidth.
    if (picked.length < count && this.endgame) this.#pickEndgame(peer, count, picked)
    return picked
  }

  #takeFree (partial: PartialPiece, peerId: string, count: number, out: BlockRequest[]): void {
    const state = partial.state
    for (let b = 0; b < state.length && out.length < count; b++) {
      if (state[b] !== FREE) continue
      state[b] = REQUESTED
      partial.free--
      partial.requesters.set(b, new Set([peerId]))
      out.push({ index: partial.index, offset: b * this.blockLength, length: this.blockSize(partial.index, b) })
    }
  }

  #choosePiece (peer: PeerView, maxAvailability: number): number {
    if (this.#unstarted === 0) return -1
    const window = this.#window
    if (window !== null) {
      const inWindow = this.#rarest(peer, window.start, window.end, maxAvailability)
      if (inWindow >= 0) return inWindow
    }
    if (this.#haveCount + this.#partial.size < this.#initialRandomPieces && window === null) {
      return this.#randomPiece(peer, maxAvailability)
    }
    return this.#rarest(peer, 0, this.pieceCount, maxAvailability)
  }

  #candidate (peer: PeerView, i: number, maxAvailability: number): boolean {
    return this.#wanted[i] === 1 && this.#have[i] === 0 && !this.#partial.has(i) && this.#availability[i]! <= maxAvailability && peer.has(i)
  }

  #rarest (peer: PeerView, start: number, end: number, maxAvailability: number): number {
    let best = -1
    let bestAvailability = Infinity
    let ties = 0
    const availability = this.#availability
    for (let i = start; i < end; i++) {
      if (!this.#candidate(peer, i, maxAvailability)) continue
      const a = availability[i]!
      if (a < bestAvailability) {
        best = i
        bestAvailability = a
        ties = 1
      } else if (a === bestAvailability) {
        // reservoir sampling: each of the k equally rare pieces ends up chosen with probability 1/k
        ties++
        if (this.#random() * ties < 1) best = i
      }
    }
    return best
  }

  #randomPiece (peer: PeerView, maxAvailability: number): number {
    let chosen = -1
    let seen = 0
    for (let i = 0; i < this.pieceCount; i++) {
      if (!this.#candidate(peer, i, maxAvailability)) continue
      seen++
      if (this.#random() * seen < 1) chosen = i
    }
    return chosen
  }

  #pickEndgame (peer: PeerView, count: number, out: BlockRequest[]): void {
    // fewest requesters first: one pass per requester count
    for (let limit = 1; limit < this.#maxEndgameRequesters && out.length < count; limit++) {
      for (const partial of this.#partial.values()) {
        if (!peer.has(partial.index)) continue
        for (const [block, requesters] of partial.requesters) {
          if (out.length >= count) return
          if (partial.state[block] !== REQUESTED || requesters.size !== limit || requesters.has(peer.id)) continue
          requesters.add(peer.id)
          out.push({ index: partial.index, offset: block * this.blockLength, length: this.blockSize(partial.index, block) })
        }
      }
    }
  }

  // ---- outcomes of requests -------------------------------------------------------------------------

  /**
   * A block arrived. Returns the other peers that had asked for it (to send `cancel`), or null when the block was
   * not expected (already received, or never requested): the caller drops the data.
   */
  blockReceived (index: number, offset: number, peerId: string): string[] | null {
    const partial = this.#partial.get(index)
    if (partial === undefined || offset % this.blockLength !== 0) return null
    const block = offset / this.blockLength
    const state = partial.state[block]
    if (state === undefined || state === RECEIVED) return null
    if (state === FREE) partial.free--
    partial.state[block] = RECEIVED
    partial.received++
    const others = [...(partial.requesters.get(block) ?? [])].filter((id) => id !== peerId)
    partial.requesters.delete(block)
    return others
  }

  /** The piece is open: some of its blocks are requested or received, and it is not yet verified. */
  isStarted (index: number): boolean {
    return this.#partial.has(index)
  }

  /** True when every block of the piece has arrived (it is then waiting for its hash check). */
  pieceAssembled (index: number): boolean {
    return this.#partial.get(index)?.complete ?? false
  }

  /** A request will not be answered (choke, reject, timeout, disconnect): free the block unless others asked. */
  abandon (index: number, offset: number, peerId: string): void {
    const partial = this.#partial.get(index)
    if (partial === undefined) return
    const block = offset / this.blockLength
    if (partial.state[block] !== REQUESTED) return
    const requesters = partial.requesters.get(block)
    requesters?.delete(peerId)
    if (requesters === undefined || requesters.size === 0) {
      partial.requesters.delete(block)
      partial.state[block] = FREE
      partial.free++
    }
  }

  /** Number of blocks currently requested and not yet received (all peers, duplicates once). */
  get requestedBlocks (): number {
    let n = 0
    for (const partial of this.#partial.values()) n += partial.state.length - partial.free - partial.received
    return n
  }
}
