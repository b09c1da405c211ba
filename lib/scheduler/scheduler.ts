/**
 * The block scheduler: drives many peer wires and produces the blocks they deliver, as an object-mode Readable
 * (`pump(scheduler, verifier, sink)`).
 *
 * - Availability and interest follow each peer's bitfield / have / have-all / have-none (BEP 3, BEP 6); a
 *   disconnect lowers availability again.
 * - Requests: while the stream is flowing and the memory budget allows, each unchoked peer is kept `depth`
 *   requests deep; `depth` follows the peer's rate (rate × `requestQueueTime` / block, libtorrent's rule),
 *   bounded by the peer's advertised `reqq` (BEP 10) and `maxRequestsPerPeer`.
 * - Backpressure: when `push()` returns false (the verifier or the disk is behind) no new requests go out; blocks
 *   already asked for still arrive and are buffered, and that is bounded by the budget. Memory therefore depends on
 *   the budget, never on the torrent's size.
 * - Choke (without the Fast Extension) voids a peer's requests; `reject` (BEP 6) frees a block; a peer with
 *   requests but no block for `requestTimeout` is snubbed: its requests go back to the pool, its depth drops to 1.
 * - Endgame (see picker.ts): the first copy of a block wins; the other requesters get `cancel`.
 * - Bad pieces: every peer that contributed to a piece failing its hash gets a strike; `banStrikes` strikes (or
 *   one as the sole contributor) and it is banned: 'peer-banned' is emitted and its wire destroyed.
 */
import { Readable } from 'node:stream'
import type { EventEmitter } from 'node:events'
import { Picker, type BitfieldLike, type BlockRequest, type PeerView } from './picker.js'
import type { Block } from '../verify.js'
import { ZentorrentError } from '../errors.js'
import type { TokenBucket } from '../rate-limit.js'

/** What the scheduler needs of a peer connection (lib/wire's Wire satisfies it). */
export interface PeerWire extends EventEmitter {
  readonly peerPieces: BitfieldLike
  readonly peerChoking: boolean
  readonly amInterested: boolean
  readonly supportsFast: boolean
  readonly peerReqq: number | null
  readonly destroyed: boolean
  interested: () => void
  uninterested: () => void
  request: (index: number, offset: number, length: number) => void
  cancel: (index: number, offset: number, length: number) => void
  have: (index: number) => void
  downloadRate: () => number
  destroy: (err?: Error) => unknown
}

export interface SchedulerOptions {
  /** Bytes requested but not yet delivered, all peers together, at most. */
  maxInFlightBytes?: number
  /** Bytes waiting downstream (reported by `downstreamBytes`) at which no new piece is opened. */
  maxBufferedBytes?: number
  /**
   * Bytes waiting downstream right now that it releases without more input (pieces being hashed, verified pieces
   * not yet written). Never partly assembled pieces: they free only when their blocks come.
   */
  downstreamBytes?: () => number
  /** Seconds of a peer's rate to keep requested (libtorrent's request_queue_time). */
  requestQueueTime?: number
  minRequestsPerPeer?: number
  maxRequestsPerPeer?: number
  /** ms without a block, with requests outstanding, before a peer is snubbed. */
  requestTimeout?: number
  banStrikes?: number
  /**
   * ms a choking peer has to unchoke us before we use its BEP 6 allowed-fast pieces. A peer about to unchoke us
   * (most do at once) would otherwise send those pieces anyway, and a seed grants the same set to every peer of a
   * /24: six leechers on one host each fetched the same piece from the seed at start-up (bench/swarm.ts).
   */
  allowedFastGrace?: number
  /** Pieces open at once at most (each holds memory until verified). */
  maxOpenPieces?: number
  tickInterval?: number
  /** Bytes/s down: requests go out only as tokens allow (requests are what a downloader controls). */
  downloadLimit?: TokenBucket
  now?: () => number
  readableHighWaterMark?: number
}

export const SCHEDULER_DEFAULTS = {
  maxInFlightBytes: 4 * 1024 * 1024,
  maxBufferedBytes: 3 * 1024 * 1024,
  requestQueueTime: 1,
  minRequestsPerPeer: 16,
  maxRequestsPerPeer: 512,
  requestTimeout: 20_000,
  banStrikes: 2,
  allowedFastGrace: 2000,
  tickInterval: 1000,
  readableHighWaterMark: 64
} as const

/** A wire event listener of any arity, as stored for removal (EventEmitter checks no argument types). */
type Listener = (...args: unknown[]) => void

/** Requests sent together at most when topping a peer's queue up (see #fill). */
const REFILL_BATCH = 32

interface Outstanding {
  readonly index: number
  readonly offset: number
  readonly length: number
  readonly at: number
}

class PeerState implements PeerView {
  readonly outstanding: Map<number, Outstanding> = new Map()
  readonly allowedFast: Set<number> = new Set()
  /** Wanted pieces the peer has and we lack: > 0 means we are interested. */
  interesting = 0
  seed = false
  /**
   * The pieces this peer added to the picker's availability (null: none). Our own copy, not the wire's bit
   * field: a peer that repeats itself (a second bitfield, have-all after a bitfield) changes the wire's bits, and
   * subtracting those would undo counts we never added.
   */
  counted: Uint8Array | null = null
  /** Pieces counted in `counted`. */
  announced = 0
  snubbed = false
  strikes = 0
  lastBlockAt: number
  received = 0
  /** What addPeer attached to the wire, to detach on removal. */
  readonly listeners: Array<[string, Listener]> = []

  readonly addedAt: number

  constructor (readonly id: string, readonly wire: PeerWire, now: number) {
    this.lastBlockAt = now
    this.addedAt = now
  }

  /** The peer announced the piece (bitfield, have, have-all), whether or not it lets us request it now. */
  announces (index: number): boolean { return this.seed || this.counted?.[index] === 1 }

  /** Has every piece (have-all, or a full bitfield). */
  isSeed (pieceCount: number): boolean { return this.seed || this.announced === pieceCount }

  has (index: number): boolean {
    if (!this.wire.peerChoking) return this.announces(index)
    // BEP 6: while choked, only allowed-fast pieces may be requested
    return this.allowedFast.has(index) && this.announces(index)
  }
}

export interface SchedulerEvents {
  'peer-banned': [info: { id: string, strikes: number }]
  'peer-snubbed': [id: string]
  'endgame': []
}

export class Scheduler extends Readable {
  readonly picker: Picker
  readonly #peers: Map<string, PeerState> = new Map()
  readonly #opts: Required<Omit<SchedulerOptions, 'downstreamBytes' | 'maxOpenPieces' | 'now' | 'downloadLimit'>>
  readonly #downstreamBytes: () => number
  readonly #maxOpenPieces: number
  readonly #now: () => number
  readonly #blocksPerPiece: number
  readonly #limit: TokenBucket | null
  #limitTimer: NodeJS.Timeout | null = null
  #flowing = false
  #ended = false
  #endgameAnnounced = false
  #tick: NodeJS.Timeout | null = null
  downloaded = 0
  wasted = 0

  constructor (picker: Picker, opts: SchedulerOptions = {}) {
    super({ objectMode: true, highWaterMark: opts.readableHighWaterMark ?? SCHEDULER_DEFAULTS.readableHighWaterMark })
    this.picker = picker
    this.#opts = {
      maxInFlightBytes: opts.maxInFlightBytes ?? SCHEDULER_DEFAULTS.maxInFlightBytes,
      maxBufferedBytes: opts.maxBufferedBytes ?? SCHEDULER_DEFAULTS.maxBufferedBytes,
      requestQueueTime: opts.requestQueueTime ?? SCHEDULER_DEFAULTS.requestQueueTime,
      minRequestsPerPeer: opts.minRequestsPerPeer ?? SCHEDULER_DEFAULTS.minRequestsPerPeer,
      maxRequestsPerPeer: opts.maxRequestsPerPeer ?? SCHEDULER_DEFAULTS.maxRequestsPerPeer,
      requestTimeout: opts.requestTimeout ?? SCHEDULER_DEFAULTS.requestTimeout,
      banStrikes: opts.banStrikes ?? SCHEDULER_DEFAULTS.banStrikes,
      allowedFastGrace: opts.allowedFastGrace ?? SCHEDULER_DEFAULTS.allowedFastGrace,
      tickInterval: opts.tickInterval ?? SCHEDULER_DEFAULTS.tickInterval,
      readableHighWaterMark: opts.readableHighWaterMark ?? SCHEDULER_DEFAULTS.readableHighWaterMark
    }
    this.#downstreamBytes = opts.downstreamBytes ?? (() => 0)
    // enough open pieces to keep every peer busy, few enough that their buffers fit the budget; at least two, so
    // the network stays busy while the last blocks of a large piece arrive
    this.#maxOpenPieces = opts.maxOpenPieces ??
      Math.max(picker.pieceLength >= this.#opts.maxBufferedBytes ? 2 : 4, Math.floor(this.#opts.maxBufferedBytes / picker.pieceLength))
    this.#now = opts.now ?? Date.now
    this.#limit = opts.downloadLimit ?? null
    this.#blocksPerPiece = Math.ceil(picker.pieceLength / picker.blockLength)
    this.#tick = setInterval(() => this.#onTick(), this.#opts.tickInterval)
    this.#tick.unref()
    if (picker.done) this.#finish()
  }

  get peerCount (): number { return this.#peers.size }
  get inEndgame (): boolean { return this.picker.endgame }

  /** Peers currently attached, with what a display shows. */
  peers (): Array<{ id: string, interesting: number, outstanding: number, snubbed: boolean, rate: number, choking: boolean }> {
    return [...this.#peers.values()].map((p) => ({
      id: p.id,
      interesting: p.interesting,
      outstanding: p.outstanding.size,
      snubbed: p.snubbed,
      rate: p.wire.downloadRate(),
      choking: p.wire.peerChoking
    }))
  }

  // ---- peers ----------------------------------------------------------------------------------------

  /** Attach a wire whose handshake is complete. Its bitfield may come later (or have come already). */
  addPeer (id: string, wire: PeerWire): void {
    if (this.#peers.has(id) || this.destroyed) return
    const peer = new PeerState(id, wire, this.#now())
    this.#peers.set(id, peer)
    const on = <A extends unknown[]>(event: string, fn: (...args: A) => void): void => {
      wire.on(event, fn)
      peer.listeners.push([event, fn as unknown as Listener])
    }
    on('bitfield', () => this.#onBitfield(peer))
    on('have-all', () => this.#onHaveAll(peer))
    on('have-none', () => this.#onHaveNone(peer))
    on('have', (index: number) => this.#onHave(peer, index))
    on('unchoke', () => this.#fill(peer))
    on('choke', () => this.#onChoke(peer))
    on('reject', (index: number, offset: number) => this.#onReject(peer, index, offset))
    on('allowed-fast', (index: number) => { peer.allowedFast.add(index); this.#fill(peer) })
    on('piece', (index: number, offset: number, data: Buffer) => this.#onPiece(peer, index, offset, data))
    on('close', () => this.removePeer(id))
    // the wire may have received its bitfield before it was attached
    if (peerHasAny(wire.peerPieces, this.picker.pieceCount)) this.#onBitfield(peer)
  }

  removePeer (id: string): void {
    const peer = this.#peers.get(id)
    if (peer === undefined) return
    this.#peers.delete(id)
    for (const [event, fn] of peer.listeners) peer.wire.off(event, fn)
    this.#uncount(peer)
    this.#abandonAll(peer)
    this.#fillAll()
  }

  /** Strikes against a peer (e.g. from other sources of evidence); bans at the threshold. */
  strike (id: string, sole: boolean): void {
    const peer = this.#peers.get(id)
    if (peer === undefined) return
    peer.strikes += sole ? this.#opts.banStrikes : 1
    if (peer.strikes >= this.#opts.banStrikes) {
      this.emit('peer-banned', { id, strikes: peer.strikes })
      peer.wire.destroy(new ZentorrentError('PEER_BANNED', `peer ${id} sent data that failed the hash check`))
      this.removePeer(id)
    }
  }

  // ---- outcomes from downstream ---------------------------------------------------------------------

  /** A piece passed its hash check: never request it again; interest may drop. */
  pieceVerified (index: number): void {
    if (this.picker.have(index)) return
    this.picker.markHave(index)
    for (const peer of this.#peers.values()) {
      // `announces`, not `has`: `has` is false for a peer that chokes us, and interest counts what a peer holds
      // (it is what we tell a choking peer). With `has`, a choking peer stayed "interesting" forever.
      if (this.picker.wanted(index) && peer.announces(index) && peer.interesting > 0) {
        peer.interesting--
        this.#updateInterest(peer)
      }
    }
    if (this.picker.done) this.#finish()
  }

  /** A piece failed its hash check: re-download it; blame its contributors. */
  pieceInvalid (index: number, contributors: readonly string[]): void {
    this.wasted += this.picker.pieceSize(index)
    this.picker.pieceFailed(index)
    const sole = contributors.length === 1
    for (const id of contributors) this.strike(id, sole)
    this.#fillAll()
  }

  /**
   * Downstream made room (a piece was verified or written): request again. The memory budget counts what waits
   * downstream, and freeing it raises no stream event here; without this call, a pipeline whose requests had all
   * been answered sat idle until the next tick.
   */
  kick (): void {
    this.#fillAll()
  }

  // ---- Readable -------------------------------------------------------------------------------------

  override _read (): void {
    this.#flowing = true
    this.#fillAll()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.#tick !== null) clearInterval(this.#tick)
    if (this.#limitTimer !== null) clearTimeout(this.#limitTimer)
    this.#tick = null
    for (const id of [...this.#peers.keys()]) this.removePeer(id)
    callback(err)
  }

  // ---- wire events ----------------------------------------------------------------------------------

  #onBitfield (peer: PeerState): void {
    this.#uncount(peer)
    const counted = new Uint8Array(this.picker.pieceCount)
    let interesting = 0
    let announced = 0
    for (let i = 0; i < counted.length; i++) {
      if (!peer.wire.peerPieces.get(i)) continue
      counted[i] = 1
      announced++
      if (this.picker.wanted(i) && !this.picker.have(i)) interesting++
    }
    peer.counted = counted
    peer.announced = announced
    this.picker.addBitfield({ get: (i) => counted[i] === 1 })
    peer.interesting = interesting
    this.#updateInterest(peer)
  }

  #onHaveAll (peer: PeerState): void {
    this.#uncount(peer)
    peer.seed = true
    this.picker.addSeed()
    peer.interesting = this.picker.wantedMissing
    this.#updateInterest(peer)
  }

  #onHaveNone (peer: PeerState): void {
    this.#uncount(peer)
    peer.interesting = 0
    this.#updateInterest(peer)
  }

  #onHave (peer: PeerState, index: number): void {
    if (index < 0 || index >= this.picker.pieceCount || peer.seed) return
    peer.counted ??= new Uint8Array(this.picker.pieceCount)
    if (peer.counted[index] === 1) return // a repeat: counted once
    peer.counted[index] = 1
    peer.announced++
    this.picker.addHave(index)
    if (this.picker.wanted(index) && !this.picker.have(index)) {
      peer.interesting++
      this.#shiftFromSeeds(peer, index)
      this.#updateInterest(peer)
    }
  }

  /**
   * A non-seed peer that lets us request just announced a piece we are still fetching from a seed: take the
   * blocks the seed has not sent yet off it (`cancel`) and ask this peer instead (started pieces come first, so
   * the next fill picks them up). A seed's upload is what the whole swarm shares — every byte it sends twice is
   * a byte a piece nobody has yet did not get — while a leecher that has the piece has upload to spare. Without
   * this, leechers near the end all finished the same last pieces from the seed after others already had them
   * (measured: the seed uploaded ~1.8× the torrent to six leechers; see bench/swarm.ts).
   */
  #shiftFromSeeds (to: PeerState, index: number): void {
    if (to.wire.peerChoking || to.isSeed(this.picker.pieceCount) || !this.picker.isStarted(index)) return
    for (const from of this.#peers.values()) {
      if (from === to || !from.isSeed(this.picker.pieceCount) || from.outstanding.size === 0) continue
      for (const [key, o] of from.outstanding) {
        if (o.index !== index) continue
        from.outstanding.delete(key)
        from.wire.cancel(o.index, o.offset, o.length)
        this.picker.abandon(o.index, o.offset, from.id)
      }
    }
  }

  #uncount (peer: PeerState): void {
    if (peer.seed) this.picker.removeSeed()
    const counted = peer.counted
    if (counted !== null) this.picker.removeBitfield({ get: (i) => counted[i] === 1 })
    peer.counted = null
    peer.announced = 0
    peer.seed = false
  }

  #updateInterest (peer: PeerState): void {
    if (peer.wire.destroyed) return
    if (peer.interesting > 0 && !peer.wire.amInterested) peer.wire.interested()
    else if (peer.interesting <= 0 && peer.wire.amInterested) peer.wire.uninterested()
    if (peer.interesting > 0) this.#fill(peer)
  }

  #onChoke (peer: PeerState): void {
    // BEP 3: a choke discards pending requests. BEP 6: with the Fast Extension they stand until rejected.
    if (!peer.wire.supportsFast) this.#abandonAll(peer)
    this.#fillAll()
  }

  #onReject (peer: PeerState, index: number, offset: number): void {
    const key = this.#key(index, offset)
    if (!peer.outstanding.delete(key)) return
    this.picker.abandon(index, offset, peer.id)
    this.#fillAll()
  }

  #onPiece (peer: PeerState, index: number, offset: number, data: Buffer): void {
    const key = this.#key(index, offset)
    const request = peer.outstanding.get(key)
    if (request === undefined || request.length !== data.length) {
      this.wasted += data.length // cancelled in endgame, or never asked for: dropped
      return
    }
    peer.outstanding.delete(key)
    peer.lastBlockAt = this.#now()
    peer.snubbed = false
    const others = this.picker.blockReceived(index, offset, peer.id)
    if (others === null) {
      this.wasted += data.length
    } else {
      for (const id of others) {
        const other = this.#peers.get(id)
        if (other !== undefined && other.outstanding.delete(key)) other.wire.cancel(index, offset, data.length)
      }
      this.downloaded += data.length
      peer.received += data.length
      const block: Block = { index, offset, data, peer: peer.id }
      if (!this.push(block)) this.#flowing = false
    }
    this.#fill(peer)
  }

  // ---- requesting -----------------------------------------------------------------------------------

  #key (index: number, offset: number): number {
    return index * this.#blocksPerPiece + offset / this.picker.blockLength
  }

  #depth (peer: PeerState): number {
    if (peer.snubbed) return 1
    const rate = peer.wire.downloadRate()
    const byRate = Math.ceil(rate * this.#opts.requestQueueTime / this.picker.blockLength)
    const cap = Math.min(this.#opts.maxRequestsPerPeer, peer.wire.peerReqq ?? this.#opts.maxRequestsPerPeer)
    return Math.max(1, Math.min(cap, Math.max(this.#opts.minRequestsPerPeer, byRate)))
  }

  /** Blocks that may still be requested, all peers together (the in-flight bound). */
  #budgetLeft (): number {
    const inFlight = this.picker.requestedBlocks * this.picker.blockLength
    return Math.max(0, Math.floor((this.#opts.maxInFlightBytes - inFlight) / this.picker.blockLength))
  }

  /**
   * Whether a new piece may be opened. The buffer budget gates only this, never the blocks of a piece already
   * open: an open piece's bytes are released only once its last block arrives, so a budget that also stopped
   * those requests (as it once did) left every piece larger than the budget half-assembled for ever (8 MiB pieces
   * stopped at 7 MiB received, 0 written). Only what downstream releases without more input counts (pieces being
   * hashed, verified pieces not yet written, blocks the verifier has still to take), so the budget can always free.
   */
  #mayOpen (): boolean {
    if (this.picker.partialCount >= this.#maxOpenPieces) return false
    const buffered = this.#downstreamBytes() + this.readableLength * this.picker.blockLength
    return buffered < this.#opts.maxBufferedBytes
  }

  #fillAll (): void {
    for (const peer of this.#peers.values()) this.#fill(peer)
  }

  #fill (peer: PeerState): void {
    if (!this.#flowing || this.#ended || peer.wire.destroyed || peer.interesting <= 0) return
    if (peer.wire.peerChoking && (peer.allowedFast.size === 0 || this.#now() - peer.addedAt < this.#opts.allowedFastGrace)) return
    const depth = this.#depth(peer)
    // Top the queue up in batches (a quarter of its depth, at most REFILL_BATCH): one request message per
    // arriving block cost a socket write per socket read; a batch is one write for several. The room counts the
    // shared budget too: when the budget binds (one fast peer), each block frees one block of it, and a test
    // on depth alone let every arriving block send one request.
    let want = Math.min(depth - peer.outstanding.size, this.#budgetLeft())
    if (peer.outstanding.size > 0 && want < Math.min(REFILL_BATCH, Math.ceil(depth / 4))) return
    if (want <= 0) return
    if (this.#limit !== null) {
      const allowed = Math.floor(this.#limit.available() / this.picker.blockLength)
      // Retry when tokens come back whenever the limit cut the fill short, not only when it allowed nothing:
      // otherwise a partly filled peer waited for its next block (or the 1 s tick) to ask for more.
      if (allowed < want && this.#limitTimer === null) {
        this.#limitTimer = setTimeout(() => { this.#limitTimer = null; this.#fillAll() }, 50)
        this.#limitTimer.unref()
      }
      want = Math.min(want, allowed)
      if (want <= 0) return
    }
    const openNew = this.#mayOpen()
    const blocks: BlockRequest[] = this.picker.pick(peer, want, { openNew, ...(this.#sparesSeed(peer) ? { maxAvailability: 0 } : {}) })
    const now = this.#now()
    if (peer.outstanding.size === 0) peer.lastBlockAt = now
    if (this.#limit !== null && blocks.length > 0) this.#limit.take(blocks.reduce((n, b) => n + b.length, 0))
    for (const b of blocks) {
      peer.outstanding.set(this.#key(b.index, b.offset), { ...b, at: now })
      peer.wire.request(b.index, b.offset, b.length)
    }
    if (!this.#endgameAnnounced && this.picker.endgame && !this.picker.done) {
      this.#endgameAnnounced = true
      this.emit('endgame')
    }
  }

  /**
   * Whether to open only pieces no other peer has on this seed. A seed's upload is what the whole swarm shares: a
   * piece it sends to us that a leecher could have sent is a piece nobody has yet that it did not send. So while a
   * non-seed peer that unchokes us has pieces we want, a seed is asked only for pieces no (non-seed) peer has;
   * the others come from the leechers (pieces already started are still finished from anyone). Measured in
   * bench/swarm.ts: the seed sent 1.3× the torrent to six leechers before, as leechers took from it pieces other
   * leechers held. With only seeds (or choking leechers) around, nothing changes.
   */
  #sparesSeed (peer: PeerState): boolean {
    const pieceCount = this.picker.pieceCount
    if (!peer.isSeed(pieceCount)) return false
    for (const other of this.#peers.values()) {
      if (other !== peer && !other.wire.peerChoking && other.interesting > 0 && !other.isSeed(pieceCount)) return true
    }
    return false
  }

  #abandonAll (peer: PeerState): void {
    for (const o of peer.outstanding.values()) this.picker.abandon(o.index, o.offset, peer.id)
    peer.outstanding.clear()
  }

  #onTick (): void {
    const now = this.#now()
    for (const peer of this.#peers.values()) {
      if (peer.outstanding.size > 0 && now - peer.lastBlockAt > this.#opts.requestTimeout) {
        peer.snubbed = true
        this.emit('peer-snubbed', peer.id)
        for (const o of peer.outstanding.values()) {
          if (peer.wire.supportsFast || !peer.wire.peerChoking) peer.wire.cancel(o.index, o.offset, o.length)
        }
        this.#abandonAll(peer)
        peer.lastBlockAt = now
      }
    }
    this.#fillAll()
  }

  #finish (): void {
    if (this.#ended) return
    this.#ended = true
    for (const peer of this.#peers.values()) {
      peer.interesting = 0
      if (!peer.wire.destroyed && peer.wire.amInterested) peer.wire.uninterested()
    }
    this.push(null)
  }
}

function peerHasAny (bits: BitfieldLike, count: number): boolean {
  for (let i = 0; i < count; i++) if (bits.get(i)) return true
  return false
}
