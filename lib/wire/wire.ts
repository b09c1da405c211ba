/**
 * Wire: one peer connection as a Duplex stream, used as `pump(socket, wire, socket)`.
 *
 *   writable side  ← bytes from the socket, parsed by a FrameDecoder (handshake first, then messages)
 *   readable side  → our handshake and encoded messages, pushed with backpressure (bounded queue)
 *
 * The API is the BEP 3 vocabulary: one method per message we send, one event per message received (after
 * validation), and the per-connection state BEP 3 names (am_choking, am_interested, peer_choking,
 * peer_interested). The Wire knows nothing about disks, pickers or other peers.
 *
 * Roles:
 * - initiator (`infoHash` given): our handshake goes out at once; the peer's must carry the same info hash.
 * - responder (no `infoHash`): the peer's handshake is parsed, `'handshake'` is emitted and parsing pauses
 *   (the socket is back-pressured, nothing else is buffered) until the owner calls `accept(torrent)` or
 *   `destroy(UNKNOWN_INFO_HASH)`. This is how libtorrent serves many torrents on one port.
 *
 * Hostile or broken peers end with `destroy(ZentorrentError)`; the rules and the BEP they come from are next
 * to each check below. A policy choice that BEPs leave open:
 * - UNREQUESTED_PIECE: a block we did not request is dropped and counted. A block for a request we cancelled or
 *   cleared (or that a choke voided) is "late", not hostile: it was in flight (BEP 3 cancel is a race), so it is
 *   dropped silently. Only more than `maxUnrequestedPieces` truly unrequested blocks destroy the wire
 *   (libtorrent also tolerates a few before disconnecting).
 * - Request queue, as tolerant as libtorrent: we advertise `reqq` (500) but hold and serve up to `maxPeerRequests`
 *   (2000, libtorrent's `max_allowed_in_request_queue`) outstanding requests; clients such as rtorrent ignore
 *   `reqq` and keep 500-700 outstanding at a fast peer, and dropping them mid-download lost the peer for good
 *   (rtorrent does not reconnect). Past `maxPeerRequests` a request is refused: `reject`ed with the Fast extension
 *   (BEP 6), dropped silently without it (BEP 3 has no way to say no; libtorrent does the same).
 * - Request flood (REQUEST_FLOOD) is kept for real floods, counted since we last served a block: more than
 *   `maxRefusedRequests` (20,000: ten times the queue) refused requests (queue full, or while we choke the peer),
 *   or more than `maxRepeatedRequests` (2000) requests for blocks we had already refused for a full queue — a
 *   peer asking again and again for what it was told it cannot have.
 */
import { Duplex } from 'node:stream'
import { systemClock, type Cancel, type Clock } from '../clock.js'
import { ZentorrentError } from '../errors.js'
import { BLOCK_LENGTH, createGeometry, type PieceGeometry } from '../geometry.js'
import { BitField } from './bitfield.js'
import { FrameDecoder, FRAMING_DEFAULTS, type Frame } from './framing.js'
import { encodeHandshake, type Handshake } from './handshake.js'
import {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
  encodeMessage,
  type BlockRequest,
  type ExtendedHandshake,
  type Message
} from './messages.js'
import { RateMeter } from './rate.js'

/** What a responder learns when it accepts a connection; also what an initiator passes at construction. */
export interface TorrentShape {
  infoHash: Buffer
  pieceCount?: number
  pieceLength?: number
  /** Defaults to `pieceLength`. */
  lastPieceLength?: number
}

export interface WireOptions {
  /** Our 20-byte peer id. */
  peerId: Buffer
  /** Initiator role when given; responder role (wait for the peer's handshake, then `accept`) when omitted. */
  infoHash?: Buffer
  pieceCount?: number
  pieceLength?: number
  lastPieceLength?: number
  /** Largest block we request or serve; a peer asking more is dropped (REQUEST_TOO_LONG). Default 16384. */
  maxRequestLength?: number
  /**
   * Outstanding requests we advertise in our extended handshake (BEP 10 `reqq`). Default 500 (libtorrent's
   * `max_out_request_queue`): at 250, aria2, which keeps ~300-400 queued at a fast peer, was refused constantly.
   */
  reqq?: number
  /**
   * Outstanding peer requests we hold and serve (emit as 'request'); past them a request is refused (see the
   * module comment). Default 2000, libtorrent's `max_allowed_in_request_queue` (at least `reqq`).
   */
  maxPeerRequests?: number
  /** Refused requests (queue full, or while choked) since we last served a block, before REQUEST_FLOOD. Default 20,000. */
  maxRefusedRequests?: number
  /** Requests repeating one we refused for a full queue, since we last served a block, before REQUEST_FLOOD. Default 2000. */
  maxRepeatedRequests?: number
  /** Send a keep-alive after this much of our silence (BEP 3: peers drop after two minutes). Default 120 s. */
  keepAliveInterval?: number
  /** Drop the peer after this much of its silence (PEER_TIMEOUT). Default 180 s. */
  timeout?: number
  /** Both handshakes must be exchanged within this (HANDSHAKE_TIMEOUT). Default 20 s. */
  handshakeTimeout?: number
  /** Advertise BEP 10. Default true. */
  extended?: boolean
  /** Advertise BEP 6. Default true. */
  fast?: boolean
  /** Advertise a DHT node (BEP 5 reserved bit). Default false. */
  dht?: boolean
  /** Truly unrequested blocks tolerated before UNREQUESTED_PIECE. Default 8. */
  maxUnrequestedPieces?: number
  /** Bytes we queue for a peer that does not read before SEND_BUFFER_FULL. Default 8 MiB (= 500 × 16 KiB). */
  maxSendBuffer?: number
  /** Largest extended message payload accepted. Default 1 MiB. */
  maxExtendedLength?: number
  /** Clock for rates and timers (lib/clock.ts); a fake one in tests. Default the system clock. */
  clock?: Clock
}

/** Outgoing bytes coalesced into one chunk (one socket write) at most. */
export const COALESCE_BYTES = 64 * 1024

export const WIRE_DEFAULTS = {
  maxRequestLength: BLOCK_LENGTH,
  reqq: 500,
  maxPeerRequests: 2000,
  maxRefusedRequests: 20_000,
  maxRepeatedRequests: 2000,
  keepAliveInterval: 120_000,
  timeout: 180_000,
  handshakeTimeout: 20_000,
  maxUnrequestedPieces: 8,
  maxSendBuffer: 8 * 1024 * 1024,
  maxExtendedLength: FRAMING_DEFAULTS.maxExtendedLength,
  /** How many cancelled/voided requests we remember to recognise late blocks and rejects. */
  recentlyCancelled: 1024,
  /** Reqq a peer gets when its extended handshake gives none (libtorrent's default, BEP 10). */
  peerReqq: 250
} as const

function blockKey (index: number, offset: number): string {
  return `${index}:${offset}`
}

/** Outstanding block requests, keyed by (index, offset). */
export class RequestList {
  readonly #map = new Map<string, BlockRequest>()
  readonly #onForget: ((r: BlockRequest) => void) | undefined

  constructor (onForget?: (r: BlockRequest) => void) {
    this.#onForget = onForget
  }

  get count (): number {
    return this.#map.size
  }

  /** The request at (index, offset), if any and (when given) of that length. */
  get (index: number, offset: number, length?: number): BlockRequest | undefined {
    const r = this.#map.get(blockKey(index, offset))
    return r !== undefined && (length === undefined || r.length === length) ? r : undefined
  }

  has (index: number, offset: number, length?: number): boolean {
    return this.get(index, offset, length) !== undefined
  }

  list (): BlockRequest[] {
    return [...this.#map.values()]
  }

  /** Forget every request (no message is sent) and return them; late blocks for them are then dropped quietly. */
  clear (): BlockRequest[] {
    const all = this.list()
    this.#map.clear()
    if (this.#onForget !== undefined) for (const r of all) this.#onForget(r)
    return all
  }

  /** @internal */
  add (r: BlockRequest): void {
    this.#map.set(blockKey(r.index, r.offset), r)
  }

  /** @internal */
  delete (index: number, offset: number, length?: number): BlockRequest | undefined {
    const r = this.get(index, offset, length)
    if (r !== undefined) this.#map.delete(blockKey(index, offset))
    return r
  }
}

export interface WireEvents {
  handshake: [handshake: Handshake]
  'keep-alive': []
  choke: [voided: BlockRequest[]]
  unchoke: []
  interested: []
  'not-interested': []
  have: [index: number]
  bitfield: [bitfield: BitField]
  'have-all': []
  'have-none': []
  request: [index: number, offset: number, length: number]
  piece: [index: number, offset: number, data: Buffer]
  cancel: [index: number, offset: number, length: number]
  reject: [index: number, offset: number, length: number]
  'allowed-fast': [index: number]
  suggest: [index: number]
  port: [port: number]
  'extended-handshake': [dict: ExtendedHandshake]
  extended: [id: number, payload: Buffer]
  /** A block we never requested was dropped (counted; see UNREQUESTED_PIECE above). */
  'unrequested-piece': [index: number, offset: number, length: number]
}

/** Listeners of one event a wire takes before Node warns of a leak. */
const WIRE_LISTENERS = 24

export class Wire extends Duplex {
  // options
  readonly #localPeerId: Buffer
  readonly #maxRequestLength: number
  readonly #reqq: number
  readonly #maxPeerRequests: number
  readonly #maxRefused: number
  readonly #maxRepeated: number
  readonly #keepAliveInterval: number
  readonly #timeout: number
  readonly #maxUnrequested: number
  readonly #maxSendBuffer: number
  readonly #extended: boolean
  readonly #fast: boolean
  readonly #dht: boolean
  readonly #now: () => number
  readonly #clock: Clock

  // torrent
  #infoHash: Buffer | null
  #pieceCount: number | undefined
  #pieceLength: number | undefined
  #lastPieceLength: number | undefined

  /** The piece layout once the piece count is known (lib/geometry.ts: the one place piece sizes are computed). */
  #geometry: PieceGeometry | null = null

  // handshake
  readonly #decoder: FrameDecoder
  #handshakeSent = false
  #peerHandshake: Handshake | null = null
  #awaitingAccept = false
  #handshakeDone = false
  /** The rest of a chunk that arrived while waiting for accept(), with its write callback. */
  #paused: { chunk: Buffer, cb: (err?: Error | null) => void } | null = null

  // BEP 3 state
  #amChoking = true
  #amInterested = false
  #peerChoking = true
  #peerInterested = false
  #peerPieces: BitField
  #peerHasAll = false
  /** Byte length of the peer's bitfield message while the piece count is unknown (checked by `setShape`). */
  #unsizedBitfieldBytes: number | null = null
  #peerExtended: ExtendedHandshake | null = null
  readonly #requests: RequestList
  readonly #peerRequests = new RequestList()
  /** Keys of requests we cancelled or forgot, oldest first, bounded: their blocks/rejects may still arrive. */
  readonly #recentlyCancelled = new Set<string>()
  /** BEP 6 allowed-fast sets: pieces we let the peer request while choked, and those it lets us. */
  readonly #allowedFastSent = new Set<number>()
  readonly #allowedFastReceived = new Set<number>()
  /** Requests refused since we last served a block (see REQUEST_FLOOD above), and how many repeated a refused one. */
  #refused = 0
  #repeated = 0
  /** Keys of requests refused for a full queue, oldest first, bounded by maxPeerRequests. */
  readonly #refusedKeys = new Set<string>()
  #unrequestedPieces = 0

  // accounting
  #downloaded = 0
  #uploaded = 0
  readonly #downloadRate: RateMeter
  readonly #uploadRate: RateMeter
  #lastMessageAt: number
  #lastSentAt: number

  // output
  readonly #out: Buffer[] = []
  #outBytes = 0
  #canPush = true
  #flushScheduled = false
  #ending = false

  // timers
  #handshakeTimer: Cancel | null = null
  #watchdog: Cancel | null = null

  constructor (opts: WireOptions) {
    super({ allowHalfOpen: true })
    // Every stage a wire is attached to (swarm, scheduler, uploader, PEX, metadata, listener, the pipes) watches its
    // close: ten of them are not a leak, and Node's warning would reach the user's terminal.
    this.setMaxListeners(WIRE_LISTENERS)
    if (opts.peerId.length !== 20) throw new ZentorrentError('BAD_ARGUMENT', `peer id must be 20 bytes, got ${opts.peerId.length}`)
    if (opts.infoHash !== undefined && opts.infoHash.length !== 20) {
      throw new ZentorrentError('BAD_ARGUMENT', `info hash must be 20 bytes, got ${opts.infoHash.length}`)
    }
    this.#localPeerId = opts.peerId
    this.#maxRequestLength = opts.maxRequestLength ?? WIRE_DEFAULTS.maxRequestLength
    this.#reqq = opts.reqq ?? WIRE_DEFAULTS.reqq
    this.#maxPeerRequests = opts.maxPeerRequests ?? Math.max(WIRE_DEFAULTS.maxPeerRequests, this.#reqq)
    this.#maxRefused = opts.maxRefusedRequests ?? WIRE_DEFAULTS.maxRefusedRequests
    this.#maxRepeated = opts.maxRepeatedRequests ?? WIRE_DEFAULTS.maxRepeatedRequests
    this.#keepAliveInterval = opts.keepAliveInterval ?? WIRE_DEFAULTS.keepAliveInterval
    this.#timeout = opts.timeout ?? WIRE_DEFAULTS.timeout
    this.#maxUnrequested = opts.maxUnrequestedPieces ?? WIRE_DEFAULTS.maxUnrequestedPieces
    this.#maxSendBuffer = opts.maxSendBuffer ?? WIRE_DEFAULTS.maxSendBuffer
    this.#extended = opts.extended ?? true
    this.#fast = opts.fast ?? true
    this.#dht = opts.dht ?? false
    this.#clock = opts.clock ?? systemClock
    this.#now = this.#clock.now
    this.#downloadRate = new RateMeter(this.#now)
    this.#uploadRate = new RateMeter(this.#now)
    this.#lastMessageAt = this.#lastSentAt = this.#now()
    this.#requests = new RequestList((r) => { this.#rememberCancelled(r) })

    this.#infoHash = opts.infoHash ?? null
    this.#setShape(opts)
    this.#peerPieces = new BitField(this.#pieceCount ?? 0)
    this.#decoder = new FrameDecoder({
      handshake: true,
      pieceCount: this.#pieceCount,
      maxBlockLength: this.#maxRequestLength,
      maxExtendedLength: opts.maxExtendedLength ?? WIRE_DEFAULTS.maxExtendedLength
    })

    const handshakeTimeout = opts.handshakeTimeout ?? WIRE_DEFAULTS.handshakeTimeout
    this.#handshakeTimer = this.#clock.schedule(() => {
      this.#handshakeTimer = null
      this.destroy(new ZentorrentError('HANDSHAKE_TIMEOUT', `no handshake completed within ${handshakeTimeout} ms`))
    }, handshakeTimeout)

    if (this.#infoHash !== null) this.#sendHandshake()
  }

  #setShape (shape: { pieceCount?: number, pieceLength?: number, lastPieceLength?: number }): void {
    this.#geometry = null
    this.#pieceCount = shape.pieceCount
    this.#pieceLength = shape.pieceLength
    this.#lastPieceLength = shape.lastPieceLength ?? shape.pieceLength
  }

  // ---- state --------------------------------------------------------------------------------------------

  get amChoking (): boolean { return this.#amChoking }
  get amInterested (): boolean { return this.#amInterested }
  get peerChoking (): boolean { return this.#peerChoking }
  get peerInterested (): boolean { return this.#peerInterested }
  /** Pieces the peer has (from bitfield, have, have-all, have-none). */
  get peerPieces (): BitField { return this.#peerPieces }
  /** True after have-all, even while the piece count is unknown. */
  get peerHasAll (): boolean { return this.#peerHasAll }
  /** The peer's 20-byte id, once its handshake arrived. */
  get peerId (): Buffer | null { return this.#peerHandshake?.peerId ?? null }
  get localPeerId (): Buffer { return this.#localPeerId }
  get infoHash (): Buffer | null { return this.#infoHash }
  get handshakeComplete (): boolean { return this.#handshakeDone }
  /** The peer's BEP 10 handshake dictionary, or null. */
  get peerExtended (): ExtendedHandshake | null { return this.#peerExtended }
  /** How many requests the peer accepts outstanding (its `reqq`, else libtorrent's default 250). */
  get peerReqq (): number { return this.#peerExtended?.reqq ?? WIRE_DEFAULTS.peerReqq }
  get supportsFast (): boolean { return this.#fast && this.#peerHandshake?.fast === true }
  /** The peer runs a DHT node (BEP 5): it may be sent our `port`. */
  get supportsDht (): boolean { return this.#peerHandshake?.dht === true }
  get supportsExtended (): boolean { return this.#extended && this.#peerHandshake?.extended === true }
  /** Payload bytes of accepted blocks received. */
  get downloaded (): number { return this.#downloaded }
  /** Payload bytes of blocks sent. */
  get uploaded (): number { return this.#uploaded }
  downloadRate (): number { return this.#downloadRate.rate() }
  uploadRate (): number { return this.#uploadRate.rate() }
  /** Our outstanding requests to the peer. */
  get requests (): RequestList { return this.#requests }
  /** The peer's outstanding requests to us (to serve with `piece` or `reject`). */
  get peerRequests (): RequestList { return this.#peerRequests }
  /** Pieces the peer allows us to request while it chokes us (BEP 6). */
  get peerAllowedFast (): ReadonlySet<number> { return this.#allowedFastReceived }
  /** Pieces we granted with `allowedFast` (BEP 6): the peer may request them while we choke it. */
  get allowedFastSent (): ReadonlySet<number> { return this.#allowedFastSent }
  /** Clock time (opts.now) of the last message received. */
  get lastMessageAt (): number { return this.#lastMessageAt }
  /** Truly unrequested blocks received and dropped so far. */
  get unrequestedPieces (): number { return this.#unrequestedPieces }
  /** Bytes queued by us beyond what the readable side has taken. */
  get sendBuffered (): number { return this.#outBytes }

  // ---- handshake ----------------------------------------------------------------------------------------

  #sendHandshake (): void {
    if (this.#handshakeSent || this.#infoHash === null) return
    this.#handshakeSent = true
    this.#lastSentAt = this.#now()
    this.#canPush = this.push(encodeHandshake({
      infoHash: this.#infoHash,
      peerId: this.#localPeerId,
      extended: this.#extended,
      fast: this.#fast,
      dht: this.#dht
    }))
    this.#flush()
  }

  /**
   * Responder role: take the connection for this torrent (after `'handshake'`). Sends our handshake and
   * resumes parsing. To refuse, call `destroy(new ZentorrentError('UNKNOWN_INFO_HASH', …))` instead.
   */
  accept (torrent: TorrentShape): void {
    if (this.destroyed) return
    if (!this.#awaitingAccept || this.#peerHandshake === null) {
      throw new ZentorrentError('BAD_ARGUMENT', 'accept() is for a responder Wire that has received a handshake')
    }
    if (!torrent.infoHash.equals(this.#peerHandshake.infoHash)) {
      throw new ZentorrentError('BAD_ARGUMENT', 'accept() must be given the info hash the peer asked for')
    }
    this.#awaitingAccept = false
    this.#infoHash = torrent.infoHash
    this.#setShape(torrent)
    this.#decoder.setPieceCount(this.#pieceCount)
    this.#peerPieces = new BitField(this.#pieceCount ?? 0)
    this.#sendHandshake()
    this.#completeHandshake()
    const paused = this.#paused
    if (paused !== null) {
      this.#paused = null
      this.#consume(paused.chunk, paused.cb)
    }
  }

  /**
   * The torrent's shape, learned after the handshake (a magnet link's metadata arrived, BEP 9). Once only, on a wire
   * that was made without a piece count. What the peer said meanwhile is checked now as it would have been on
   * arrival (BEP 3): a bitfield of the wrong size, spare bits set, or a `have` past the last piece destroy the wire
   * (BAD_BITFIELD, INDEX_OUT_OF_RANGE) and return false. Then the peer's pieces are sized to the torrent (all of
   * them after have-all) and later messages are checked against it.
   */
  setShape (shape: { pieceCount: number, pieceLength: number, lastPieceLength?: number }): boolean {
    if (this.destroyed) return false
    if (this.#pieceCount !== undefined) throw new ZentorrentError('BAD_ARGUMENT', 'setShape() is for a wire made without a piece count')
    const count = shape.pieceCount
    if (!Number.isSafeInteger(count) || count <= 0) throw new ZentorrentError('BAD_ARGUMENT', `piece count must be a positive integer, got ${count}`)
    const bytes = this.#unsizedBitfieldBytes
    if (bytes !== null && bytes !== BitField.byteLength(count)) {
      this.destroy(new ZentorrentError('BAD_BITFIELD', `peer's bitfield has ${bytes} bytes, expected ${BitField.byteLength(count)} for ${count} pieces`))
      return false
    }
    for (let i = count; i < this.#peerPieces.length; i++) {
      if (!this.#peerPieces.get(i)) continue
      this.destroy(bytes !== null && i < bytes * 8
        ? new ZentorrentError('BAD_BITFIELD', `peer's bitfield has spare bits set beyond piece ${count - 1}`)
        : new ZentorrentError('INDEX_OUT_OF_RANGE', `peer sent have for piece ${i}, but the torrent has ${count} pieces`))
      return false
    }
    this.#setShape(shape)
    this.#decoder.setPieceCount(count)
    this.#unsizedBitfieldBytes = null
    this.#peerPieces = this.#peerHasAll ? BitField.full(count) : this.#peerPieces.resize(count)
    return true
  }

  #onHandshake (hs: Handshake): boolean {
    this.#peerHandshake = hs
    this.#lastMessageAt = this.#now()
    if (this.#infoHash !== null) {
      // Initiator (BEP 3): "If [the info hash] is not the same on both sides, the connection is severed."
      if (!hs.infoHash.equals(this.#infoHash)) {
        throw new ZentorrentError('INFO_HASH_MISMATCH', `peer answered for info hash ${hs.infoHash.toString('hex')}, we asked for ${this.#infoHash.toString('hex')}`)
      }
      this.#completeHandshake()
      this.emit('handshake', hs)
      return !this.destroyed
    }
    this.#awaitingAccept = true
    this.emit('handshake', hs)
    // accept() may have been called synchronously from the listener.
    return !this.destroyed && !this.#awaitingAccept
  }

  #completeHandshake (): void {
    this.#handshakeDone = true
    if (this.#handshakeTimer !== null) {
      this.#handshakeTimer()
      this.#handshakeTimer = null
    }
    this.#armWatchdog()
  }

  // ---- timers -------------------------------------------------------------------------------------------

  /**
   * One timer for both keep-alive and idle timeout, re-armed for the nearer deadline when it fires (never
   * per message: a busy connection costs no timer churn).
   */
  #armWatchdog (): void {
    if (this.destroyed) return
    const now = this.#now()
    const next = Math.min(this.#lastSentAt + this.#keepAliveInterval, this.#lastMessageAt + this.#timeout)
    this.#watchdog = this.#clock.schedule(() => { this.#onWatchdog() }, Math.max(1, next - now))
  }

  #onWatchdog (): void {
    this.#watchdog = null
    if (this.destroyed) return
    const now = this.#now()
    if (now - this.#lastMessageAt >= this.#timeout) {
      this.destroy(new ZentorrentError('PEER_TIMEOUT', `peer sent nothing for ${now - this.#lastMessageAt} ms`))
      return
    }
    if (now - this.#lastSentAt >= this.#keepAliveInterval) this.keepAlive()
    this.#armWatchdog()
  }

  // ---- incoming -----------------------------------------------------------------------------------------

  override _write (chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#consume(chunk, cb)
  }

  #consume (chunk: Buffer, cb: (err?: Error | null) => void): void {
    let consumed: number
    try {
      consumed = this.#decoder.write(chunk, this.#onFrame)
    } catch (err) {
      cb(err as Error)
      return
    }
    if (this.destroyed) return
    if (consumed < chunk.length) {
      // Paused for accept(): hold the rest (a view, not a copy) and the callback, so the socket waits.
      this.#paused = { chunk: chunk.subarray(consumed), cb }
      return
    }
    cb()
  }

  readonly #onFrame = (frame: Frame): boolean => {
    if (this.destroyed) return false
    if (frame.type === 'handshake') return this.#onHandshake(frame)
    this.#onMessage(frame)
    return !this.destroyed
  }

  #pieceSize (index: number): number | undefined {
    if (this.#pieceLength === undefined || this.#pieceCount === undefined) return undefined
    this.#geometry ??= createGeometry({ pieceCount: this.#pieceCount, pieceLength: this.#pieceLength, lastPieceLength: this.#lastPieceLength ?? this.#pieceLength })
    return this.#geometry.pieceSize(index)
  }

  #checkIndex (what: string, index: number): void {
    if (this.#pieceCount !== undefined && index >= this.#pieceCount) {
      throw new ZentorrentError('INDEX_OUT_OF_RANGE', `peer sent ${what} for piece ${index}, but the torrent has ${this.#pieceCount} pieces`)
    }
  }

  #checkBlock (what: string, index: number, offset: number, length: number): void {
    this.#checkIndex(what, index)
    const size = this.#pieceSize(index)
    if (size !== undefined && offset + length > size) {
      throw new ZentorrentError('INDEX_OUT_OF_RANGE', `peer sent ${what} for bytes ${offset}..${offset + length} of piece ${index}, which has ${size} bytes`)
    }
  }

  /** BEP 6: "Fast" messages from a peer that did not set the reserved bit are a protocol violation. */
  #requireFast (type: string): void {
    if (!this.supportsFast) throw new ZentorrentError('BAD_MESSAGE', `peer sent ${type}, a Fast extension (BEP 6) message, without negotiating it`)
  }

  #onMessage (msg: Message): void {
    this.#lastMessageAt = this.#now()
    switch (msg.type) {
      case 'keep-alive':
        this.emit('keep-alive')
        return
      case 'choke': {
        this.#peerChoking = true
        // BEP 3: a choke discards our pending requests. BEP 6: with Fast, they stay until rejected or served.
        let voided: BlockRequest[] = []
        if (!this.supportsFast) voided = this.#requests.clear()
        this.emit('choke', voided)
        return
      }
      case 'unchoke':
        this.#peerChoking = false
        this.emit('unchoke')
        return
      case 'interested':
        this.#peerInterested = true
        this.emit('interested')
        return
      case 'not-interested':
        this.#peerInterested = false
        this.emit('not-interested')
        return
      case 'have':
        this.#checkIndex('have', msg.index)
        if (msg.index >= this.#peerPieces.length) {
          // Piece count unknown (metadata not yet fetched): grow, bounded by what a bitfield could hold.
          if (msg.index >= FRAMING_DEFAULTS.maxBitfieldLength * 8) throw new ZentorrentError('INDEX_OUT_OF_RANGE', `peer sent have for piece ${msg.index}`)
          this.#peerPieces = this.#peerPieces.resize(msg.index + 1)
        }
        // a repeat carries no news; emitting it would make listeners count the piece twice
        if (this.#peerPieces.get(msg.index)) return
        this.#peerPieces.set(msg.index)
        this.emit('have', msg.index)
        return
      case 'bitfield':
        // BEP 3: wrong size or spare bits set → drop the connection (BitField.fromBuffer throws BAD_BITFIELD).
        this.#peerPieces = BitField.fromBuffer(msg.bitfield, this.#pieceCount)
        if (this.#pieceCount === undefined) this.#unsizedBitfieldBytes = msg.bitfield.length
        this.emit('bitfield', this.#peerPieces)
        return
      case 'have-all':
        this.#requireFast('have-all')
        this.#peerHasAll = true
        this.#peerPieces.setAll()
        this.emit('have-all')
        return
      case 'have-none':
        this.#requireFast('have-none')
        this.#peerHasAll = false
        this.#peerPieces.clear()
        this.emit('have-none')
        return
      case 'request':
        this.#onRequest(msg)
        return
      case 'piece':
        this.#onPiece(msg.index, msg.offset, msg.data)
        return
      case 'cancel': {
        this.#checkBlock('cancel', msg.index, msg.offset, msg.length)
        const removed = this.#peerRequests.delete(msg.index, msg.offset, msg.length)
        // BEP 6: with Fast, a cancelled request is answered by a reject (or the piece, if already sent).
        if (removed !== undefined && this.supportsFast) this.#sendMessage({ type: 'reject', index: msg.index, offset: msg.offset, length: msg.length })
        this.emit('cancel', msg.index, msg.offset, msg.length)
        return
      }
      case 'reject': {
        this.#requireFast('reject')
        this.#checkBlock('reject', msg.index, msg.offset, msg.length)
        if (this.#requests.delete(msg.index, msg.offset, msg.length) !== undefined) {
          this.emit('reject', msg.index, msg.offset, msg.length)
          return
        }
        // A reject answering our cancel is expected; one for a request never sent is a violation (BEP 6:
        // "the peer SHOULD close the connection").
        if (this.#recentlyCancelled.delete(blockKey(msg.index, msg.offset))) return
        throw new ZentorrentError('BAD_MESSAGE', `peer rejected block ${msg.index}:${msg.offset}, which we never requested`)
      }
      case 'allowed-fast':
        this.#requireFast('allowed-fast')
        this.#checkIndex('allowed-fast', msg.index)
        // BEP 6 allowed-fast sets are small (libtorrent sends 10); bound what we keep.
        if (this.#allowedFastReceived.size < 1024) this.#allowedFastReceived.add(msg.index)
        this.emit('allowed-fast', msg.index)
        return
      case 'suggest':
        this.#requireFast('suggest')
        this.#checkIndex('suggest', msg.index)
        this.emit('suggest', msg.index)
        return
      case 'port':
        this.emit('port', msg.port)
        return
      case 'extended':
        // BEP 10: only between peers that both set the reserved bit.
        if (!this.supportsExtended) throw new ZentorrentError('BAD_MESSAGE', 'peer sent an extended (BEP 10) message without negotiating it')
        if (msg.id === 0) {
          this.#peerExtended = decodeExtendedHandshake(msg.payload)
          this.emit('extended-handshake', this.#peerExtended)
        } else {
          this.emit('extended', msg.id, msg.payload)
        }
    }
  }

  #onRequest (r: BlockRequest): void {
    const { index, offset, length } = r
    if (length > this.#maxRequestLength) {
      throw new ZentorrentError('REQUEST_TOO_LONG', `peer requested ${length} bytes, more than the ${this.#maxRequestLength} we serve`)
    }
    if (length === 0) throw new ZentorrentError('BAD_MESSAGE', `peer requested an empty block of piece ${index}`)
    this.#checkBlock('request', index, offset, length)
    // BEP 3: requests while choked are discarded; BEP 6: with Fast, rejected, except allowed-fast pieces.
    if (this.#amChoking && !this.#allowedFastSent.has(index)) {
      this.#refuse(index, offset, length)
      return
    }
    if (this.#peerRequests.has(index, offset)) return // a duplicate: one answer is enough
    if (this.#peerRequests.count >= this.#maxPeerRequests) {
      const key = blockKey(index, offset)
      if (this.#refusedKeys.has(key) && ++this.#repeated > this.#maxRepeated) {
        throw new ZentorrentError('REQUEST_FLOOD', `peer asked ${this.#repeated} times again for blocks we refused ` +
          `(its ${this.#maxPeerRequests} outstanding requests fill our queue) without our serving one in between`)
      }
      this.#refusedKeys.delete(key)
      this.#refusedKeys.add(key)
      if (this.#refusedKeys.size > this.#maxPeerRequests) this.#refusedKeys.delete(this.#refusedKeys.values().next().value as string)
      this.#refuse(index, offset, length)
      return
    }
    this.#peerRequests.add({ index, offset, length })
    this.emit('request', index, offset, length)
  }

  /** Refuse a request: `reject` with Fast (BEP 6), silence without; a flood past maxRefusedRequests ends the wire. */
  #refuse (index: number, offset: number, length: number): void {
    if (++this.#refused > this.#maxRefused) {
      throw new ZentorrentError('REQUEST_FLOOD', `peer sent ${this.#refused} requests we could not take (queue full at ` +
        `${this.#maxPeerRequests}, or choked) without our serving one in between`)
    }
    if (this.supportsFast) this.#sendMessage({ type: 'reject', index, offset, length })
  }

  #resetRefused (): void {
    this.#refused = 0
    this.#repeated = 0
    this.#refusedKeys.clear()
  }

  #onPiece (index: number, offset: number, data: Buffer): void {
    this.#checkBlock('piece', index, offset, data.length)
    if (this.#requests.delete(index, offset, data.length) !== undefined) {
      this.#downloaded += data.length
      this.#downloadRate.add(data.length)
      this.emit('piece', index, offset, data)
      return
    }
    if (this.#recentlyCancelled.delete(blockKey(index, offset))) return // late: was in flight when we cancelled
    this.#unrequestedPieces++
    this.emit('unrequested-piece', index, offset, data.length)
    if (this.#unrequestedPieces > this.#maxUnrequested) {
      throw new ZentorrentError('UNREQUESTED_PIECE', `peer sent ${this.#unrequestedPieces} blocks we never requested`)
    }
  }

  #rememberCancelled (r: BlockRequest): void {
    const key = blockKey(r.index, r.offset)
    this.#recentlyCancelled.delete(key)
    this.#recentlyCancelled.add(key)
    if (this.#recentlyCancelled.size > WIRE_DEFAULTS.recentlyCancelled) {
      const oldest = this.#recentlyCancelled.values().next()
      if (oldest.done !== true) this.#recentlyCancelled.delete(oldest.value)
    }
  }

  // ---- outgoing -----------------------------------------------------------------------------------------

  #sendMessage (msg: Message): void {
    if (this.destroyed || this.#ending) return
    this.#lastSentAt = this.#now()
    for (const part of encodeMessage(msg)) {
      this.#out.push(part)
      this.#outBytes += part.length
    }
    if (this.#outBytes > this.#maxSendBuffer) {
      this.destroy(new ZentorrentError('SEND_BUFFER_FULL', `peer is not reading: ${this.#outBytes} bytes queued for it`))
      return
    }
    // Messages sent in one tick leave together (see #flush). A tick is bounded: past COALESCE_BYTES we push now.
    if (this.#outBytes >= COALESCE_BYTES) this.#flush()
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      process.nextTick(() => {
        this.#flushScheduled = false
        this.#flush()
      })
    }
  }

  /**
   * Push queued messages to the readable side, coalescing consecutive parts into chunks of up to COALESCE_BYTES:
   * every chunk becomes one socket write, so a batch of requests is one write instead of one per 17-byte
   * message, and a block goes out with its header rather than as two writes. (The copy costs ~1 µs per 16 KiB;
   * a write costs a system call.) A message is never split between the stream's buffer and our queue.
   */
  #flush (): void {
    if (!this.#handshakeSent || this.destroyed) return
    const out = this.#out
    let i = 0
    while (this.#canPush && i < out.length) {
      let j = i + 1
      let bytes = out[i]!.length
      while (j < out.length && bytes + out[j]!.length <= COALESCE_BYTES) bytes += out[j++]!.length
      const chunk = j - i === 1 ? out[i]! : Buffer.concat(out.slice(i, j), bytes)
      this.#outBytes -= bytes
      i = j
      this.#canPush = this.push(chunk)
    }
    if (i > 0) out.splice(0, i)
    if (this.#ending && out.length === 0) this.push(null)
  }

  override _read (): void {
    this.#canPush = true
    this.#flush()
  }

  /** The peer ended its side: finish sending what is queued, then end ours. */
  override _final (cb: (err?: Error | null) => void): void {
    this.#ending = true
    if (this.#handshakeSent) this.#flush()
    else this.push(null)
    cb()
  }

  override _destroy (err: Error | null, cb: (err?: Error | null) => void): void {
    this.#handshakeTimer?.()
    this.#watchdog?.()
    this.#handshakeTimer = this.#watchdog = null
    this.#out.length = 0
    this.#outBytes = 0
    this.#paused = null
    cb(err)
  }

  #requireFastOut (type: string): void {
    if (this.#peerHandshake !== null && !this.supportsFast) {
      throw new ZentorrentError('BAD_ARGUMENT', `cannot send ${type}: the Fast extension (BEP 6) was not negotiated`)
    }
  }

  // ---- send methods (BEP 3 names) ------------------------------------------------------------------------

  choke (): void {
    if (this.#amChoking) return
    this.#amChoking = true
    this.#sendMessage({ type: 'choke' })
    // BEP 3: choking discards the peer's requests. BEP 6: with Fast they must be rejected explicitly, except
    // for allowed-fast pieces, which stay servable.
    for (const r of this.#peerRequests.list()) {
      if (this.supportsFast && this.#allowedFastSent.has(r.index)) continue
      this.#peerRequests.delete(r.index, r.offset)
      if (this.supportsFast) this.#sendMessage({ type: 'reject', ...r })
    }
    this.#resetRefused()
  }

  unchoke (): void {
    if (!this.#amChoking) return
    this.#amChoking = false
    this.#resetRefused()
    this.#sendMessage({ type: 'unchoke' })
  }

  interested (): void {
    if (this.#amInterested) return
    this.#amInterested = true
    this.#sendMessage({ type: 'interested' })
  }

  uninterested (): void {
    if (!this.#amInterested) return
    this.#amInterested = false
    this.#sendMessage({ type: 'not-interested' })
  }

  have (index: number): void {
    this.#sendMessage({ type: 'have', index })
  }

  bitfield (bitfield: BitField): void {
    this.#sendMessage({ type: 'bitfield', bitfield: bitfield.toBuffer() })
  }

  /** Ask for a block; recorded in `requests` until the piece, a reject, a cancel or (without Fast) a choke. */
  request (index: number, offset: number, length: number): void {
    if (length > this.#maxRequestLength || length <= 0) {
      throw new ZentorrentError('BAD_ARGUMENT', `block length ${length} is outside 1..${this.#maxRequestLength}`)
    }
    if (this.#requests.has(index, offset)) return
    this.#requests.add({ index, offset, length })
    this.#sendMessage({ type: 'request', index, offset, length })
  }

  /** Send a block (not copied: `data` is pushed as is). */
  piece (index: number, offset: number, data: Buffer): void {
    if (this.destroyed) return
    this.#peerRequests.delete(index, offset)
    this.#resetRefused()
    this.#uploaded += data.length
    this.#uploadRate.add(data.length)
    this.#sendMessage({ type: 'piece', index, offset, data })
  }

  cancel (index: number, offset: number, length: number): void {
    const r = this.#requests.delete(index, offset)
    if (r !== undefined) this.#rememberCancelled(r)
    this.#sendMessage({ type: 'cancel', index, offset, length })
  }

  port (port: number): void {
    this.#sendMessage({ type: 'port', port })
  }

  haveAll (): void {
    this.#requireFastOut('have-all')
    this.#sendMessage({ type: 'have-all' })
  }

  haveNone (): void {
    this.#requireFastOut('have-none')
    this.#sendMessage({ type: 'have-none' })
  }

  suggest (index: number): void {
    this.#requireFastOut('suggest')
    this.#sendMessage({ type: 'suggest', index })
  }

  reject (index: number, offset: number, length: number): void {
    this.#requireFastOut('reject')
    this.#peerRequests.delete(index, offset)
    this.#sendMessage({ type: 'reject', index, offset, length })
  }

  /** BEP 6: the peer may request blocks of this piece even while we choke it. */
  allowedFast (index: number): void {
    this.#requireFastOut('allowed-fast')
    this.#allowedFastSent.add(index)
    this.#sendMessage({ type: 'allowed-fast', index })
  }

  extended (id: number, payload: Buffer): void {
    if (this.#peerHandshake !== null && !this.supportsExtended) {
      throw new ZentorrentError('BAD_ARGUMENT', 'cannot send an extended message: BEP 10 was not negotiated')
    }
    this.#sendMessage({ type: 'extended', id, payload })
  }

  /** BEP 10 handshake; `reqq` defaults to ours and `v` to our client name. Not sent automatically. */
  extendedHandshake (dict: ExtendedHandshake = {}): void {
    this.extended(0, encodeExtendedHandshake({ v: 'zentorrent 0.1.0', reqq: this.#reqq, ...dict }))
  }

  keepAlive (): void {
    this.#sendMessage({ type: 'keep-alive' })
  }
}

// Typed events (declaration merging: adds overloads to Duplex's).
export interface Wire {
  on: (<E extends keyof WireEvents>(event: E, listener: (...args: WireEvents[E]) => void) => this) & Duplex['on']
  once: (<E extends keyof WireEvents>(event: E, listener: (...args: WireEvents[E]) => void) => this) & Duplex['once']
  off: (<E extends keyof WireEvents>(event: E, listener: (...args: WireEvents[E]) => void) => this) & Duplex['off']
  emit: (<E extends keyof WireEvents>(event: E, ...args: WireEvents[E]) => boolean) & Duplex['emit']
}
