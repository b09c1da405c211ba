/**
 * The uploader: what we give back. It serves peers' requests from disk and decides, with the choker
 * (lib/choker.ts), whom we serve.
 *
 * - Only pieces on disk (verified and written), only to peers we have unchoked. Requests while choked, for pieces
 *   we lack, or past a peer's queue (`maxQueuePerPeer`, the wire's `maxPeerRequests`) are refused with
 *   `reject` (BEP 6) when the peer speaks the Fast Extension and dropped otherwise. `cancel` removes a request.
 * - One block at a time per peer, and only while the wire's outgoing buffer is under `maxOutgoingBytes`: a slow
 *   peer's socket pushes back and we stop reading from disk for it, so memory stays bounded.
 * - Rechoke every `rechokeInterval` (10 s, BEP 3) and at once when a peer's interest changes while a slot is free.
 * - Blocks are read through a small read-ahead cache (lib/read-cache.ts): a piece is read from disk once, not once
 *   per 16 KiB block.
 * - An optional token bucket limits the upload rate.
 * - Seeding, requests for pieces no other peer is getting from us go first (see #next), but none waits behind
 *   later ones for more than `maxDeferral` ms: a streaming peer asks for the pieces it plays next, which others
 *   often got already, and those came last (first byte at 17.5 s of an 18 s download, issue 14). The first
 *   `frontierPieces` pieces from the lowest one a peer lacks (where a peer that streams from the start plays next)
 *   wait at most `frontierDeferral` ms. A peer that seeked mid-file has its frontier behind its position: for it,
 *   only `maxDeferral` holds.
 */
import { WIRE_DEFAULTS, type Wire } from './wire/wire.js'
import type { PieceStore } from './store/piece-store.js'
import type { PieceGeometry } from './geometry.js'
import { createChoker, type Choker, type ChokerOptions, type ChokerPeer } from './choker.js'
import type { TokenBucket } from './rate-limit.js'
import { ReadCache, type ReadCacheOptions } from './read-cache.js'
import { every, sleep, systemClock, type Cancel, type Clock } from './clock.js'

export interface UploaderOptions {
  choker?: Partial<ChokerOptions>
  maxQueuePerPeer?: number
  maxOutgoingBytes?: number
  /** ms a request may be passed over by later ones (seeding order) before it is served in turn. */
  maxDeferral?: number
  /** Pieces from the lowest one a peer lacks (its frontier: a streaming peer plays them next) that wait at most `frontierDeferral`. */
  frontierPieces?: number
  /** ms a request for a frontier piece may be passed over (seeding order). */
  frontierDeferral?: number
  uploadLimit?: TokenBucket
  readCache?: ReadCacheOptions
  clock?: Clock
  random?: () => number
}

export const UPLOADER_DEFAULTS = {
  // the wire enforces the same bound first (its `maxPeerRequests`, above the `reqq` it advertises): keep them equal,
  // or a request the wire took is refused here, and without Fast never answered at all
  maxQueuePerPeer: WIRE_DEFAULTS.maxPeerRequests,
  maxOutgoingBytes: 256 * 1024,
  // the trade between a streaming peer's first bytes (≈ maxDeferral + 0.2 s from a seed that served the file's start
  // before: test/cli-serve.test.ts) and the seed's upload in a swarm (bench/swarm.ts, 5 runs each, time / seed
  // upload: 1 s 1.20× / 1.10×, 2 s 1.17× / 1.07×, 3 s 1.16× / 1.06×, no bound 1.17× / 1.06×)
  maxDeferral: 2000,
  // a flash crowd of streaming peers (bench/streaming.ts) asks a seed for the same next pieces at once: deferred up to
  // maxDeferral, they came ~0.5 s past their playback deadline for every viewer (flash-crowd success 17 %, 18 of 18
  // viewers with these two; with no deferral for them at all, sequential leechers starved the seed: never done)
  frontierPieces: 4,
  frontierDeferral: 500
} as const

/** What the uploader needs of the torrent it serves. */
export interface UploadSource {
  readonly store: PieceStore
  readonly geometry: PieceGeometry
  /** Every wanted piece is on disk: we are a seed (the choker's seeding mode). */
  readonly done: boolean
  /** The piece is on disk (ledger.written). */
  hasPiece: (index: number) => boolean
}

interface Request {
  readonly index: number
  readonly offset: number
  readonly length: number
  /** When it arrived (clock ms). */
  readonly at: number
  /** When it was first among the requests #next chooses from (clock ms): its deferral counts from then. */
  considered?: number
}

/** One peer as the uploader sees it (exported for its tests; the Uploader creates these). */
export class UploadPeer {
  readonly queue: Request[] = []
  /** Pieces of which this peer got at least one block from us (see Uploader's #next). */
  readonly sentPieces: Set<number> = new Set()
  serving = false
  lastPieceReceivedAt: number | null = null
  /** The piece being served in order because a request for it was deferred too long (see Uploader's #next). */
  duePiece: number | null = null
  /** The due piece was forced by the frontier bound (not by maxDeferral): only frontier requests start again after it. */
  dueByFrontier = false
  /**
   * The lowest piece this peer may lack: a cursor advanced lazily (amortised O(pieces) over the connection). It goes
   * back to 0 when the peer's bitfield is replaced (a late bitfield) and when the peer says it has none (BEP 6).
   */
  #frontier = 0
  #frontierOf: unknown = null
  readonly connectedAt: number
  constructor (readonly id: string, readonly wire: Wire, now: number) {
    this.connectedAt = now
    wire.on('have-none', () => { this.#frontier = 0 })
  }

  /** The lowest piece this peer lacks (its in-order frontier: where a streaming peer plays); pieceCount if none. */
  frontier (): number {
    const pieces = this.wire.peerPieces
    if (pieces !== this.#frontierOf) {
      this.#frontierOf = pieces
      this.#frontier = 0
    }
    while (this.#frontier < pieces.length && pieces.get(this.#frontier)) this.#frontier++
    return this.#frontier
  }
}

export class Uploader {
  readonly #source: UploadSource
  readonly #choker: Choker
  readonly #peers: Map<string, UploadPeer> = new Map()
  readonly #maxQueue: number
  readonly #maxOutgoing: number
  readonly #maxDeferral: number
  readonly #frontierPieces: number
  readonly #frontierDeferral: number
  readonly #limit: TokenBucket | null
  readonly #clock: Clock
  readonly #random: () => number
  readonly #stopRechoke: Cancel
  readonly #cache: ReadCache
  /** Per piece: how many peers got at least one block of it from us. */
  readonly #copies: Map<number, number> = new Map()
  #closed = false
  uploaded = 0

  constructor (source: UploadSource, opts: UploaderOptions = {}) {
    this.#source = source
    this.#cache = new ReadCache(source.store, source.geometry, opts.readCache)
    this.#choker = createChoker(opts.choker)
    this.#maxQueue = opts.maxQueuePerPeer ?? UPLOADER_DEFAULTS.maxQueuePerPeer
    this.#maxOutgoing = opts.maxOutgoingBytes ?? UPLOADER_DEFAULTS.maxOutgoingBytes
    this.#maxDeferral = opts.maxDeferral ?? UPLOADER_DEFAULTS.maxDeferral
    this.#frontierPieces = opts.frontierPieces ?? UPLOADER_DEFAULTS.frontierPieces
    this.#frontierDeferral = opts.frontierDeferral ?? UPLOADER_DEFAULTS.frontierDeferral
    this.#limit = opts.uploadLimit ?? null
    this.#clock = opts.clock ?? systemClock
    this.#random = opts.random ?? Math.random
    this.#stopRechoke = every(this.#clock, this.#choker.options.rechokeInterval, () => this.rechoke())
  }

  addPeer (wire: Wire, id: string): void {
    const peer = new UploadPeer(id, wire, this.#clock.now())
    this.#peers.set(id, peer)
    wire.on('request', (index: number, offset: number, length: number) => this.#onRequest(peer, { index, offset, length, at: this.#clock.now() }))
    wire.on('cancel', (index: number, offset: number, length: number) => {
      const at = peer.queue.findIndex((r) => r.index === index && r.offset === offset && r.length === length)
      if (at >= 0) peer.queue.splice(at, 1)
    })
    wire.on('piece', () => { peer.lastPieceReceivedAt = this.#clock.now() })
    wire.on('interested', () => this.#onInterestChange())
    wire.on('not-interested', () => this.#onInterestChange())
    wire.once('close', () => {
      this.#peers.delete(id)
      peer.queue.length = 0
      this.#onInterestChange()
    })
  }

  /** Decide who is unchoked now (called on a timer; exposed for tests and for a session that just completed). */
  rechoke (): void {
    if (this.#closed) return
    const peers: ChokerPeer[] = []
    for (const peer of this.#peers.values()) {
      if (peer.wire.destroyed) continue
      peers.push({
        id: peer.id,
        interested: peer.wire.peerInterested,
        downloadRate: peer.wire.downloadRate(),
        uploadRate: peer.wire.uploadRate(),
        connectedAt: peer.connectedAt,
        lastPieceReceivedAt: peer.lastPieceReceivedAt,
        isSeed: peer.wire.peerPieces.hasAll()
      })
    }
    const decision = this.#choker.rechoke(peers, { now: this.#clock.now(), seeding: this.#source.done, random: this.#random })
    for (const peer of this.#peers.values()) {
      if (peer.wire.destroyed) continue
      const unchoke = decision.unchoke.has(peer.id)
      if (unchoke && peer.wire.amChoking) peer.wire.unchoke()
      else if (!unchoke && !peer.wire.amChoking) {
        peer.wire.choke()
        this.#refuseAll(peer)
      }
    }
  }

  close (): void {
    this.#closed = true
    this.#stopRechoke()
    for (const peer of this.#peers.values()) peer.queue.length = 0
  }

  #onInterestChange (): void {
    // a free slot is given at once rather than up to 10 s later (libtorrent does the same). A slot is in use only
    // while its peer is interested: an unchoked peer that lost interest (it has all we have) holds nothing, and
    // counting it left a newly interested peer choked until the next 10 s rechoke — the last piece of a swarm sat
    // that long with peers that had it.
    let unchoked = 0
    for (const peer of this.#peers.values()) if (!peer.wire.amChoking && peer.wire.peerInterested) unchoked++
    if (unchoked < this.#choker.options.regularSlots + 1) this.rechoke()
  }

  #onRequest (peer: UploadPeer, request: Request): void {
    if (!mayServe(peer.wire, request.index) || !this.#source.hasPiece(request.index) || peer.queue.length >= this.#maxQueue) {
      this.#refuse(peer, request)
      return
    }
    peer.queue.push(request)
    if (!peer.serving) this.#serve(peer).catch(() => { peer.wire.destroy() })
  }

  #refuse (peer: UploadPeer, request: Request): void {
    // Only a request the wire still holds: `wire.choke()` has already rejected the queued ones (BEP 6), and a
    // second reject is for "a block never requested", for which the peer drops us (ours does: BAD_MESSAGE).
    if (peer.wire.destroyed || !peer.wire.peerRequests.has(request.index, request.offset, request.length)) return
    // without the Fast Extension a refusal is silence (BEP 3); the request is forgotten, not left standing
    if (!peer.wire.supportsFast) peer.wire.peerRequests.delete(request.index, request.offset, request.length)
    else peer.wire.reject(request.index, request.offset, request.length)
  }

  /** On choke: refuse what is queued, except allowed-fast pieces (BEP 6: they stay servable while choked). */
  #refuseAll (peer: UploadPeer): void {
    const kept: Request[] = []
    for (const request of peer.queue.splice(0)) {
      if (mayServe(peer.wire, request.index)) kept.push(request)
      else this.#refuse(peer, request)
    }
    peer.queue.push(...kept)
  }

  /**
   * The next request to serve. In order, except when seeding: then a request for a piece that fewer other peers
   * have had from us goes first. A seed's upload is what a swarm shares, and two leechers often ask it for the same
   * piece at once (neither knows the other is fetching it); serving the piece nobody else is getting first gives
   * the first leecher time to finish and announce it, and the second then cancels its requests and fetches the
   * piece from that leecher instead (the scheduler's #shiftFromSeeds). The wait this costs is bounded: once the
   * oldest request has been passed over for `maxDeferral`, its piece is served next, every block of it the peer
   * asked for, so a peer that streams (and asks first for the pieces it plays first, which others are likely to
   * have had) gets the piece it asked for first within that bound. Then the deferral starts again for the others:
   * the next piece in its order waits up to another `maxDeferral`, so one piece a bound is what is promised. The time
   * counts from when a request is first among the SCAN chosen from: a leecher keeps hundreds of requests queued
   * at a busy seed, each waiting seconds in line whatever the order, and a bound on each request's age from its
   * arrival served them all in arrival order (swarm bench: seed upload 1.06× → 1.15×).
   */
  #next (peer: UploadPeer): Request | undefined {
    const queue = peer.queue
    if (queue.length <= 1 || !this.#source.done) return queue.shift()
    const now = this.#clock.now()
    const window = Math.min(queue.length, SCAN)
    // the first frontierPieces pieces from the lowest one the peer lacks: once per choice, not per request looked at
    const frontier = peer.frontier()
    const inFrontier = (index: number): boolean => index >= frontier && index < frontier + this.#frontierPieces
    if (peer.duePiece !== null) {
      let at = -1
      for (let i = 0; i < window && at < 0; i++) if (queue[i]!.index === peer.duePiece) at = i
      if (at >= 0) return queue.splice(at, 1)[0]
      peer.duePiece = null
      // the deferral starts again for those the due piece went ahead of under its own rule: after a frontier piece,
      // the other frontier requests only (the oldest request's maxDeferral keeps running)
      for (let i = 0; i < window; i++) if (!peer.dueByFrontier || inFrontier(queue[i]!.index)) queue[i]!.considered = now
    }
    for (let i = 0; i < window; i++) queue[i]!.considered ??= now
    // past its bound, a request goes now, with the rest of its piece: the oldest after maxDeferral, one for the
    // pieces just past the peer's frontier (what a streaming peer plays next) after frontierDeferral
    const frontierBound = Math.min(this.#frontierDeferral, this.#maxDeferral)
    if (now - queue[0]!.considered! >= this.#maxDeferral) {
      peer.duePiece = queue[0]!.index
      peer.dueByFrontier = false
      return queue.shift()
    }
    if (this.#frontierPieces > 0) {
      for (let i = 0; i < window; i++) {
        const request = queue[i]!
        if (now - request.considered! >= frontierBound && inFrontier(request.index)) {
          peer.duePiece = request.index
          peer.dueByFrontier = true
          return queue.splice(i, 1)[0]
        }
      }
    }
    let best = 0
    let bestOthers = this.#othersGot(peer, queue[0]!.index)
    for (let i = 1; i < window && bestOthers > 0; i++) {
      const n = this.#othersGot(peer, queue[i]!.index)
      if (n < bestOthers) { best = i; bestOthers = n }
    }
    return queue.splice(best, 1)[0]
  }

  /** How many peers other than `peer` got blocks of piece `index` from us. */
  #othersGot (peer: UploadPeer, index: number): number {
    return (this.#copies.get(index) ?? 0) - (peer.sentPieces.has(index) ? 1 : 0)
  }

  async #serve (peer: UploadPeer): Promise<void> {
    peer.serving = true
    try {
      while (!this.#closed && !peer.wire.destroyed) {
        const request = this.#next(peer)
        if (request === undefined) break
        if (this.#limit !== null) {
          const wait = this.#limit.take(request.length)
          if (wait > 0) await sleep(this.#clock, wait)
        }
        // The wire holds outgoing bytes in two places: the stream's buffer and, once that is full, its own queue
        // (sendBuffered). Counting only the first let a peer that does not read collect its whole reqq in memory.
        while (outgoing(peer.wire) > this.#maxOutgoing && !peer.wire.destroyed) await drained(peer.wire, this.#clock)
        if (peer.wire.destroyed) break
        if (!mayServe(peer.wire, request.index)) continue // choked meanwhile (the wire rejected it)
        // A request cancelled (or rejected) while we waited for tokens or the socket is no longer the peer's: the
        // wire already answered the cancel with a reject (BEP 6), and a piece sent after it arrives unrequested.
        if (!peer.wire.peerRequests.has(request.index, request.offset, request.length)) continue
        const data = await this.#cache.read(request.index, request.offset, request.length)
        if (peer.wire.destroyed) break
        if (!mayServe(peer.wire, request.index)) continue
        if (!peer.wire.peerRequests.has(request.index, request.offset, request.length)) continue
        peer.wire.piece(request.index, request.offset, data)
        this.uploaded += data.length
        if (!peer.sentPieces.has(request.index)) {
          peer.sentPieces.add(request.index)
          this.#copies.set(request.index, (this.#copies.get(request.index) ?? 0) + 1)
        }
      }
    } finally {
      peer.serving = false
    }
  }
}

/** Requests looked at when choosing the next one to serve (the rest wait their turn in order). */
const SCAN = 64
/** ms after which a wait for the socket to drain looks again anyway. */
const DRAIN_POLL = 50

function outgoing (wire: Wire): number {
  return wire.readableLength + wire.sendBuffered
}

/** Unchoked, or choked but the piece is one we granted as allowed fast (BEP 6). */
function mayServe (wire: Wire, index: number): boolean {
  return !wire.amChoking || (wire.supportsFast && wire.allowedFastSent.has(index))
}

/**
 * Resolves when the wire's outgoing bytes move on (the socket read some), or after a short while regardless (a
 * wire closed meanwhile is seen then: no close listener, a wire has enough of those).
 */
async function drained (wire: Wire, clock: Clock): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => { cancel(); wire.off('data', done); resolve() }
    const cancel = clock.schedule(done, DRAIN_POLL)
    wire.once('data', done)
  })
}
