/**
 * The swarm: which peers we are connected to. Dials candidates (from trackers or the user) up to
 * `maxConnections`, takes incoming wires from the listener, never connects to a banned address, and retries a
 * failed address a few times with growing delays. A connection is announced ('wire') once its handshake is done;
 * what happens on it then is the session's business.
 */
import { EventEmitter } from 'node:events'
import type { Wire, WireOptions } from './wire/wire.js'
import { dial, type Dial } from './wire/connect.js'
import { ZentorrentError } from './errors.js'
import { addressKey, type PeerAddress } from './peer-address.js'
import { systemClock, type Cancel, type Clock } from './clock.js'

export { addressKey, type PeerAddress }

export interface SwarmOptions {
  /** Options for each new wire in the initiator role (info hash, peer id, piece geometry…). */
  wire: WireOptions & { infoHash: Buffer }
  maxConnections?: number
  connectTimeout?: number
  /** Failed dials of one address before it is dropped. */
  maxAttempts?: number
  retryDelay?: number
  clock?: Clock
}

export const SWARM_DEFAULTS = {
  maxConnections: 50,
  connectTimeout: 10_000,
  maxAttempts: 3,
  retryDelay: 5_000
} as const

interface Candidate {
  readonly address: PeerAddress
  attempts: number
  notBefore: number
}

export interface SwarmEvents {
  wire: [wire: Wire, id: string]
  'wire-closed': [id: string, err: Error | null]
}

export class Swarm extends EventEmitter<SwarmEvents> {
  readonly #opts: Required<Omit<SwarmOptions, 'clock'>>
  readonly #clock: Clock
  readonly #candidates: Map<string, Candidate> = new Map()
  readonly #connecting: Map<string, Dial> = new Map()
  readonly #wires: Map<string, Wire> = new Map()
  readonly #banned: Set<string> = new Set()
  /** Peer id (hex) → its connection, to find a second connection to the same peer. */
  readonly #peerIds: Map<string, { wire: Wire, outgoing: boolean }> = new Map()
  #timer: Cancel | null = null
  #closed = false

  constructor (opts: SwarmOptions) {
    super()
    this.#opts = {
      wire: opts.wire,
      maxConnections: opts.maxConnections ?? SWARM_DEFAULTS.maxConnections,
      connectTimeout: opts.connectTimeout ?? SWARM_DEFAULTS.connectTimeout,
      maxAttempts: opts.maxAttempts ?? SWARM_DEFAULTS.maxAttempts,
      retryDelay: opts.retryDelay ?? SWARM_DEFAULTS.retryDelay
    }
    this.#clock = opts.clock ?? systemClock
  }

  /** The piece geometry new wires are told (once a magnet's metadata arrives). */
  setShape (shape: { pieceCount?: number, pieceLength?: number, lastPieceLength?: number }): void {
    this.#opts.wire = { ...this.#opts.wire, ...shape }
  }

  get connected (): number { return this.#wires.size }
  get known (): number { return this.#candidates.size + this.#wires.size + this.#connecting.size }
  wires (): IterableIterator<[string, Wire]> { return this.#wires.entries() }

  /** A peer to connect to (deduplicated; banned addresses ignored). */
  add (address: PeerAddress): void {
    const key = addressKey(address)
    if (this.#closed || this.#banned.has(key) || this.#candidates.has(key) || this.#wires.has(key) || this.#connecting.has(key)) return
    this.#candidates.set(key, { address, attempts: 0, notBefore: 0 })
    this.#dialMore()
  }

  ban (id: string): void {
    this.#banned.add(id)
    this.#candidates.delete(id)
    const wire = this.#wires.get(id)
    if (wire !== undefined && !wire.destroyed) wire.destroy(new ZentorrentError('PEER_BANNED', `peer ${id} is banned`))
  }

  isBanned (id: string): boolean { return this.#banned.has(id) }

  /** An incoming wire (the listener completed its handshake). Refused when full or banned. */
  attach (wire: Wire, id: string): boolean {
    if (this.#closed || this.#banned.has(id) || this.#wires.size >= this.#opts.maxConnections || !this.#keep(wire, false)) {
      wire.destroy()
      return false
    }
    this.#track(wire, id, false)
    return true
  }

  close (): void {
    this.#closed = true
    this.#timer?.()
    for (const attempt of this.#connecting.values()) attempt.abort()
    for (const wire of this.#wires.values()) wire.destroy()
    this.#candidates.clear()
  }

  /**
   * A second connection to a peer we are already connected to (both dialled each other at once, which happens
   * whenever two peers learn of each other from the same tracker round): keep exactly one, and the same one on
   * both sides — the connection opened by the peer with the lower peer id. Both sides compute the same answer from
   * the two ids, so they never each drop a different connection and end up with none.
   */
  #keep (wire: Wire, outgoing: boolean): boolean {
    const peerId = wire.peerId
    if (peerId === null) return true
    const existing = this.#peerIds.get(peerId.toString('hex'))
    if (existing === undefined || existing.wire === wire) return true
    if (existing.outgoing === outgoing) return false // two of ours (or two of theirs): keep the first
    const weOpenTheKeptOne = Buffer.compare(this.#opts.wire.peerId, peerId) < 0
    if (outgoing === weOpenTheKeptOne) {
      existing.wire.destroy()
      return true
    }
    return false
  }

  #track (wire: Wire, id: string, outgoing: boolean): void {
    const peerId = wire.peerId?.toString('hex')
    if (peerId !== undefined) this.#peerIds.set(peerId, { wire, outgoing })
    this.#wires.set(id, wire)
    wire.once('close', () => {
      if (this.#wires.get(id) === wire) this.#wires.delete(id)
      if (peerId !== undefined && this.#peerIds.get(peerId)?.wire === wire) this.#peerIds.delete(peerId)
      this.emit('wire-closed', id, null)
      this.#dialMore()
    })
    this.emit('wire', wire, id)
  }

  #dialMore (): void {
    if (this.#closed) return
    const now = this.#clock.now()
    let nextAt = Infinity
    for (const [key, candidate] of this.#candidates) {
      if (this.#wires.size + this.#connecting.size >= this.#opts.maxConnections) break
      if (candidate.notBefore > now) { nextAt = Math.min(nextAt, candidate.notBefore); continue }
      this.#candidates.delete(key)
      this.#dial(key, candidate)
    }
    if (nextAt < Infinity && this.#timer === null) {
      this.#timer = this.#clock.schedule(() => { this.#timer = null; this.#dialMore() }, nextAt - now)
    }
  }

  #dial (key: string, candidate: Candidate): void {
    candidate.attempts++
    const attempt = dial(candidate.address.host, candidate.address.port, this.#opts.wire, {
      connectTimeout: this.#opts.connectTimeout,
      clock: this.#clock
    })
    this.#connecting.set(key, attempt)
    attempt.ready.then((wire) => {
      this.#connecting.delete(key)
      if (this.#closed || !this.#keep(wire, true)) { wire.destroy(); return }
      this.#track(wire, key, true)
    }, (err: unknown) => {
      this.#connecting.delete(key)
      // a failed dial: try again later, a few times, unless it was a protocol-level refusal
      const protocolError = err instanceof ZentorrentError && err.code !== 'CONNECT_TIMEOUT' && err.code !== 'HANDSHAKE_TIMEOUT'
      if (!this.#closed && !protocolError && candidate.attempts < this.#opts.maxAttempts && !this.#banned.has(key)) {
        candidate.notBefore = this.#clock.now() + this.#opts.retryDelay * candidate.attempts
        this.#candidates.set(key, candidate)
      }
      this.emit('wire-closed', key, err instanceof Error ? err : null)
      this.#dialMore()
    })
  }
}
