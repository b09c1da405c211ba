/**
 * MetadataFetcher: the info dictionary of a torrent known only by its info hash, fetched with BEP 9 from several
 * peers at once, SHA1-checked against the info hash before anything parses it, then parsed by
 * `parseInfoDictionary` so every metainfo rule (path safety, piece counts …) applies unchanged.
 *
 * Algorithm (tunables in METADATA_FETCHER_DEFAULTS):
 * - Sources: peers whose extended handshake names ut_metadata and a `metadata_size` that `checkMetadataSize`
 *   accepts (1 byte to `maxMetadataSize`). A peer offering 0 or more than the bound is refused ('peer-refused'),
 *   not dropped: it may be useful for the download once the metadata is known.
 * - One attempt at a time, for one size: the size of the first source. Peers claiming another size wait; if the
 *   attempt's sources are all gone, the next attempt takes the size of a waiting peer.
 * - Parallel mode: every missing piece is asked of one source, up to `requestsPerPeer` outstanding per source,
 *   handed out round-robin so that several peers are fetched from at once.
 * - A data message is checked against the size its sender advertised: a piece out of range, of the wrong length
 *   (16 KiB, the last one shorter) or with another `total_size` drops the peer (BAD_METADATA_PIECE). An answer to
 *   nothing we asked of that peer (late, after a timeout) is ignored.
 * - `reject`: the piece is asked of another source; the rejecting peer is not asked for it again. A peer that has
 *   sent `maxRejects` rejects and no data, or has rejected every piece still missing, is given up on
 *   ('peer-given-up'); so is one whose requests went `requestTimeout` unanswered `maxTimeouts` times.
 * - Complete: SHA1 of the assembled bytes against the info hash. Equal → parse → 'metadata'. Different:
 *   - all pieces from one peer: it lied; it is dropped (METADATA_MISMATCH) and a fresh attempt starts;
 *   - pieces from several: the liar is not known. Each contributor in turn (most pieces first) completes its own
 *     copy, the pieces it is missing asked of it alone; its copy that fails the hash drops it, and the next one
 *     tries. The copy that passes ends the search, and every other contributor whose pieces differ from the
 *     verified bytes is dropped as well. Their pieces are thus asked again, of another peer.
 * - SHA1-correct bytes that do not parse (a hostile torrent, not a hostile peer) end the fetch with 'error'.
 *
 * Memory: one attempt's pieces (at most `maxMetadataSize`) plus, while looking for a liar, the contributors' own
 * pieces of the failed attempt (at most as much again).
 *
 * The overall bound (the CLI's --metadata-timeout) is the caller's: `metadataTimeoutError(ms, stats)` words it.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { systemClock, type Cancel, type Clock } from '../clock.js'
import { ZentorrentError } from '../errors.js'
import { parseInfoDictionary, type Metainfo } from '../metainfo.js'
import { checkMetadataSize, MAX_METADATA_SIZE, METADATA_PIECE_LENGTH, metadataPieceCount, metadataPieceLength } from './codec.js'
import type { MetadataPeer } from './extension.js'

export interface MetadataFetcherOptions {
  /** The v1 info hash (20 bytes) the metadata must hash to. */
  infoHash: Buffer
  maxMetadataSize?: number
  /** A request unanswered this long (ms) is given to another peer. */
  requestTimeout?: number
  /** Outstanding requests per peer. */
  requestsPerPeer?: number
  /** Rejects (with no data at all) before a peer is given up on. */
  maxRejects?: number
  /** Timed-out requests before a peer is given up on. */
  maxTimeouts?: number
  /** Times the requests (lib/clock.ts); a fake one in tests. Default the system clock. */
  clock?: Clock
}

export const METADATA_FETCHER_DEFAULTS = {
  maxMetadataSize: MAX_METADATA_SIZE,
  // libtorrent answers at once; 10 s covers a slow peer without stalling a magnet link for long.
  requestTimeout: 10_000,
  // Metadata is small (a few pieces): 4 requests keep a peer's pipe full on a far link without hogging it.
  requestsPerPeer: 4,
  maxRejects: 3,
  maxTimeouts: 2
} as const

export interface MetadataFetchStats {
  /** Peers attached (any state). */
  peers: number
  /** Peers offering metadata we accept, not given up or dropped: "fetching metadata from N peers". */
  sources: number
  /** Size being assembled, once a source offered one. */
  size: number | null
  pieces: number
  piecesHave: number
  /** Peers dropped as liars or for protocol violations. */
  dropped: number
  /** Peers given up on (only rejects, no answers). */
  givenUp: number
  /** Peers refused for their metadata_size. */
  refused: number
}

export interface MetadataFetcherEvents {
  metadata: [meta: Metainfo]
  progress: [stats: MetadataFetchStats]
  'peer-refused': [peer: MetadataPeer, err: ZentorrentError]
  'peer-dropped': [peer: MetadataPeer, err: ZentorrentError]
  'peer-given-up': [peer: MetadataPeer, reason: string]
  error: [err: ZentorrentError]
}

interface PeerState {
  readonly peer: MetadataPeer
  /** The checked metadata_size it offers, or null (none, refused). */
  size: number | null
  /** Piece → the cancel of its timeout. */
  readonly outstanding: Map<number, Cancel>
  readonly rejected: Set<number>
  rejects: number
  timeouts: number
  pieces: number
  gone: boolean
  readonly listeners: {
    handshake: () => void
    data: (piece: number, totalSize: number, data: Buffer) => void
    reject: (piece: number) => void
    close: () => void
  }
}

interface Attempt {
  readonly size: number
  readonly pieces: (Buffer | null)[]
  readonly from: (PeerState | null)[]
  /** Set while looking for a liar: only this peer is asked. */
  single: PeerState | null
  /** Contributors of a failed attempt still to try, with their own pieces. */
  suspects: Array<{ state: PeerState, pieces: Map<number, Buffer> }>
  /** Every contributor's pieces of the failed attempt (to judge the others once one copy passes). */
  evidence: Array<{ state: PeerState, pieces: Map<number, Buffer> }>
}

export class MetadataFetcher extends EventEmitter<MetadataFetcherEvents> {
  readonly infoHash: Buffer
  readonly #maxSize: number
  readonly #requestTimeout: number
  readonly #requestsPerPeer: number
  readonly #maxRejects: number
  readonly #maxTimeouts: number
  readonly #clock: Clock
  readonly #peers = new Map<MetadataPeer, PeerState>()
  #attempt: Attempt | null = null
  #done = false
  #dropped = 0
  #givenUp = 0
  #refused = 0
  /** Round-robin start for handing out requests. */
  #turn = 0

  constructor (opts: MetadataFetcherOptions) {
    super()
    if (opts.infoHash.length !== 20) throw new ZentorrentError('BAD_ARGUMENT', `info hash must be 20 bytes, got ${opts.infoHash.length}`)
    this.infoHash = opts.infoHash
    this.#maxSize = opts.maxMetadataSize ?? METADATA_FETCHER_DEFAULTS.maxMetadataSize
    this.#requestTimeout = opts.requestTimeout ?? METADATA_FETCHER_DEFAULTS.requestTimeout
    this.#requestsPerPeer = opts.requestsPerPeer ?? METADATA_FETCHER_DEFAULTS.requestsPerPeer
    this.#maxRejects = opts.maxRejects ?? METADATA_FETCHER_DEFAULTS.maxRejects
    this.#maxTimeouts = opts.maxTimeouts ?? METADATA_FETCHER_DEFAULTS.maxTimeouts
    this.#clock = opts.clock ?? systemClock
  }

  /** True once the metadata was delivered, or the fetch ended ('error', `destroy`). */
  get done (): boolean { return this.#done }

  stats (): MetadataFetchStats {
    let sources = 0
    for (const s of this.#peers.values()) if (this.#usable(s)) sources++
    const a = this.#attempt
    return {
      peers: this.#peers.size,
      sources,
      size: a?.size ?? null,
      pieces: a === null ? 0 : a.pieces.length,
      piecesHave: a === null ? 0 : a.pieces.filter((p) => p !== null).length,
      dropped: this.#dropped,
      givenUp: this.#givenUp,
      refused: this.#refused
    }
  }

  /** Fetch from this peer too (before or after its extended handshake). Ignored once done. */
  add (peer: MetadataPeer): void {
    if (this.#done || this.#peers.has(peer) || !peer.connected) return
    const state: PeerState = {
      peer,
      size: null,
      outstanding: new Map(),
      rejected: new Set(),
      rejects: 0,
      timeouts: 0,
      pieces: 0,
      gone: false,
      listeners: {
        handshake: () => { this.#onOffer(state) },
        data: (piece, totalSize, data) => { this.#onData(state, piece, totalSize, data) },
        reject: (piece) => { this.#onReject(state, piece) },
        close: () => { this.#remove(state) }
      }
    }
    this.#peers.set(peer, state)
    for (const [event, fn] of Object.entries(state.listeners)) peer.on(event as 'handshake', fn as () => void)
    this.#onOffer(state)
  }

  /** Stop: clear every timer and listener. Idempotent. */
  destroy (): void {
    this.#done = true
    for (const state of [...this.#peers.values()]) this.#detach(state)
    this.#attempt = null
  }

  // ---- peers ------------------------------------------------------------------------------------------

  #usable (s: PeerState): boolean {
    return !s.gone && s.size !== null && s.peer.connected
  }

  #onOffer (s: PeerState): void {
    if (this.#done || s.gone) return
    const before = s.size
    s.size = null
    if (s.peer.supportsMetadata && s.peer.metadataSize !== undefined) {
      try {
        s.size = checkMetadataSize(s.peer.metadataSize, this.#maxSize)
      } catch (err) {
        this.#refused++
        this.emit('peer-refused', s.peer, err as ZentorrentError)
      }
    }
    if (before !== s.size) this.#clearOutstanding(s)
    this.#pump()
    this.emit('progress', this.stats())
  }

  #detach (s: PeerState): void {
    s.gone = true
    this.#clearOutstanding(s)
    for (const [event, fn] of Object.entries(s.listeners)) s.peer.off(event as 'handshake', fn as () => void)
    this.#peers.delete(s.peer)
  }

  #remove (s: PeerState): void {
    if (s.gone) return
    this.#detach(s)
    this.#afterLoss(s)
  }

  /** `settle` false: the caller decides what happens next (no new requests from here). */
  #drop (s: PeerState, err: ZentorrentError, settle = true): void {
    if (s.gone) return
    this.#dropped++
    this.#detach(s)
    this.emit('peer-dropped', s.peer, err)
    s.peer.drop(err)
    if (settle) this.#afterLoss(s)
  }

  #giveUp (s: PeerState, reason: string): void {
    if (s.gone) return
    this.#givenUp++
    this.#detach(s)
    this.emit('peer-given-up', s.peer, reason)
    this.#afterLoss(s)
  }

  /** A peer is gone: if it was the one being tried for a copy of its own, try the next suspect. */
  #afterLoss (s: PeerState): void {
    if (this.#done) return
    // Pieces it sent stay (the hash will judge them), unless it was completing a copy of its own.
    const a = this.#attempt
    if (a !== null && a.single === s) this.#nextSuspect(a)
    this.#pump()
    this.emit('progress', this.stats())
  }

  #clearOutstanding (s: PeerState): void {
    for (const cancel of s.outstanding.values()) cancel()
    s.outstanding.clear()
  }

  // ---- requests ---------------------------------------------------------------------------------------

  /** Start an attempt when there is none (or its size has no source left), then hand out requests. */
  #pump (): void {
    if (this.#done) return
    let a = this.#attempt
    // No source left for this size, but one for another: a new attempt with that size (pieces kept otherwise,
    // for the next peer of this size).
    const usable = [...this.#peers.values()].filter((s) => this.#usable(s))
    if (a !== null && a.single === null && usable.length > 0 && !usable.some((s) => s.size === a?.size)) {
      this.#attempt = a = null
    }
    if (a === null) {
      const first = [...this.#peers.values()].find((s) => this.#usable(s))
      if (first === undefined || first.size === null) return
      const count = metadataPieceCount(first.size)
      a = this.#attempt = {
        size: first.size,
        pieces: new Array<Buffer | null>(count).fill(null),
        from: new Array<PeerState | null>(count).fill(null),
        single: null,
        suspects: [],
        evidence: []
      }
      for (const s of this.#peers.values()) s.rejected.clear()
    }
    const attempt = a
    const sources = a.single !== null
      ? [a.single].filter((s) => this.#usable(s))
      : [...this.#peers.values()].filter((s) => this.#usable(s) && s.size === attempt.size)
    if (sources.length === 0) return
    const asked = new Set<number>()
    for (const s of this.#peers.values()) for (const piece of s.outstanding.keys()) asked.add(piece)
    // Round-robin: one request per source per round, so the pieces spread over the peers.
    this.#turn = (this.#turn + 1) % sources.length
    let progress = true
    while (progress) {
      progress = false
      for (let k = 0; k < sources.length; k++) {
        const s = sources[(this.#turn + k) % sources.length] as PeerState
        if (s.gone || s.outstanding.size >= this.#requestsPerPeer) continue
        const piece = this.#nextPiece(a, s, asked)
        if (piece === null) continue
        asked.add(piece)
        this.#request(s, piece)
        progress = true
      }
    }
    for (const s of sources) this.#checkHopeless(s)
  }

  /**
   * The first missing piece nobody is asked for; failing that (endgame), one another peer is asked for, so a
   * slow peer does not hold the last piece until its timeout. Never one this peer rejected or let time out.
   */
  #nextPiece (a: Attempt, s: PeerState, asked: Set<number>): number | null {
    let duplicate: number | null = null
    for (let i = 0; i < a.pieces.length; i++) {
      if (a.pieces[i] !== null || s.rejected.has(i) || s.outstanding.has(i)) continue
      if (!asked.has(i)) return i
      duplicate ??= i
    }
    return duplicate
  }

  #request (s: PeerState, piece: number): void {
    s.outstanding.set(piece, this.#clock.schedule(() => { this.#onTimeout(s, piece) }, this.#requestTimeout))
    s.peer.request(piece)
  }

  #onTimeout (s: PeerState, piece: number): void {
    if (s.gone || !s.outstanding.has(piece)) return
    s.outstanding.delete(piece)
    s.rejected.add(piece) // not asked of it again in this attempt
    s.timeouts++
    if (s.timeouts >= this.#maxTimeouts) {
      this.#giveUp(s, `it left ${s.timeouts} metadata requests unanswered for ${this.#requestTimeout} ms`)
      return
    }
    this.#pump()
  }

  /** A peer that rejected every piece still missing will not help this attempt. */
  #checkHopeless (s: PeerState): void {
    const a = this.#attempt
    if (a === null || s.gone || s.outstanding.size > 0 || s.rejected.size === 0) return
    const missing = a.pieces.map((p, i) => p === null ? i : -1).filter((i) => i >= 0)
    if (missing.length > 0 && missing.every((i) => s.rejected.has(i))) {
      this.#giveUp(s, `it rejected every metadata piece we still need (${missing.length})`)
    }
  }

  // ---- answers ----------------------------------------------------------------------------------------

  #onReject (s: PeerState, piece: number): void {
    if (this.#done || s.gone) return
    const cancel = s.outstanding.get(piece)
    if (cancel === undefined) return // not asked of it (or late): nothing to do
    cancel()
    s.outstanding.delete(piece)
    s.rejected.add(piece)
    s.rejects++
    if (s.pieces === 0 && s.rejects >= this.#maxRejects) {
      this.#giveUp(s, `it rejected ${s.rejects} metadata requests and answered none`)
      return
    }
    this.#pump()
  }

  #onData (s: PeerState, piece: number, totalSize: number, data: Buffer): void {
    if (this.#done || s.gone) return
    const size = s.size
    if (size === null) return // it offers none (any more): nothing of ours is outstanding there
    if (totalSize !== size) {
      this.#drop(s, new ZentorrentError('BAD_METADATA_PIECE', `peer ${s.peer.label} sent total_size ${totalSize} after offering metadata_size ${size}`))
      return
    }
    const count = metadataPieceCount(size)
    if (piece >= count) {
      this.#drop(s, new ZentorrentError('BAD_METADATA_PIECE', `peer ${s.peer.label} sent metadata piece ${piece}; ${size} bytes have pieces 0-${count - 1}`))
      return
    }
    const expected = metadataPieceLength(size, piece)
    if (data.length !== expected) {
      this.#drop(s, new ZentorrentError('BAD_METADATA_PIECE', `peer ${s.peer.label} sent ${data.length} bytes for metadata piece ${piece}, which has ${expected}`))
      return
    }
    const cancel = s.outstanding.get(piece)
    if (cancel === undefined) return // late (timed out and asked elsewhere) or never asked
    cancel()
    s.outstanding.delete(piece)
    s.pieces++
    const a = this.#attempt
    if (a === null || a.size !== size || a.pieces[piece] !== null) {
      this.#pump()
      return
    }
    // A copy: the data is a view of the socket's buffer.
    a.pieces[piece] = Buffer.from(data)
    a.from[piece] = s
    this.emit('progress', this.stats())
    if (a.pieces.every((p) => p !== null)) this.#complete(a)
    else this.#pump()
  }

  // ---- completion -------------------------------------------------------------------------------------

  #complete (a: Attempt): void {
    const bytes = Buffer.concat(a.pieces as Buffer[], a.size)
    const hash = createHash('sha1').update(bytes).digest()
    if (hash.equals(this.infoHash)) {
      this.#succeed(a, bytes)
      return
    }
    const contributors = [...new Set(a.from)] as PeerState[]
    const mismatch = (s: PeerState): ZentorrentError => new ZentorrentError('METADATA_MISMATCH',
      `peer ${s.peer.label} sent metadata whose SHA1 is ${hash.toString('hex')}, not the info hash ${this.infoHash.toString('hex')}`)
    if (a.single !== null || contributors.length === 1) {
      const liar = a.single ?? (contributors[0] as PeerState)
      this.#drop(liar, mismatch(liar), false)
      if (a.single === liar) {
        this.#nextSuspect(a)
      } else {
        a.pieces.fill(null)
        a.from.fill(null)
      }
      this.#pump()
      this.emit('progress', this.stats())
      return
    }
    // Several contributors: try each one's own copy in turn, most pieces first.
    const byPeer = new Map<PeerState, Map<number, Buffer>>()
    a.from.forEach((s, i) => {
      if (s === null) return
      let own = byPeer.get(s)
      if (own === undefined) byPeer.set(s, own = new Map())
      own.set(i, a.pieces[i] as Buffer)
    })
    a.evidence = [...byPeer].map(([state, pieces]) => ({ state, pieces }))
    a.suspects = [...a.evidence].sort((x, y) => y.pieces.size - x.pieces.size)
    this.#nextSuspect(a)
    this.#pump()
  }

  /** Load the next connected suspect's own pieces and ask it alone for the rest; none left → back to parallel. */
  #nextSuspect (a: Attempt): void {
    a.pieces.fill(null)
    a.from.fill(null)
    a.single = null
    for (const s of this.#peers.values()) this.#clearOutstanding(s)
    while (a.suspects.length > 0) {
      const next = a.suspects.shift() as { state: PeerState, pieces: Map<number, Buffer> }
      if (!this.#usable(next.state) || next.state.size !== a.size) continue
      a.single = next.state
      next.state.rejected.clear()
      for (const [i, piece] of next.pieces) { a.pieces[i] = piece; a.from[i] = next.state }
      if (a.pieces.every((p) => p !== null)) {
        // Its copy is already whole (it sent every piece): judge it now.
        this.#complete(a)
      }
      return
    }
    a.evidence = []
  }

  #succeed (a: Attempt, bytes: Buffer): void {
    let meta: Metainfo
    try {
      meta = parseInfoDictionary(bytes)
    } catch (err) {
      const e = err instanceof ZentorrentError ? err : new ZentorrentError('NO_INFO', String(err))
      this.destroy()
      this.emit('error', new ZentorrentError(e.code, `the torrent's metadata (SHA1 verified) is unusable: ${e.message}`, { cause: err }))
      return
    }
    // Whoever sent pieces that differ from the verified bytes lied: drop them too.
    this.#done = true
    for (const { state, pieces } of a.evidence) {
      if (state.gone) continue
      for (const [i, piece] of pieces) {
        const start = i * METADATA_PIECE_LENGTH
        if (!piece.equals(bytes.subarray(start, start + piece.length))) {
          this.#drop(state, new ZentorrentError('METADATA_MISMATCH', `peer ${state.peer.label} sent metadata piece ${i} that is not the torrent's`), false)
          break
        }
      }
    }
    this.destroy()
    this.emit('metadata', meta)
  }
}

/**
 * The error for the caller's overall bound (--metadata-timeout): what was tried, in words a user can act on.
 * `dialed`: peer addresses the caller tried to connect to (they count even when no connection came of it).
 */
export function metadataTimeoutError (ms: number, stats: MetadataFetchStats, dialed = 0): ZentorrentError {
  const tried = stats.peers === 0
    ? dialed > 0 ? `${dialed} peer address${dialed === 1 ? '' : 'es'} tried, none connected` : 'no peer was found'
    : `${stats.peers} peer${stats.peers === 1 ? '' : 's'} connected, ${stats.sources} offering it` +
      (stats.dropped > 0 ? `, ${stats.dropped} dropped for bad metadata` : '') +
      (stats.givenUp > 0 ? `, ${stats.givenUp} not answering` : '') +
      (stats.refused > 0 ? `, ${stats.refused} with an unacceptable size` : '')
  return new ZentorrentError('METADATA_TIMEOUT', `no peer sent the torrent's metadata within ${Math.round(ms / 1000)} s (${tried})`)
}
