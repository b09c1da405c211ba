/**
 * The swarm: one torrent's connections. It asks the peer book (lib/peers/peer-book.ts) whom to dial, dials with
 * the encryption policy (lib/wire/mse/), takes the incoming wires the listener hands it, and keeps the limits:
 *
 * - at most `maxConnections` wires, `maxConnecting` dials in flight, `maxPerHost` wires from one IP address;
 * - when the slots are full, a newcomer may take the place of an idle peer — one that is neither interesting
 *   (we want nothing from it) nor interested (it wants nothing from us) and has been connected at least
 *   `idleGrace` — as libtorrent does; otherwise it is refused. So connections that only send keep-alives cannot
 *   lock a real peer out;
 * - two connections to one peer (both dialled each other at once) end as one, the same on both sides: the one
 *   opened by the peer with the lower peer id;
 * - a banned peer (by address and peer id) is never dialled or accepted again.
 * A connection is announced ('wire') once its handshake is done; what happens on it then is the torrent's
 * business. Lost peers go back to the book, which retries them with growing delays.
 */
import { EventEmitter } from 'node:events'
import type { Wire, WireOptions } from './wire/wire.js'
import { dial } from './wire/connect.js'
import { ZentorrentError } from './errors.js'
import { addressKey, hostOfKey, normalizeAddress, type PeerAddress } from './peers/address.js'
import { PeerBook, type PeerBookOptions, type PeerBookStatus, type PeerSource } from './peers/peer-book.js'
import type { EncryptionPolicy } from './wire/mse/policy.js'
import type { MseMethod } from './wire/mse/handshake.js'
import { systemClock, type Cancel, type Clock } from './clock.js'

export { addressKey, type PeerAddress }

export interface SwarmOptions {
  /** Options for each new wire in the initiator role (info hash, peer id, piece geometry…). */
  wire: WireOptions & { infoHash: Buffer }
  maxConnections?: number
  /** Dials in flight at most (half-open connections). */
  maxConnecting?: number
  /** Wires from one IP address at most. */
  maxPerHost?: number
  /** ms a peer must have been connected before an idle one may be replaced by a newcomer. */
  idleGrace?: number
  connectTimeout?: number
  /** ms for the MSE handshake of a dial. */
  handshakeTimeout?: number
  encryption?: EncryptionPolicy
  book?: Partial<PeerBookOptions>
  clock?: Clock
}

export const SWARM_DEFAULTS = {
  maxConnections: 50,
  maxConnecting: 16,
  maxPerHost: 8,
  idleGrace: 10_000,
  connectTimeout: 10_000,
  handshakeTimeout: 10_000,
  encryption: 'prefer' as EncryptionPolicy
} as const

/** What is known of a connection when it is announced. */
export interface ConnectionInfo {
  readonly outgoing: boolean
  /** The MSE payload method, or null for plain BitTorrent. */
  readonly encryption: MseMethod | null
  readonly address: PeerAddress
  readonly sources: readonly PeerSource[]
}

export interface SwarmEvents {
  wire: [wire: Wire, id: string, info: ConnectionInfo]
  'wire-closed': [id: string, err: Error | null]
}

interface Tracked {
  readonly wire: Wire
  readonly outgoing: boolean
  readonly at: number
  readonly info: ConnectionInfo
}

export class Swarm extends EventEmitter<SwarmEvents> {
  readonly book: PeerBook
  readonly #opts: Required<Omit<SwarmOptions, 'clock' | 'book'>>
  readonly #clock: Clock
  readonly #connecting: Map<string, () => void> = new Map()
  readonly #wires: Map<string, Tracked> = new Map()
  /** Peer id (hex) → its connection, to find a second connection to the same peer. */
  readonly #peerIds: Map<string, string> = new Map()
  #timer: Cancel | null = null
  #closed = false

  constructor (opts: SwarmOptions) {
    super()
    this.#opts = {
      wire: opts.wire,
      maxConnections: opts.maxConnections ?? SWARM_DEFAULTS.maxConnections,
      maxConnecting: opts.maxConnecting ?? SWARM_DEFAULTS.maxConnecting,
      maxPerHost: opts.maxPerHost ?? SWARM_DEFAULTS.maxPerHost,
      idleGrace: opts.idleGrace ?? SWARM_DEFAULTS.idleGrace,
      connectTimeout: opts.connectTimeout ?? SWARM_DEFAULTS.connectTimeout,
      handshakeTimeout: opts.handshakeTimeout ?? SWARM_DEFAULTS.handshakeTimeout,
      encryption: opts.encryption ?? SWARM_DEFAULTS.encryption
    }
    this.#clock = opts.clock ?? systemClock
    this.book = new PeerBook(opts.book)
  }

  get connected (): number { return this.#wires.size }
  get connecting (): number { return this.#connecting.size }
  get known (): number { return this.book.status(this.#clock.now()).candidates + this.#wires.size }
  get encryption (): EncryptionPolicy { return this.#opts.encryption }
  status (): PeerBookStatus { return this.book.status(this.#clock.now()) }
  wires (): IterableIterator<[string, Wire]> {
    const entries = [...this.#wires].map(([id, t]) => [id, t.wire] as [string, Wire])
    return entries[Symbol.iterator]()
  }

  info (id: string): ConnectionInfo | undefined { return this.#wires.get(id)?.info }

  /** The piece geometry new wires are told (once a magnet's metadata arrives). */
  setShape (shape: { pieceCount?: number, pieceLength?: number, lastPieceLength?: number }): void {
    this.#opts.wire = { ...this.#opts.wire, ...shape }
  }

  /** A peer to connect to, and where we heard of it (deduplicated; banned addresses ignored). */
  add (address: PeerAddress, source: PeerSource = 'manual'): void {
    if (this.#closed) return
    this.book.add(address, source, this.#clock.now())
    this.#dialMore()
  }

  /** Never again: by address and, when given or known, by peer id; a live connection is closed. */
  ban (id: string, peerId?: Buffer): void {
    const known = peerId ?? this.#wires.get(id)?.wire.peerId ?? undefined
    const keys = this.book.ban(id, known)
    for (const key of [id, ...keys]) {
      const tracked = this.#wires.get(key)
      if (tracked !== undefined && !tracked.wire.destroyed) tracked.wire.destroy(new ZentorrentError('PEER_BANNED', `peer ${key} is banned`))
    }
  }

  isBanned (id: string): boolean { return this.book.isBanned(id) }

  /**
   * An incoming wire (the listener completed its handshake), from `id` (its remote address). Refused when the
   * peer is banned or the slots are full and no idle peer can make room.
   */
  attach (wire: Wire, id: string, encryption: MseMethod | null = null): boolean {
    const remote = parseKey(id)
    const now = this.#clock.now()
    const key = remote === null ? null : this.book.incoming(remote, now, wire.peerId ?? undefined)
    if (this.#closed || key === null || remote === null || !this.#room(hostOfKey(key)) || !this.#keep(wire, false)) {
      wire.destroy()
      return false
    }
    this.#track(wire, key, false, { outgoing: false, encryption, address: remote, sources: ['incoming'] })
    return true
  }

  close (): void {
    this.#closed = true
    this.#timer?.()
    for (const abort of this.#connecting.values()) abort()
    for (const { wire } of this.#wires.values()) wire.destroy()
  }

  /** Whether a new wire from `host` fits, making room by closing an idle peer if needed. */
  #room (host: string): boolean {
    const sameHost = [...this.#wires.keys()].filter((k) => hostOfKey(k) === host).length
    const full = this.#wires.size >= this.#opts.maxConnections
    const hostFull = sameHost >= this.#opts.maxPerHost
    if (!full && !hostFull) return true
    const victim = this.#idlest(hostFull && !full ? host : null)
    if (victim === null) return false
    victim.destroy(new ZentorrentError('PEER_EVICTED', 'closed to make room: neither interesting nor interested'))
    return true
  }

  /** The idle peer connected longest (neither side interested, past the grace), of `host` when given. */
  #idlest (host: string | null): Wire | null {
    const now = this.#clock.now()
    let best: Tracked | null = null
    for (const [key, t] of this.#wires) {
      if (host !== null && hostOfKey(key) !== host) continue
      if (t.wire.amInterested || t.wire.peerInterested || now - t.at < this.#opts.idleGrace) continue
      if (best === null || t.at < best.at) best = t
    }
    return best?.wire ?? null
  }

  /**
   * A second connection to a peer we are already connected to: keep exactly one, and the same one on both sides —
   * the connection opened by the peer with the lower peer id. Both sides compute the same answer from the two ids.
   */
  #keep (wire: Wire, outgoing: boolean): boolean {
    const peerId = wire.peerId
    if (peerId === null) return true
    const existingKey = this.#peerIds.get(peerId.toString('hex'))
    const existing = existingKey === undefined ? undefined : this.#wires.get(existingKey)
    if (existing === undefined || existing.wire === wire) return true
    if (existing.outgoing === outgoing) return false // two of ours (or two of theirs): keep the first
    const weOpenTheKeptOne = Buffer.compare(this.#opts.wire.peerId, peerId) < 0
    if (outgoing === weOpenTheKeptOne) {
      existing.wire.destroy()
      return true
    }
    return false
  }

  #track (wire: Wire, key: string, outgoing: boolean, info: ConnectionInfo): void {
    const peerId = wire.peerId?.toString('hex')
    if (peerId !== undefined) this.#peerIds.set(peerId, key)
    this.#wires.set(key, { wire, outgoing, at: this.#clock.now(), info })
    let reason: Error | null = null
    wire.once('error', (err: Error) => { reason = err })
    wire.once('close', () => {
      if (this.#wires.get(key)?.wire === wire) this.#wires.delete(key)
      if (peerId !== undefined && this.#peerIds.get(peerId) === key) this.#peerIds.delete(peerId)
      this.book.disconnected(key, this.#clock.now(), { useful: wire.downloaded + wire.uploaded > 0 })
      this.emit('wire-closed', key, reason)
      this.#dialMore()
    })
    this.emit('wire', wire, key, info)
  }

  #dialMore (): void {
    if (this.#closed) return
    const now = this.#clock.now()
    const slots = Math.min(this.#opts.maxConnections - this.#wires.size, this.#opts.maxConnecting) - this.#connecting.size
    if (slots > 0) for (const candidate of this.book.next(now, slots)) this.#dial(candidate.key, candidate.address, candidate.sources)
    const wake = this.book.nextWakeup()
    if (wake !== null && this.#timer === null && this.#wires.size + this.#connecting.size < this.#opts.maxConnections) {
      this.#timer = this.#clock.schedule(() => { this.#timer = null; this.#dialMore() }, Math.max(0, wake - now))
    }
  }

  #dial (key: string, address: PeerAddress, sources: readonly PeerSource[]): void {
    const attempt = dial(address.host, address.port, this.#opts.wire, {
      encryption: this.#opts.encryption,
      connectTimeout: this.#opts.connectTimeout,
      handshakeTimeout: this.#opts.handshakeTimeout,
      clock: this.#clock
    })
    this.#connecting.set(key, attempt.abort)
    attempt.ready.then((wire) => {
      this.#connecting.delete(key)
      if (this.#closed || !this.book.connected(key, this.#clock.now(), wire.peerId ?? undefined) || !this.#keep(wire, true)) { wire.destroy(); return }
      this.#track(wire, key, true, { outgoing: true, encryption: attempt.encryption(), address, sources })
    }, (err: unknown) => {
      this.#connecting.delete(key)
      this.book.failed(key, this.#clock.now())
      this.emit('wire-closed', key, err instanceof Error ? err : null)
      this.#dialMore()
    })
  }
}

function parseKey (id: string): PeerAddress | null {
  const host = hostOfKey(id)
  const port = Number(id.slice(id.lastIndexOf(':') + 1))
  return normalizeAddress({ host, port })
}
