/**
 * The block scheduler: drives many peer wires and produces the blocks they deliver, as an object-mode Readable
 * (`pump(scheduler, verifier, sink)`). It decides nothing about pieces itself: the ledger (lib/ledger.ts) holds
 * every per-piece fact, the picker (./picker.ts) orders them, pipelining (./pipelining.ts) sizes each peer's queue
 * and blame (./blame.ts) decides bans. What is left here is plumbing:
 *
 * - wire events → ledger: bitfield / have / have-all / have-none raise availability, a disconnect lowers it;
 *   the ledger's interest changes become `interested` / `not interested`;
 * - requests: while the stream flows, each peer that lets us request is kept `requestDepth` requests deep, within
 *   the shared in-flight budget (`maxInFlightBytes`) and the memory budget: no new piece is opened while the pieces
 *   held between the socket and the disk (ledger.heldPieces) would exceed `maxHeldBytes` (at least
 *   `minHeldPieces`). The budget gates only opening pieces, never the blocks of an open one, so a piece larger than
 *   the budget still completes.
 * - backpressure: when `push()` returns false (the verifier or the disk is behind) no request goes out until the
 *   stream asks for more; what was asked for still arrives, bounded by the budgets above.
 *   The one place payload does not flow through a stream: the wire hands each block to this stage by its 'piece'
 *   event. Flow control there is the request window (as in libtorrent and anacrolix): we only receive what we asked
 *   for, and we stop asking.
 * - choke (without the Fast Extension) voids a peer's requests, `reject` (BEP 6) frees a block, a peer that sends
 *   nothing for `requestTimeout` with requests out is snubbed (its requests go back, its depth drops to 1);
 * - endgame: the first copy of a block wins, the other requesters get `cancel`;
 * - sparing seeds: a seed is asked only for pieces no other peer has while a leecher lets us request (a seed's
 *   upload is what the swarm shares), and a piece a leecher just announced moves off the seed.
 * The stream ends once every wanted piece is verified (`endWhenVerified`, the default), or never (a torrent whose
 * selection may change ends it by destroying it).
 */
import { Readable } from 'node:stream'
import type { EventEmitter } from 'node:events'
import { Picker, type PickerOptions, type PeerView } from './picker.js'
import { requestDepth, requestsToSend, PIPELINING_DEFAULTS, type PipeliningOptions } from './pipelining.js'
import { Blame, type BanReason } from './blame.js'
import { PieceState, type LedgerChange, type PieceLedger } from '../ledger.js'
import type { Block } from '../verify.js'
import type { BlockRequest } from '../wire/messages.js'
import { ZentorrentError } from '../errors.js'
import type { TokenBucket } from '../rate-limit.js'
import { every, oncePerTurn, systemClock, type Cancel, type Clock } from '../clock.js'
import { definedOnly } from '../options.js'
import type { RequestRouter, RoutedPeer } from '../streaming/router.js'

export interface BitfieldLike {
  get: (index: number) => boolean
}

/** What the scheduler needs of a peer connection (lib/wire's Wire satisfies it). */
export interface PeerWire extends EventEmitter {
  readonly peerPieces: BitfieldLike
  readonly peerHasAll: boolean
  readonly peerChoking: boolean
  readonly amInterested: boolean
  readonly supportsFast: boolean
  readonly peerReqq: number
  readonly peerAllowedFast: ReadonlySet<number>
  readonly destroyed: boolean
  /** Our requests outstanding on this connection (the wire keeps them: it checks what arrives against them). */
  readonly requests: { readonly count: number, list: () => BlockRequest[] }
  interested: () => void
  uninterested: () => void
  request: (index: number, offset: number, length: number) => void
  cancel: (index: number, offset: number, length: number) => void
  downloadRate: () => number
  destroy: (err?: Error) => unknown
}

export interface SchedulerOptions extends Partial<PipeliningOptions> {
  /** Bytes requested but not yet delivered, all peers together, at most. */
  maxInFlightBytes?: number
  /** Bytes of pieces held between the socket and the disk (assembling, hashing, waiting to be written). */
  maxHeldBytes?: number
  /** Pieces that may be held whatever their size (so pieces larger than the budget still flow). */
  minHeldPieces?: number
  /** ms without a block, with requests outstanding, before a peer is snubbed. */
  requestTimeout?: number
  /**
   * ms a choking peer has to unchoke us before we use its BEP 6 allowed-fast pieces. A peer about to unchoke us
   * (most do at once) would otherwise send those pieces anyway, and a seed grants the same set to every peer of a
   * /24: six leechers on one host each fetched the same piece from the seed at start-up (bench/swarm.ts).
   */
  allowedFastGrace?: number
  tickInterval?: number
  /** Bytes/s down: requests go out only as tokens allow (requests are what a downloader controls). */
  downloadLimit?: TokenBucket
  clock?: Clock
  picker?: PickerOptions
  readableHighWaterMark?: number
  /** End the stream once every wanted piece is verified (default true). */
  endWhenVerified?: boolean
  /** Routes pieces with deadlines to the peers that deliver them in time (lib/streaming/router.ts). */
  router?: (picker: Picker) => RequestRouter
}

export const SCHEDULER_DEFAULTS = {
  maxInFlightBytes: 4 * 1024 * 1024,
  maxHeldBytes: 8 * 1024 * 1024,
  minHeldPieces: 2,
  requestTimeout: 20_000,
  allowedFastGrace: 2000,
  tickInterval: 1000,
  readableHighWaterMark: 64,
  /** How soon a fill cut short by the download limit is retried. */
  limitRetry: 50
} as const

type Listener = (...args: unknown[]) => void

interface ResolvedOptions extends PipeliningOptions {
  maxInFlightBytes: number
  maxHeldBytes: number
  minHeldPieces: number
  requestTimeout: number
  allowedFastGrace: number
  tickInterval: number
  limitRetry: number
  endWhenVerified: boolean
}

class PeerState implements RoutedPeer {
  lastBlockAt: number
  snubbed = false
  received = 0
  readonly addedAt: number
  /** What addPeer attached to the wire, to detach on removal. */
  readonly listeners: Array<[string, Listener]> = []

  constructor (readonly id: string, readonly wire: PeerWire, readonly ledger: PieceLedger, now: number) {
    this.lastBlockAt = now
    this.addedAt = now
  }

  /** Whether we may ask it for the piece now: it announced it, and (BEP 6) while it chokes us only allowed-fast. */
  has (index: number): boolean {
    if (!this.ledger.peerHas(this.id, index)) return false
    return !this.wire.peerChoking || this.wire.peerAllowedFast.has(index)
  }

  get rate (): number { return this.wire.downloadRate() }
  get outstandingBytes (): number { return this.wire.requests.count * this.ledger.geometry.blockLength }
  get seed (): boolean { return this.ledger.peerIsSeed(this.id) }
}

export interface SchedulerEvents {
  'peer-banned': [info: BanReason]
  'peer-snubbed': [id: string]
  endgame: []
}

export interface Scheduler {
  on: (<K extends keyof SchedulerEvents>(event: K, listener: (...args: SchedulerEvents[K]) => void) => this) & Readable['on']
  once: (<K extends keyof SchedulerEvents>(event: K, listener: (...args: SchedulerEvents[K]) => void) => this) & Readable['once']
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Scheduler extends Readable {
  readonly ledger: PieceLedger
  readonly picker: Picker
  readonly #peers: Map<string, PeerState> = new Map()
  readonly #opts: ResolvedOptions
  readonly #maxHeldPieces: number
  readonly #clock: Clock
  readonly #limit: TokenBucket | null
  readonly #blame: Blame
  readonly #router: RequestRouter | null
  #limitTimer: Cancel | null = null
  /**
   * Fill every peer once this turn of the event loop has run its I/O callbacks. Pieces are reported written one
   * callback each (each piece's write settles on its own): filling on each would send each peer one socket write
   * per piece, 65536 per GiB of 16 KiB pieces (bench/profile.ts, strace); this is one per loop turn.
   */
  readonly #fillSoon = oncePerTurn(() => { this.#fillAll() })
  #flowing = false
  #ended = false
  #endgameAnnounced = false
  readonly #stopTick: Cancel
  readonly #unsubscribe: () => void
  downloaded = 0
  wasted = 0

  constructor (ledger: PieceLedger, opts: SchedulerOptions = {}) {
    super({ objectMode: true, highWaterMark: opts.readableHighWaterMark ?? SCHEDULER_DEFAULTS.readableHighWaterMark })
    this.ledger = ledger
    this.picker = new Picker(ledger, opts.picker)
    const given = definedOnly(opts)
    this.#opts = {
      ...PIPELINING_DEFAULTS,
      maxInFlightBytes: given.maxInFlightBytes ?? SCHEDULER_DEFAULTS.maxInFlightBytes,
      maxHeldBytes: given.maxHeldBytes ?? SCHEDULER_DEFAULTS.maxHeldBytes,
      minHeldPieces: given.minHeldPieces ?? SCHEDULER_DEFAULTS.minHeldPieces,
      requestTimeout: given.requestTimeout ?? SCHEDULER_DEFAULTS.requestTimeout,
      allowedFastGrace: given.allowedFastGrace ?? SCHEDULER_DEFAULTS.allowedFastGrace,
      tickInterval: given.tickInterval ?? SCHEDULER_DEFAULTS.tickInterval,
      limitRetry: SCHEDULER_DEFAULTS.limitRetry,
      endWhenVerified: given.endWhenVerified ?? true,
      ...(given.requestQueueTime !== undefined ? { requestQueueTime: given.requestQueueTime } : {}),
      ...(given.minRequestsPerPeer !== undefined ? { minRequestsPerPeer: given.minRequestsPerPeer } : {}),
      ...(given.streamingMinRequests !== undefined ? { streamingMinRequests: given.streamingMinRequests } : {}),
      ...(given.maxRequestsPerPeer !== undefined ? { maxRequestsPerPeer: given.maxRequestsPerPeer } : {}),
      ...(given.refillBatch !== undefined ? { refillBatch: given.refillBatch } : {})
    }
    this.#maxHeldPieces = Math.max(this.#opts.minHeldPieces, Math.floor(this.#opts.maxHeldBytes / ledger.geometry.pieceLength))
    this.#clock = opts.clock ?? systemClock
    this.#limit = opts.downloadLimit ?? null
    this.#blame = new Blame(ledger, (reason) => this.#ban(reason))
    this.#router = opts.router?.(this.picker) ?? null
    this.#unsubscribe = ledger.onChange((change) => this.#onLedger(change))
    this.#stopTick = every(this.#clock, this.#opts.tickInterval, () => this.#onTick())
    if (this.#opts.endWhenVerified && ledger.verifiedAll) this.#finish()
  }

  get peerCount (): number { return this.#peers.size }
  get inEndgame (): boolean { return this.ledger.endgame }
  /** Pieces that may be held between the socket and the disk at once. */
  get maxHeldPieces (): number { return this.#maxHeldPieces }

  /** Peers currently attached, with what a display shows. */
  peers (): Array<{ id: string, interesting: number, outstanding: number, snubbed: boolean, rate: number, choking: boolean }> {
    return [...this.#peers.values()].map((p) => ({
      id: p.id,
      interesting: this.ledger.interesting(p.id),
      outstanding: p.wire.requests.count,
      snubbed: p.snubbed,
      rate: p.wire.downloadRate(),
      choking: p.wire.peerChoking
    }))
  }

  // ---- peers ----------------------------------------------------------------------------------------

  /** Attach a wire whose handshake is complete. Its bitfield may come later (or have come already). */
  addPeer (id: string, wire: PeerWire): void {
    if (this.#peers.has(id) || this.destroyed || this.#blame.isBanned(id)) return
    const peer = new PeerState(id, wire, this.ledger, this.#clock.now())
    this.#peers.set(id, peer)
    const on = <A extends unknown[]>(event: string, fn: (...args: A) => void): void => {
      wire.on(event, fn)
      peer.listeners.push([event, fn as unknown as Listener])
    }
    on('bitfield', () => this.ledger.peerBitfield(id, (i) => wire.peerPieces.get(i)))
    on('have-all', () => this.ledger.peerHaveAll(id))
    on('have-none', () => this.ledger.peerHaveNone(id))
    on('have', (index: number) => this.#onHave(peer, index))
    on('unchoke', () => this.#fill(peer))
    on('choke', (voided: BlockRequest[] = []) => this.#onChoke(peer, voided))
    on('reject', (index: number, offset: number) => this.#abandon(peer, index, offset))
    on('allowed-fast', () => this.#fill(peer))
    on('piece', (index: number, offset: number, data: Buffer) => this.#onPiece(peer, index, offset, data))
    on('close', () => this.removePeer(id))
    // the wire may have received its bitfield (or have-all) before it was attached
    if (wire.peerHasAll) this.ledger.peerHaveAll(id)
    else if (peerHasAny(wire.peerPieces, this.ledger.pieceCount)) this.ledger.peerBitfield(id, (i) => wire.peerPieces.get(i))
    this.#fill(peer)
  }

  removePeer (id: string): void {
    const peer = this.#peers.get(id)
    if (peer === undefined) return
    this.#peers.delete(id)
    for (const [event, fn] of peer.listeners) peer.wire.off(event, fn)
    this.ledger.removePeer(id)
    this.#fillAll()
  }

  // ---- Readable -------------------------------------------------------------------------------------

  override _read (): void {
    this.#flowing = true
    this.#fillAll()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    this.#stopTick()
    this.#fillSoon.cancel()
    this.#limitTimer?.()
    this.#limitTimer = null
    this.#unsubscribe()
    this.#blame.close()
    for (const id of [...this.#peers.keys()]) this.removePeer(id)
    callback(err)
  }

  // ---- the ledger's changes -------------------------------------------------------------------------

  #onLedger (change: LedgerChange): void {
    switch (change.type) {
      case 'interest': {
        const peer = this.#peers.get(change.peer)
        if (peer === undefined || peer.wire.destroyed) return
        if (change.interesting) peer.wire.interested()
        else peer.wire.uninterested()
        if (change.interesting) this.#fill(peer)
        return
      }
      case 'state':
        // a piece left memory (written) or came back to be fetched (failed): room to request again
        if (change.state === PieceState.Written || change.state === PieceState.Missing) this.#fillSoon.soon()
        if (this.#opts.endWhenVerified && this.ledger.verifiedAll) this.#finish()
        return
      case 'invalid':
        this.wasted += this.ledger.geometry.pieceSize(change.index) // the failed attempt's bytes
        return
      case 'priority':
        this.#cancelUnwanted()
        this.#fillAll()
        if (this.#opts.endWhenVerified && this.ledger.verifiedAll) this.#finish()
        return
      case 'reset':
        this.#fillAll()
        if (this.#opts.endWhenVerified && this.ledger.verifiedAll) this.#finish()
    }
  }

  #ban (reason: BanReason): void {
    this.emit('peer-banned', reason)
    const peer = this.#peers.get(reason.id)
    if (peer === undefined) return
    peer.wire.destroy(new ZentorrentError('PEER_BANNED', `peer ${reason.id} sent data that failed the hash check`))
    this.removePeer(reason.id)
  }

  // ---- wire events ----------------------------------------------------------------------------------

  #onHave (peer: PeerState, index: number): void {
    this.ledger.peerHave(peer.id, index)
    if (this.ledger.wanted(index) && !this.ledger.have(index)) {
      this.#shiftFromSeeds(peer, index)
      this.#fill(peer)
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
    if (to.wire.peerChoking || this.ledger.peerIsSeed(to.id) || !this.ledger.isOpen(index)) return
    for (const from of this.#peers.values()) {
      if (from === to || !this.ledger.peerIsSeed(from.id) || from.wire.requests.count === 0) continue
      for (const r of from.wire.requests.list()) {
        if (r.index !== index) continue
        from.wire.cancel(r.index, r.offset, r.length)
        this.ledger.abandon(r.index, r.offset / this.ledger.geometry.blockLength, from.id)
      }
    }
  }

  #onChoke (peer: PeerState, voided: readonly BlockRequest[]): void {
    // BEP 3: a choke discards pending requests (the wire has forgotten them). BEP 6: with the Fast Extension they
    // stand until rejected.
    for (const r of voided) this.ledger.abandon(r.index, r.offset / this.ledger.geometry.blockLength, peer.id)
    this.#fillAll()
  }

  #abandon (peer: PeerState, index: number, offset: number): void {
    this.ledger.abandon(index, offset / this.ledger.geometry.blockLength, peer.id)
    this.#fillAll()
  }

  #onPiece (peer: PeerState, index: number, offset: number, data: Buffer): void {
    const ledger = this.ledger
    peer.lastBlockAt = this.#clock.now()
    peer.snubbed = false
    const block = offset / ledger.geometry.blockLength
    const others = data.length === ledger.geometry.blockSize(index, block) ? ledger.receive(index, block, peer.id) : null
    if (others === null) {
      this.wasted += data.length // a copy that lost the endgame race, or a piece no longer open: dropped
    } else {
      for (const id of others) {
        const other = this.#peers.get(id)
        if (other !== undefined && !other.wire.destroyed) other.wire.cancel(index, offset, data.length)
      }
      this.downloaded += data.length
      peer.received += data.length
      if (!this.push({ index, offset, data, peer: peer.id, generation: ledger.generation(index) } satisfies Block)) this.#flowing = false
    }
    this.#fill(peer)
  }

  // ---- requesting -----------------------------------------------------------------------------------

  /**
   * Whether a reader waits on a piece some peer can send: only then is every peer kept shallow (see requestDepth).
   * A reader stuck on a piece no connected peer has must not slow everything else down until one arrives.
   */
  #streamingNow (): boolean {
    const ledger = this.ledger
    if (this.#router === null || ledger.deadlineCount === 0) return false
    for (const [index] of ledger.deadlines()) if (ledger.wanted(index) && !ledger.have(index) && ledger.availability(index) > 0) return true
    return false
  }

  /** Blocks that may still be requested, all peers together (the in-flight bound). */
  #budgetLeft (): number {
    const blockLength = this.ledger.geometry.blockLength
    return Math.max(0, Math.floor((this.#opts.maxInFlightBytes - this.ledger.requestedBlocks * blockLength) / blockLength))
  }

  #fillAll (): void {
    for (const peer of this.#peers.values()) this.#fill(peer)
  }

  #fill (peer: PeerState): void {
    if (!this.#flowing || this.#ended || this.destroyed || peer.wire.destroyed) return
    const ledger = this.ledger
    if (ledger.interesting(peer.id) <= 0) return
    if (peer.wire.peerChoking && (peer.wire.peerAllowedFast.size === 0 || this.#clock.now() - peer.addedAt < this.#opts.allowedFastGrace)) return
    const outstanding = peer.wire.requests.count
    const streaming = this.#streamingNow()
    const depth = requestDepth({ rate: peer.wire.downloadRate(), reqq: peer.wire.peerReqq, snubbed: peer.snubbed, streaming }, ledger.geometry.blockLength, this.#opts)
    let want = requestsToSend(outstanding, depth, this.#budgetLeft(), this.#opts)
    if (want <= 0) return
    if (this.#limit !== null) {
      const allowed = Math.floor(this.#limit.available() / ledger.geometry.blockLength)
      // Retry when tokens come back whenever the limit cut the fill short, not only when it allowed nothing:
      // otherwise a partly filled peer waited for its next block (or the 1 s tick) to ask for more.
      if (allowed < want && this.#limitTimer === null) {
        this.#limitTimer = this.#clock.schedule(() => { this.#limitTimer = null; this.#fillAll() }, this.#opts.limitRetry)
      }
      want = Math.min(want, allowed)
      if (want <= 0) return
    }
    const maxNew = (): number => Math.max(0, this.#maxHeldPieces - ledger.heldPieces)
    // pieces with deadlines first, from the peers that deliver them in time (the router); then the picker's chain
    const route = streaming ? this.#router!.route(peer, () => this.#peers.values(), want, maxNew(), this.#clock.now()) : null
    if (route?.preempt === true) this.#preempt(peer)
    const picked = this.picker.pick(route?.view ?? peer, want - (route?.blocks.length ?? 0), { maxNew: maxNew(), spareSeed: this.#sparesSeed(peer) })
    const blocks = route === null ? picked : route.blocks.concat(picked)
    if (outstanding === 0) peer.lastBlockAt = this.#clock.now()
    if (this.#limit !== null && blocks.length > 0) this.#limit.take(blocks.reduce((n, b) => n + b.length, 0))
    for (const b of blocks) peer.wire.request(b.index, b.offset, b.length)
    if (!this.#endgameAnnounced && ledger.endgame) {
      this.#endgameAnnounced = true
      this.emit('endgame')
    }
  }

  /**
   * Cancel every request for a piece no longer wanted (a file deselected, a reader gone): its bytes would take
   * budget and bandwidth from what is wanted. Blocks already received stay in their assembly.
   */
  #cancelUnwanted (): void {
    for (const peer of this.#peers.values()) {
      if (peer.wire.destroyed) continue
      for (const r of peer.wire.requests.list()) {
        if (this.ledger.wanted(r.index)) continue
        peer.wire.cancel(r.index, r.offset, r.length)
        this.ledger.abandon(r.index, r.offset / this.ledger.geometry.blockLength, peer.id)
      }
    }
  }

  /** Cancel the peer's requests for pieces without a deadline: urgent ones must not wait behind them (the router). */
  #preempt (peer: PeerState): void {
    for (const r of peer.wire.requests.list()) {
      if (this.ledger.deadline(r.index) !== Infinity) continue
      peer.wire.cancel(r.index, r.offset, r.length)
      this.ledger.abandon(r.index, r.offset / this.ledger.geometry.blockLength, peer.id)
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
    if (!this.ledger.peerIsSeed(peer.id)) return false
    for (const other of this.#peers.values()) {
      if (other !== peer && !other.wire.peerChoking && this.ledger.interesting(other.id) > 0 && !this.ledger.peerIsSeed(other.id)) return true
    }
    return false
  }

  #onTick (): void {
    const now = this.#clock.now()
    for (const peer of this.#peers.values()) {
      if (peer.wire.requests.count > 0 && now - peer.lastBlockAt > this.#opts.requestTimeout) {
        peer.snubbed = true
        this.emit('peer-snubbed', peer.id)
        for (const r of peer.wire.requests.list()) {
          peer.wire.cancel(r.index, r.offset, r.length)
          this.ledger.abandon(r.index, r.offset / this.ledger.geometry.blockLength, peer.id)
        }
        peer.lastBlockAt = now
      }
    }
    this.#fillAll()
  }

  #finish (): void {
    if (this.#ended) return
    this.#ended = true
    this.push(null)
  }
}

function peerHasAny (bits: BitfieldLike, count: number): boolean {
  for (let i = 0; i < count; i++) if (bits.get(i)) return true
  return false
}


export function createScheduler (ledger: PieceLedger, opts?: SchedulerOptions): Scheduler {
  return new Scheduler(ledger, opts)
}
