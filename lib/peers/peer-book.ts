/**
 * The peer book: the one place every peer source feeds (trackers, DHT, PEX, LSD, `--peer`, magnet `x.pe`,
 * incoming connections), and the one that decides whom to dial next. One book per torrent. Pure: no sockets, no
 * timers; the clock is an argument of every call that needs it, so tests run on a fake clock.
 *
 * What it keeps, per address (normalised by lib/peers/address.ts, so `::ffff:1.2.3.4` and `1.2.3.4` are one):
 * the sources that reported it, its state (idle, connecting, connected, given up), consecutive failures, the
 * earliest time it may be dialled again, whether it ever connected well, and its peer id once known.
 *
 * The algorithm:
 * - `add(address, source, now)`: invalid addresses and banned ones are refused; a known one gains the source. A
 *   new one is refused when its host already has `maxPerHost` entries (sources in `hostLimitExempt` — the user's
 *   own — are not capped), and when its source already introduced `sourceLimits[source]` entries the worst
 *   evictable entry of that source makes room; when the book holds `maxPeers`, the worst evictable entry overall
 *   makes room. "Worst" is a comparator chain: given up first, then more failures, then never connected well,
 *   then least recently reported. Connected and connecting entries and those from `persistentSources` are never
 *   evicted; when nothing is evictable the newcomer is refused. So no source can grow the book without bound, and
 *   a PEX or DHT flood churns its own entries, not the tracker's.
 * - `next(now, slots)`: up to `slots` idle entries whose delay has passed, best first — fewer failures, then
 *   connected well before, then the best source (`PEER_SOURCES` order: the user's, then trackers …, PEX last),
 *   then first reported first. They become `connecting`; the caller reports each back with `connected` or
 *   `failed`. An entry whose peer id is connected through another address is skipped (the same peer twice).
 * - Backoff: a failed dial, or a connection that closed before it was good, is failure number c (consecutive);
 *   the entry may be dialled again `retryDelay(c) = min(retryBase × retryFactor^(c-1), retryMax)` later — 5 s,
 *   15 s, 45 s, 135 s, 405 s, 600 s … with the defaults — and at `maxFailures` it is given up (kept as a
 *   tombstone so sources cannot re-arm it at once). A connection that lasted `goodConnection` (or that the
 *   caller marks `useful`) resets the count, so a seeder that restarts is retried 5 s after it dropped. A given-up
 *   entry that a source reports again, `retryMax` after its last failure, gets one more try. Entries from
 *   `persistentSources` (the user's `--peer`, magnet `x.pe`) are never given up: they are retried every
 *   `retryMax` for as long as the torrent runs.
 * - Bans: by address and, where known, by peer id; a banned peer is never offered again and a connection
 *   reporting a banned peer id is refused (`connected` returns false). At most `maxBans` are remembered.
 * - `nextWakeup()`: when the next idle entry becomes dialable (the caller's timer); `status(now)`: counts per
 *   source, and `starving` — no peer connected or connecting and none left to try — the moment to say so and to
 *   ask every source again.
 *
 * Incoming connections (`incoming`) are entries too, with source `incoming`, but their remote port is ephemeral:
 * they are not dialled unless another source reports the same address; when they close they are forgotten. The
 * peer's listen port (BEP 10 `p`) is added as a normal address with source `incoming` and the peer id as a hint.
 */
import { normalizeAddress, peerKey, type PeerAddress } from './address.js'

/** Where an address came from; also the rank order `next` uses (earlier = preferred). */
export type PeerSource = 'manual' | 'magnet' | 'tracker' | 'lsd' | 'incoming' | 'dht' | 'pex'
export const PEER_SOURCES: readonly PeerSource[] = ['manual', 'magnet', 'tracker', 'lsd', 'incoming', 'dht', 'pex']

export interface PeerBookOptions {
  /** Entries kept at most (connected ones beyond it are still tracked). libtorrent's max_peerlist_size is 3000. */
  maxPeers: number
  /** Entries one source may introduce; sources absent here are limited by `maxPeers` only. */
  sourceLimits: Partial<Readonly<Record<PeerSource, number>>>
  /** Entries with one host (different ports) at most, so nobody can point us many times at one machine. */
  maxPerHost: number
  /** Sources whose addresses are not refused by `maxPerHost` (the user means them). */
  hostLimitExempt: readonly PeerSource[]
  /** Sources whose entries are never evicted nor given up. */
  persistentSources: readonly PeerSource[]
  /** First retry delay (ms). */
  retryBase: number
  /** Each further consecutive failure multiplies the delay by this. */
  retryFactor: number
  /** The delay never exceeds this (ms). */
  retryMax: number
  /** Consecutive failures after which an entry is given up. */
  maxFailures: number
  /** A connection that lasted this long (ms) was good: its failures are forgiven. */
  goodConnection: number
  /** Bans remembered (oldest forgotten first). */
  maxBans: number
}

export const PEER_BOOK_DEFAULTS: Readonly<PeerBookOptions> = Object.freeze({
  maxPeers: 2000,
  sourceLimits: Object.freeze({ tracker: 1000, dht: 500, pex: 500, lsd: 100 }),
  maxPerHost: 8,
  hostLimitExempt: Object.freeze(['manual', 'magnet', 'incoming'] as PeerSource[]),
  persistentSources: Object.freeze(['manual', 'magnet'] as PeerSource[]),
  retryBase: 5_000,
  retryFactor: 3,
  retryMax: 600_000,
  maxFailures: 8,
  goodConnection: 60_000,
  maxBans: 10_000
})

export type PeerState = 'idle' | 'connecting' | 'connected' | 'given-up'

/** What `add` did. */
export type AddResult = 'added' | 'known' | 'rearmed' | 'banned' | 'invalid' | 'refused'

/** A read-only view of one entry, for displays and tests. */
export interface PeerInfo {
  readonly key: string
  readonly address: PeerAddress
  readonly sources: readonly PeerSource[]
  readonly state: PeerState
  readonly failures: number
  /** Earliest clock time it may be dialled (meaningful while idle). */
  readonly notBefore: number
  readonly everConnected: boolean
  readonly dialable: boolean
  readonly peerId: string | null
}

export interface Candidate {
  readonly key: string
  readonly address: PeerAddress
  readonly sources: readonly PeerSource[]
}

export interface SourceCounts {
  /** Entries (not given up) this source reported. */
  known: number
  /** Of those, connected now. */
  connected: number
}

export interface PeerBookStatus {
  connected: number
  connecting: number
  /** Idle entries that will be dialled (now or after their delay). */
  candidates: number
  /** Of those, dialable now. */
  due: number
  givenUp: number
  banned: number
  bySource: Record<PeerSource, SourceCounts>
  /** When the next candidate becomes dialable, or null. */
  nextRetryAt: number | null
  /** No peer connected or connecting. */
  noPeers: boolean
  /** No peer connected or connecting and none left to try: say so, and ask every source again. */
  starving: boolean
}

interface Entry {
  readonly key: string
  readonly address: PeerAddress
  readonly origin: PeerSource
  readonly sources: Set<PeerSource>
  readonly seq: number
  state: PeerState
  /** False for an incoming connection's ephemeral address that no source reported. */
  dialable: boolean
  failures: number
  notBefore: number
  lastFailureAt: number
  lastSeen: number
  connectedAt: number
  everConnected: boolean
  peerId: string | null
}

export class PeerBook {
  readonly options: Readonly<PeerBookOptions>
  readonly #entries = new Map<string, Entry>()
  readonly #perHost = new Map<string, number>()
  readonly #perOrigin = new Map<PeerSource, number>()
  /** Peer ids (hex) of connecting/connected entries → how many. */
  readonly #liveIds = new Map<string, number>()
  readonly #bannedKeys = new Set<string>()
  readonly #bannedIds = new Set<string>()
  #seq = 0

  constructor (opts: Partial<PeerBookOptions> = {}) {
    const o = { ...PEER_BOOK_DEFAULTS, ...opts }
    for (const name of ['maxPeers', 'maxPerHost', 'maxFailures', 'maxBans'] as const) {
      if (!Number.isInteger(o[name]) || o[name] < 1) throw new RangeError(`${name} must be a positive integer, got ${o[name]}`)
    }
    if (!(o.retryBase > 0) || !(o.retryMax >= o.retryBase) || !(o.retryFactor >= 1)) {
      throw new RangeError('need retryBase > 0, retryMax >= retryBase and retryFactor >= 1')
    }
    this.options = Object.freeze(o)
  }

  /** The delay after `failures` consecutive failures (1-based). */
  retryDelay (failures: number): number {
    const { retryBase, retryFactor, retryMax } = this.options
    return Math.min(retryBase * retryFactor ** Math.max(0, failures - 1), retryMax)
  }

  get size (): number { return this.#entries.size }

  /** A peer some source reported. `peerId` is a hint (e.g. the listen port of a peer connected to us). */
  add (address: PeerAddress, source: PeerSource, now: number, hint: { peerId?: Buffer } = {}): AddResult {
    const normal = normalizeAddress(address)
    if (normal === null) return 'invalid'
    const key = peerKey(normal)
    if (this.#bannedKeys.has(key)) return 'banned'
    const peerId = hint.peerId?.toString('hex') ?? null
    if (peerId !== null && this.#bannedIds.has(peerId)) return 'banned'
    const known = this.#entries.get(key)
    if (known !== undefined) {
      known.sources.add(source)
      known.lastSeen = now
      known.dialable = true
      if (peerId !== null && known.peerId === null) known.peerId = peerId
      if (known.state === 'given-up' && now >= known.lastFailureAt + this.options.retryMax) {
        known.state = 'idle'
        known.failures = this.options.maxFailures - 1
        known.notBefore = now
        return 'rearmed'
      }
      return 'known'
    }
    if (!this.options.hostLimitExempt.includes(source) && (this.#perHost.get(normal.host) ?? 0) >= this.options.maxPerHost) return 'refused'
    const limit = this.options.sourceLimits[source]
    if (limit !== undefined && (this.#perOrigin.get(source) ?? 0) >= limit && !this.#evictWorst(source)) return 'refused'
    if (this.#entries.size >= this.options.maxPeers && !this.#evictWorst(null)) return 'refused'
    this.#insert(key, normal, source, now, true, peerId)
    return 'added'
  }

  /**
   * An incoming connection from `address` (its remote, usually ephemeral, port). Returns its key, or null when the
   * address or the peer id is banned (drop the connection).
   */
  incoming (address: PeerAddress, now: number, peerId?: Buffer): string | null {
    const normal = normalizeAddress(address)
    if (normal === null) return null
    const key = peerKey(normal)
    const id = peerId?.toString('hex') ?? null
    if (this.#bannedKeys.has(key) || (id !== null && this.#bannedIds.has(id))) return null
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      if (this.#entries.size >= this.options.maxPeers) this.#evictWorst(null) // else: over the bound by live connections only
      entry = this.#insert(key, normal, 'incoming', now, false, id)
    }
    entry.sources.add('incoming')
    entry.lastSeen = now
    this.#setState(entry, 'connected')
    if (id !== null) this.#setPeerId(entry, id)
    entry.connectedAt = now
    return key
  }

  /** Up to `slots` addresses to dial now, best first; each is `connecting` until `connected` or `failed`. */
  next (now: number, slots: number): Candidate[] {
    if (slots <= 0) return []
    const due: Entry[] = []
    for (const e of this.#entries.values()) if (this.#eligible(e) && e.notBefore <= now) due.push(e)
    due.sort((a, b) => a.failures - b.failures ||
      Number(b.everConnected) - Number(a.everConnected) ||
      rank(a) - rank(b) ||
      a.seq - b.seq)
    const out: Candidate[] = []
    for (const e of due) {
      if (out.length >= slots) break
      // a peer id taken by an earlier pick in this same batch
      if (e.peerId !== null && this.#liveIds.has(e.peerId)) continue
      this.#setState(e, 'connecting')
      out.push({ key: e.key, address: e.address, sources: sortedSources(e) })
    }
    return out
  }

  /** The earliest time an idle entry becomes dialable (may be ≤ now: dial now), or null when none is waiting. */
  nextWakeup (): number | null {
    let at = Infinity
    for (const e of this.#entries.values()) if (this.#eligible(e) && e.notBefore < at) at = e.notBefore
    return at === Infinity ? null : at
  }

  /**
   * The dial (or the handshake) of `key` succeeded. Returns false when the peer id is banned: the caller drops the
   * connection (and the address is banned with it).
   */
  connected (key: string, now: number, peerId?: Buffer): boolean {
    const id = peerId?.toString('hex') ?? null
    if (id !== null && this.#bannedIds.has(id)) {
      this.ban(key)
      return false
    }
    const e = this.#entries.get(key)
    if (e === undefined) return !this.#bannedKeys.has(key)
    this.#setState(e, 'connected')
    if (id !== null) this.#setPeerId(e, id)
    e.connectedAt = now
    return true
  }

  /** The dial of `key` failed (refused, timed out, bad handshake). */
  failed (key: string, now: number): void {
    const e = this.#entries.get(key)
    if (e === undefined || e.state === 'given-up') return
    this.#fail(e, now, e.failures + 1)
  }

  /**
   * The connection to `key` closed. It was good when it lasted `goodConnection` or `useful` says so (the session
   * knows whether data flowed); then its failure count starts again. `retry: false` gives the entry up (e.g. both
   * sides are seeds); a source reporting it again later re-arms it.
   */
  disconnected (key: string, now: number, opts: { useful?: boolean, retry?: boolean } = {}): void {
    const e = this.#entries.get(key)
    if (e === undefined || e.state === 'given-up') return
    if (e.state === 'connecting') { this.failed(key, now); return }
    const good = e.state === 'connected' && (opts.useful === true || now - e.connectedAt >= this.options.goodConnection)
    if (good) e.everConnected = true
    if (!e.dialable) { this.#delete(e); return }
    if (opts.retry === false) {
      this.#setState(e, 'given-up')
      e.lastFailureAt = now
      return
    }
    this.#fail(e, now, good ? 1 : e.failures + 1)
  }

  /**
   * Never offer this address (or, when given or known, this peer id) again; forgets the entries. Returns the keys
   * of forgotten entries that were connecting or connected: the caller closes those connections.
   */
  ban (target: string | PeerAddress, peerId?: Buffer): string[] {
    let key: string | null = typeof target === 'string' ? target : null
    if (typeof target !== 'string') {
      const normal = normalizeAddress(target)
      key = normal === null ? null : peerKey(normal)
    }
    const e = key === null ? undefined : this.#entries.get(key)
    const id = peerId?.toString('hex') ?? e?.peerId ?? null
    if (key !== null) remember(this.#bannedKeys, key, this.options.maxBans)
    if (id !== null) remember(this.#bannedIds, id, this.options.maxBans)
    const live: string[] = []
    const drop = (x: Entry): void => {
      if (x.state === 'connecting' || x.state === 'connected') live.push(x.key)
      this.#delete(x)
    }
    if (e !== undefined) drop(e)
    if (id !== null) for (const other of [...this.#entries.values()]) if (other.peerId === id) drop(other)
    return live
  }

  isBanned (target: string | PeerAddress, peerId?: Buffer): boolean {
    if (peerId !== undefined && this.#bannedIds.has(peerId.toString('hex'))) return true
    if (typeof target === 'string') return this.#bannedKeys.has(target)
    const normal = normalizeAddress(target)
    return normal !== null && this.#bannedKeys.has(peerKey(normal))
  }

  /** Forget an entry (it may be reported again). */
  forget (key: string): void {
    const e = this.#entries.get(key)
    if (e !== undefined) this.#delete(e)
  }

  get (target: string | PeerAddress): PeerInfo | undefined {
    let key = target
    if (typeof target !== 'string') {
      const normal = normalizeAddress(target)
      if (normal === null) return undefined
      key = peerKey(normal)
    }
    const e = this.#entries.get(key as string)
    return e === undefined ? undefined : info(e)
  }

  * peers (): IterableIterator<PeerInfo> {
    for (const e of this.#entries.values()) yield info(e)
  }

  status (now: number): PeerBookStatus {
    const bySource = Object.fromEntries(PEER_SOURCES.map((s) => [s, { known: 0, connected: 0 }])) as Record<PeerSource, SourceCounts>
    let connected = 0
    let connecting = 0
    let candidates = 0
    let due = 0
    let givenUp = 0
    for (const e of this.#entries.values()) {
      if (e.state === 'given-up') { givenUp++; continue }
      if (e.state === 'connected') connected++
      else if (e.state === 'connecting') connecting++
      else if (e.dialable) {
        candidates++
        if (e.notBefore <= now) due++
      }
      for (const s of e.sources) {
        bySource[s].known++
        if (e.state === 'connected') bySource[s].connected++
      }
    }
    const noPeers = connected === 0 && connecting === 0
    return {
      connected,
      connecting,
      candidates,
      due,
      givenUp,
      banned: this.#bannedKeys.size,
      bySource,
      nextRetryAt: this.nextWakeup(),
      noPeers,
      starving: noPeers && candidates === 0
    }
  }

  // ---- internals ----------------------------------------------------------------------------------------

  #eligible (e: Entry): boolean {
    return e.state === 'idle' && e.dialable && (e.peerId === null || !this.#liveIds.has(e.peerId))
  }

  #insert (key: string, address: PeerAddress, source: PeerSource, now: number, dialable: boolean, peerId: string | null): Entry {
    const e: Entry = {
      key,
      address,
      origin: source,
      sources: new Set([source]),
      seq: this.#seq++,
      state: 'idle',
      dialable,
      failures: 0,
      notBefore: now,
      lastFailureAt: -Infinity,
      lastSeen: now,
      connectedAt: 0,
      everConnected: false,
      peerId
    }
    this.#entries.set(key, e)
    // only capped sources count against a host: ten incoming connections from one NAT must not lock it out
    if (!this.options.hostLimitExempt.includes(source)) this.#perHost.set(address.host, (this.#perHost.get(address.host) ?? 0) + 1)
    this.#perOrigin.set(source, (this.#perOrigin.get(source) ?? 0) + 1)
    return e
  }

  #delete (e: Entry): void {
    this.#setState(e, 'idle') // releases a live peer id
    this.#entries.delete(e.key)
    if (!this.options.hostLimitExempt.includes(e.origin)) decrement(this.#perHost, e.address.host)
    decrement(this.#perOrigin, e.origin)
  }

  #setState (e: Entry, state: PeerState): void {
    const wasLive = e.state === 'connecting' || e.state === 'connected'
    const isLive = state === 'connecting' || state === 'connected'
    if (e.peerId !== null && wasLive !== isLive) {
      if (isLive) this.#liveIds.set(e.peerId, (this.#liveIds.get(e.peerId) ?? 0) + 1)
      else decrement(this.#liveIds, e.peerId)
    }
    e.state = state
  }

  #setPeerId (e: Entry, id: string): void {
    if (e.peerId === id) return
    const live = e.state === 'connecting' || e.state === 'connected'
    if (live && e.peerId !== null) decrement(this.#liveIds, e.peerId)
    e.peerId = id
    if (live) this.#liveIds.set(id, (this.#liveIds.get(id) ?? 0) + 1)
  }

  #fail (e: Entry, now: number, failures: number): void {
    this.#setState(e, 'idle')
    e.lastFailureAt = now
    const persistent = [...e.sources].some((s) => this.options.persistentSources.includes(s))
    if (failures >= this.options.maxFailures && !persistent) {
      e.failures = failures
      this.#setState(e, 'given-up')
      return
    }
    e.failures = failures
    e.notBefore = now + this.retryDelay(failures)
  }

  /** Evict the worst evictable entry (of `origin`, or of any origin); false when none may go. */
  #evictWorst (origin: PeerSource | null): boolean {
    let worst: Entry | null = null
    for (const e of this.#entries.values()) {
      if (origin !== null && e.origin !== origin) continue
      if (e.state === 'connecting' || e.state === 'connected') continue
      if ([...e.sources].some((s) => this.options.persistentSources.includes(s))) continue
      if (worst === null || worse(e, worst)) worst = e
    }
    if (worst === null) return false
    this.#delete(worst)
    return true
  }
}

/** True when `a` should be evicted before `b`. */
function worse (a: Entry, b: Entry): boolean {
  const aGone = a.state === 'given-up'
  const bGone = b.state === 'given-up'
  if (aGone !== bGone) return aGone
  if (a.failures !== b.failures) return a.failures > b.failures
  if (a.everConnected !== b.everConnected) return !a.everConnected
  if (a.lastSeen !== b.lastSeen) return a.lastSeen < b.lastSeen
  return a.seq < b.seq
}

function rank (e: Entry): number {
  let best = PEER_SOURCES.length
  for (const s of e.sources) best = Math.min(best, PEER_SOURCES.indexOf(s))
  return best
}

function sortedSources (e: Entry): PeerSource[] {
  return PEER_SOURCES.filter((s) => e.sources.has(s))
}

function info (e: Entry): PeerInfo {
  return {
    key: e.key,
    address: e.address,
    sources: sortedSources(e),
    state: e.state,
    failures: e.failures,
    notBefore: e.notBefore,
    everConnected: e.everConnected,
    dialable: e.dialable,
    peerId: e.peerId
  }
}

function decrement<K> (map: Map<K, number>, key: K): void {
  const n = (map.get(key) ?? 0) - 1
  if (n <= 0) map.delete(key)
  else map.set(key, n)
}

function remember (set: Set<string>, value: string, max: number): void {
  set.delete(value)
  set.add(value)
  while (set.size > max) {
    const oldest = set.values().next()
    if (oldest.done === true) break
    set.delete(oldest.value)
  }
}
