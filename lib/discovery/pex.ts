/**
 * Peer exchange, BEP 11 (`ut_pex` over BEP 10): a pure codec and a per-torrent manager.
 *
 * Codec. The payload is a bencoded dictionary of compact contacts: `added` / `dropped` (IPv4, 6 bytes each),
 * `added6` / `dropped6` (IPv6, 18 bytes each), and `added.f` / `added6.f`, one flag byte per added contact:
 * 0x01 prefers encryption, 0x02 seed (upload only), 0x04 supports uTP, 0x08 supports ut_holepunch, 0x10 reachable
 * (we connected to it). `encodePex` writes a flag string for every added list (libtorrent ignores an `added`
 * whose `added.f` is missing or of another length). `decodePex` throws BAD_MESSAGE for a payload that is not a
 * bencoded dictionary (lib/bencode-scan.ts checks it before `bencode.decode` sees it); anything else odd is counted,
 * not fatal: a trailing partial contact, a flag string of the wrong length (flags read as 0), contacts beyond the
 * limits (not even decoded).
 *
 * Manager (`Pex`, one per torrent). The session tells it which peers we are connected to (`peerConnected`,
 * `peerUpdated`, `peerDisconnected`: the address others can dial them at, and their flags) and adds its
 * `handshakePart()` to each wire's composed BEP 10 handshake (lib/wire/extensions.ts) and `attach`es each wire.
 * - Sending (BEP 11: "no more than 1 PEX message per minute", at most 50 added and 50 dropped): for each wire whose
 *   peer supports ut_pex we keep what we told it. `firstMessageDelay` after its handshake, and then whenever
 *   `interval` has passed since our last message to it, we send the difference between our connected peers
 *   (minus itself) and what it knows: up to `maxAdded` added, `maxDropped` dropped — the rest waits for the next
 *   message. Nothing to say: nothing sent, checked again after `idleCheck`. Only connected peers are added (the
 *   BEP's liveness rule) and every added one is dropped when it disconnects.
 * - Receiving, bounded (BEP 11 "Security Considerations"): a payload over `maxMessageBytes` is dropped undecoded;
 *   a message less than `minReceiveInterval` after the previous accepted one from the same wire is dropped
 *   (libtorrent disconnects a peer that sends more than 6 a minute; we just ignore them); at most `maxReceived`
 *   added contacts are read from one message, at most `maxPerHost` of them with the same host, and at most
 *   `maxPeersPerWire` over the wire's life. Contacts with port 0, or an unspecified, multicast, broadcast or
 *   reserved address, are dropped; loopback, private and link-local addresses only when `allowLocal` says so —
 *   by default (libtorrent's rule) when the sending peer is itself local. The rest go to `onPeer` (the session
 *   passes them to the peer book, source `pex`, which has its own per-source and per-host bounds).
 *   `dropped` lists are read for the counters only: a peer another client lost may still be alive for us.
 * - Private torrents (BEP 27): `private: true` makes the manager inert — its `extension` is null, so ut_pex is
 *   never offered, and nothing is sent or taken.
 */
import bencode from 'bencode'
import { scanBencode } from '../bencode-scan.js'
import { ZentorrentError } from '../errors.js'
import { classifyHost, decodeCompact, encodeCompact, ipFamily, isLocalHost, isUndialable, peerKey, type PeerAddress } from '../peers/address.js'
import { LOCAL_EXTENSION_IDS, peerExtensionId, type HandshakePart } from '../wire/extensions.js'
import { systemClock, type Clock } from '../clock.js'
import type { Wire } from '../wire/wire.js'

export const PEX_EXTENSION = 'ut_pex'

/** BEP 11 flag bits. */
export const PEX_FLAGS = Object.freeze({
  encryption: 0x01,
  seed: 0x02,
  utp: 0x04,
  holepunch: 0x08,
  reachable: 0x10
})

export interface PexPeer extends PeerAddress {
  readonly flags: number
}

export interface PexMessage {
  readonly added: readonly PexPeer[]
  readonly dropped: readonly PeerAddress[]
}

export interface DecodedPex {
  added: PexPeer[]
  dropped: PeerAddress[]
  /** Contacts beyond the limits, not decoded. */
  excess: number
  /** Partial contacts and flag strings of the wrong length. */
  malformed: number
}

/** Encode a ut_pex payload. Hosts must be IP literals; IPv4 and IPv6 go to their own lists. */
export function encodePex (msg: PexMessage): Buffer {
  const dict: Record<string, Uint8Array> = {}
  const added4 = msg.added.filter((p) => ipFamily(p.host) === 4)
  const added6 = msg.added.filter((p) => ipFamily(p.host) === 6)
  if (added4.length + added6.length !== msg.added.length || msg.dropped.some((p) => ipFamily(p.host) === 0)) {
    throw new ZentorrentError('BAD_ARGUMENT', 'PEX contacts must be IP addresses')
  }
  const dropped4 = msg.dropped.filter((p) => ipFamily(p.host) === 4)
  const dropped6 = msg.dropped.filter((p) => ipFamily(p.host) === 6)
  if (added4.length > 0) {
    dict.added = Buffer.concat(added4.map(encodeCompact))
    dict['added.f'] = Buffer.from(added4.map((p) => p.flags & 0xff))
  }
  if (added6.length > 0) {
    dict.added6 = Buffer.concat(added6.map(encodeCompact))
    dict['added6.f'] = Buffer.from(added6.map((p) => p.flags & 0xff))
  }
  if (dropped4.length > 0) dict.dropped = Buffer.concat(dropped4.map(encodeCompact))
  if (dropped6.length > 0) dict.dropped6 = Buffer.concat(dropped6.map(encodeCompact))
  const u8 = bencode.encode(dict)
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

function bytesOf (v: unknown): Uint8Array | null {
  return v instanceof Uint8Array ? v : null
}

/**
 * Decode a ut_pex payload: at most `maxAdded` added contacts (IPv4 first, then IPv6) and `maxDropped` dropped.
 * Throws BAD_MESSAGE when the payload is not a bencoded dictionary.
 */
export function decodePex (payload: Uint8Array, limits: { maxAdded: number, maxDropped: number }): DecodedPex {
  let raw: unknown
  try {
    // The scan first: bencode.decode loops forever on a negative string length (`l-3:`) and recurses per level.
    scanBencode(payload, { uniqueKeys: 'none' })
    raw = bencode.decode(payload)
  } catch (err) {
    throw new ZentorrentError('BAD_MESSAGE', 'ut_pex message is not valid bencode', { cause: err })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new ZentorrentError('BAD_MESSAGE', 'ut_pex message is not a bencoded dictionary')
  }
  const dict = raw as Record<string, unknown>
  const out: DecodedPex = { added: [], dropped: [], excess: 0, malformed: 0 }
  const read = (key: string, family: 4 | 6, room: number): Array<{ host: string, port: number }> => {
    const bytes = bytesOf(dict[key])
    if (bytes === null) return []
    const size = family === 4 ? 6 : 18
    if (bytes.length % size !== 0) out.malformed++
    const total = Math.floor(bytes.length / size)
    const take = Math.max(0, Math.min(total, room))
    out.excess += total - take
    return decodeCompact(bytes, family, take)
  }
  for (const [key, family] of [['added', 4], ['added6', 6]] as const) {
    const contacts = read(key, family, limits.maxAdded - out.added.length)
    const flags = bytesOf(dict[`${key}.f`])
    const total = Math.floor((bytesOf(dict[key])?.length ?? 0) / (family === 4 ? 6 : 18))
    const flagsUsable = flags !== null && flags.length === total
    if (contacts.length > 0 && !flagsUsable) out.malformed++
    contacts.forEach((c, i) => out.added.push({ ...c, flags: flagsUsable ? flags[i]! : 0 }))
  }
  for (const [key, family] of [['dropped', 4], ['dropped6', 6]] as const) {
    out.dropped.push(...read(key, family, limits.maxDropped - out.dropped.length))
  }
  return out
}

// ---- the manager ----------------------------------------------------------------------------------------

export interface PexOptions {
  /** BEP 27: a private torrent never uses PEX; the manager is inert. */
  private: boolean
  /** Where accepted contacts go (the session: `book.add(address, 'pex', now)`). */
  onPeer: (address: PeerAddress, flags: number) => void
  clock?: Clock
  /** Between two of our messages to one peer (BEP 11: at most one a minute). */
  interval?: number
  /** From a peer's handshake to our first message to it. */
  firstMessageDelay?: number
  /** After a check with nothing to say, the next check. */
  idleCheck?: number
  /** Added / dropped contacts we put in one message (BEP 11: 50 each). */
  maxAdded?: number
  maxDropped?: number
  /** Added contacts we read from one message (libtorrent's first message carries up to 100). */
  maxReceived?: number
  /** Contacts with one host we take from one message (BEP 11: "duplicate IP addresses … should be ignored"). */
  maxPerHost?: number
  /** Contacts we take from one wire over its life. */
  maxPeersPerWire?: number
  /** Messages closer than this to the previous accepted one from the same wire are ignored. */
  minReceiveInterval?: number
  /** Larger payloads are dropped undecoded (50 + 50 IPv6 contacts with flags are under 2 KiB). */
  maxMessageBytes?: number
  /** Accept loopback / private / link-local contacts: always, never, or only from a local sender (default). */
  allowLocal?: boolean | 'if-sender-local'
}

export const PEX_DEFAULTS = Object.freeze({
  interval: 60_000,
  firstMessageDelay: 1_000,
  idleCheck: 5_000,
  maxAdded: 50,
  maxDropped: 50,
  maxReceived: 100,
  maxPerHost: 2,
  maxPeersPerWire: 500,
  minReceiveInterval: 20_000,
  maxMessageBytes: 64 * 1024,
  allowLocal: 'if-sender-local' as boolean | 'if-sender-local'
})

/** What the session knows about one connected peer. */
export interface PexPeerInfo {
  /** The address of the connection (for the "is the sender local" rule). */
  remote: PeerAddress
  /** Where others can dial it: the address we dialled, or an incoming peer's host with its BEP 10 `p`; null if unknown. */
  listen: PeerAddress | null
  /** PEX_FLAGS bits (0x10 when we dialled it). */
  flags: number
}

export interface PexStats {
  messagesSent: number
  messagesReceived: number
  /** Too frequent or too large: dropped undecoded. */
  messagesIgnored: number
  /** Not a dictionary, partial contacts, flag strings of the wrong length. */
  malformed: number
  /** Contacts passed to `onPeer`. */
  accepted: number
  /** Contacts dropped: bogus, filtered, over a limit. */
  refused: number
}

interface WireState {
  info: PexPeerInfo | null
  supported: boolean
  /** Contacts (key → address) this peer has from us. */
  told: Map<string, PeerAddress>
  cancel: (() => void) | null
  lastSentAt: number
  lastReceivedAt: number
  taken: number
}

export class Pex {
  readonly #opts: Required<Omit<PexOptions, 'clock' | 'onPeer' | 'private'>>
  readonly #onPeer: (address: PeerAddress, flags: number) => void
  readonly #clock: Clock
  readonly #private: boolean
  readonly #wires = new Map<Wire, WireState>()
  readonly #stats: PexStats = { messagesSent: 0, messagesReceived: 0, messagesIgnored: 0, malformed: 0, accepted: 0, refused: 0 }

  constructor (opts: PexOptions) {
    this.#opts = {
      interval: opts.interval ?? PEX_DEFAULTS.interval,
      firstMessageDelay: opts.firstMessageDelay ?? PEX_DEFAULTS.firstMessageDelay,
      idleCheck: opts.idleCheck ?? PEX_DEFAULTS.idleCheck,
      maxAdded: opts.maxAdded ?? PEX_DEFAULTS.maxAdded,
      maxDropped: opts.maxDropped ?? PEX_DEFAULTS.maxDropped,
      maxReceived: opts.maxReceived ?? PEX_DEFAULTS.maxReceived,
      maxPerHost: opts.maxPerHost ?? PEX_DEFAULTS.maxPerHost,
      maxPeersPerWire: opts.maxPeersPerWire ?? PEX_DEFAULTS.maxPeersPerWire,
      minReceiveInterval: opts.minReceiveInterval ?? PEX_DEFAULTS.minReceiveInterval,
      maxMessageBytes: opts.maxMessageBytes ?? PEX_DEFAULTS.maxMessageBytes,
      allowLocal: opts.allowLocal ?? PEX_DEFAULTS.allowLocal
    }
    this.#onPeer = opts.onPeer
    this.#clock = opts.clock ?? systemClock
    this.#private = opts.private
  }

  /** Our part of each wire's BEP 10 handshake: ut_pex under our id (nothing for a private torrent). */
  handshakePart (): HandshakePart {
    return this.#private ? {} : { m: { [PEX_EXTENSION]: LOCAL_EXTENSION_IDS.ut_pex } }
  }

  /**
   * Follow a wire's BEP 10 traffic: its handshake says whether it speaks ut_pex, its messages to our id are PEX.
   * Call it as soon as the wire exists (a handshake that arrived already is read from `wire.peerExtended`).
   */
  attach (wire: Wire): void {
    if (this.#private) return
    const onHandshake = (): void => { this.#onHandshake(wire, peerExtensionId(wire, PEX_EXTENSION) ?? 0) }
    const onExtended = (id: number, payload: Buffer): void => { if (id === LOCAL_EXTENSION_IDS.ut_pex) this.#onMessage(wire, payload) }
    wire.on('extended-handshake', onHandshake)
    wire.on('extended', onExtended)
    wire.once('close', () => {
      wire.off('extended-handshake', onHandshake)
      wire.off('extended', onExtended)
      this.peerDisconnected(wire)
    })
    if (wire.peerExtended !== null) onHandshake()
  }

  stats (): Readonly<PexStats> {
    return { ...this.#stats }
  }

  /** A connected peer (handshake done). Its `listen` address is what we advertise to the others. */
  peerConnected (wire: Wire, info: PexPeerInfo): void {
    if (this.#private) return
    this.#state(wire).info = { ...info }
  }

  /** New facts about a connected peer: its listen port from BEP 10 `p`, or it became a seed. */
  peerUpdated (wire: Wire, update: Partial<PexPeerInfo>): void {
    const state = this.#wires.get(wire)
    if (state?.info == null) return
    state.info = { ...state.info, ...update }
  }

  /** The peer disconnected: forgotten; the others hear of it as dropped in their next message. */
  peerDisconnected (wire: Wire): void {
    const state = this.#wires.get(wire)
    if (state === undefined) return
    state.cancel?.()
    this.#wires.delete(wire)
  }

  /** Stop every timer (the torrent stops). */
  close (): void {
    for (const state of this.#wires.values()) state.cancel?.()
    this.#wires.clear()
  }

  #state (wire: Wire): WireState {
    let state = this.#wires.get(wire)
    if (state === undefined) {
      state = { info: null, supported: false, told: new Map(), cancel: null, lastSentAt: -Infinity, lastReceivedAt: -Infinity, taken: 0 }
      this.#wires.set(wire, state)
      wire.once('close', () => { this.peerDisconnected(wire) }) // whoever forgets to tell us, the wire does
    }
    return state
  }

  #onHandshake (wire: Wire, peerId: number): void {
    const state = this.#state(wire)
    state.supported = peerId !== 0
    state.cancel?.()
    state.cancel = null
    if (!state.supported) return
    const since = this.#clock.now() - state.lastSentAt
    this.#schedule(wire, state, Math.max(this.#opts.firstMessageDelay, this.#opts.interval - since))
  }

  #schedule (wire: Wire, state: WireState, ms: number): void {
    state.cancel = this.#clock.schedule(() => {
      state.cancel = null
      if (this.#wires.get(wire) !== state || wire.destroyed) return
      const sent = this.#send(wire, state)
      this.#schedule(wire, state, sent ? this.#opts.interval : this.#opts.idleCheck)
    }, ms)
  }

  /** The current advertisable set, minus `wire` itself. */
  #current (wire: Wire): Map<string, PexPeer> {
    const out = new Map<string, PexPeer>()
    const self = this.#wires.get(wire)?.info?.listen
    const selfKey = self == null ? null : peerKey(self)
    for (const [other, state] of this.#wires) {
      const listen = state.info?.listen
      if (other === wire || listen == null || ipFamily(listen.host) === 0) continue
      const key = peerKey(listen)
      if (key !== selfKey) out.set(key, { host: listen.host, port: listen.port, flags: state.info!.flags })
    }
    return out
  }

  #send (wire: Wire, state: WireState): boolean {
    const current = this.#current(wire)
    const added: PexPeer[] = []
    const dropped: PeerAddress[] = []
    for (const [key, peer] of current) {
      if (added.length >= this.#opts.maxAdded) break
      if (!state.told.has(key)) added.push(peer)
    }
    for (const [key, address] of state.told) {
      if (dropped.length >= this.#opts.maxDropped) break
      if (!current.has(key)) dropped.push(address)
    }
    if (added.length === 0 && dropped.length === 0) return false
    const id = peerExtensionId(wire, PEX_EXTENSION)
    if (id === null || wire.destroyed) return false
    wire.extended(id, encodePex({ added, dropped }))
    for (const p of added) state.told.set(peerKey(p), { host: p.host, port: p.port })
    for (const p of dropped) state.told.delete(peerKey(p))
    state.lastSentAt = this.#clock.now()
    this.#stats.messagesSent++
    return true
  }

  #onMessage (wire: Wire, payload: Buffer): void {
    const state = this.#state(wire)
    const now = this.#clock.now()
    this.#stats.messagesReceived++
    if (payload.length > this.#opts.maxMessageBytes || now - state.lastReceivedAt < this.#opts.minReceiveInterval) {
      this.#stats.messagesIgnored++
      return
    }
    state.lastReceivedAt = now
    let msg: DecodedPex
    try {
      msg = decodePex(payload, { maxAdded: this.#opts.maxReceived, maxDropped: this.#opts.maxDropped })
    } catch {
      this.#stats.malformed++
      return
    }
    this.#stats.malformed += msg.malformed
    this.#stats.refused += msg.excess
    const sender = state.info?.remote.host
    const senderLocal = sender !== undefined && isLocalHost(sender)
    const allowLocal = this.#opts.allowLocal === 'if-sender-local' ? senderLocal : this.#opts.allowLocal
    const perHost = new Map<string, number>()
    for (const peer of msg.added) {
      const hostCount = perHost.get(peer.host) ?? 0
      const bogus = peer.port === 0 || isUndialable(peer.host) || classifyHost(peer.host) === 'hostname'
      if (bogus || (isLocalHost(peer.host) && !allowLocal) || hostCount >= this.#opts.maxPerHost || state.taken >= this.#opts.maxPeersPerWire) {
        this.#stats.refused++
        continue
      }
      perHost.set(peer.host, hostCount + 1)
      state.taken++
      this.#stats.accepted++
      this.#onPeer({ host: peer.host, port: peer.port }, peer.flags)
    }
  }
}
