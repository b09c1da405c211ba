/**
 * The Mainline DHT (BEP 5) as a peer source, over the `bittorrent-dht` package (types: ./bittorrent-dht.d.ts).
 * One `Dht` per client (one UDP port, one routing table), shared by its torrents. The package answers other
 * nodes' queries (ping, find_node, get_peers, announce_peer) and runs lookups; this module adds what a client
 * needs around it:
 *
 * - Bootstrap: the public routers (`DHT_PUBLIC_ROUTERS`) by default, replaced by `bootstrap` (HOST:PORT, e.g.
 *   from `--dht-bootstrap`); `[]` means none (the first node of a private DHT). Host names are resolved here,
 *   IPv4 (the package is IPv4 only), so the package never resolves anything itself.
 * - The network guard: with `ZENTORRENT_NO_PUBLIC_DHT=1` in the environment (tests and CI set it) the constructor
 *   throws DHT_PUBLIC_REFUSED — before a socket exists, so before any packet or DNS query — unless `bootstrap`
 *   is given and names only loopback / private / link-local addresses (or `localhost`). While the guard is on,
 *   the socket also drops every datagram to a non-local address (a local node could hand out public ones) and
 *   saved or added nodes that are not local are ignored.
 * - The routing table survives restarts: `close()` writes our node id and the table's contacts (at most
 *   `maxSavedNodes`) to `statePath` — default `$XDG_CACHE_HOME/zentorrent/dht.json`, else
 *   `~/.cache/zentorrent/dht.json`; null for none — and `start()` reads them back: the saved contacts (the first
 *   `savedBootstrapNodes`) are the bootstrap, so a restart does not go back to the routers. Only when none of them
 *   answers (the table is still empty when bootstrapping ends) are the configured bootstrap nodes asked.
 * - Torrents: `join({ infoHash, port, private })` runs a round — a `get_peers` lookup, then (port > 0) an
 *   `announce_peer` to the closest nodes that gave us a token — at once and every `announceInterval` (libtorrent's
 *   dht_announce_interval: 15 min); `refresh()` runs one now when the last started at least `minLookupInterval`
 *   ago (the session calls it when it has no peers). A private torrent (BEP 27) gets an inert handle: the session
 *   can call `join` for every torrent without a branch, and nothing about a private one reaches the DHT.
 * - Hostile input: every datagram passes lib/discovery/krpc.ts (types and sizes, see there) and a per-sender
 *   query rate limit (`maxQueriesPerSecond`); a response must answer a query we sent to that address and
 *   transaction id. Peers found are normalised, deduplicated per lookup round, at most `maxPeersPerLookup` a round,
 *   and one address is believed for at most `maxInfoHashesPerAddress` info hashes (replies pointing many torrents
 *   at one victim are cut there). Peers announced to us are kept `announcedPeerAge` at most, `maxStoredPeers` in all.
 *
 * Events: 'peer' (address, infoHash) for every peer found, 'ready' once bootstrapping ends, 'warning' (err) for what
 * a user may want to know (a bad state file, a socket error after start). No 'error' event: nothing here is fatal
 * to a running client.
 */
import { createSocket as createDgramSocket, type RemoteInfo, type Socket as DgramSocket } from 'node:dgram'
import { lookup as dnsLookup } from 'node:dns/promises'
import { EventEmitter } from 'node:events'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join } from 'node:path'
import { randomBytes } from 'node:crypto'
// bittorrent-dht is loaded when a DHT starts (~60 ms and ~15 MiB resident at import): `--no-dht` and private
// torrents never load it
import type DHT from 'bittorrent-dht'
import type { KrpcSocketLike } from 'bittorrent-dht'
import { ZentorrentError } from '../errors.js'
import { classifyHost, isLocalHost, isUndialable, normalizeAddress, parseHostPort, peerKey, type PeerAddress } from '../peers/address.js'
import { systemClock, type Clock } from '../clock.js'
import { checkInbound, checkOutbound, KRPC_LIMITS, type KrpcLimits } from './krpc.js'

/** The well-known public bootstrap routers: the default, never used while ZENTORRENT_NO_PUBLIC_DHT=1. */
export const DHT_PUBLIC_ROUTERS: readonly string[] = Object.freeze([
  'router.bittorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'router.utorrent.com:6881'
])

/** Set to 1 (tests, CI, the demo) to make the DHT refuse the public routers and any non-local node. */
export const NO_PUBLIC_DHT_ENV = 'ZENTORRENT_NO_PUBLIC_DHT'

export function publicDhtRefused (env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env[NO_PUBLIC_DHT_ENV]
  return value === '1' || value === 'true' || value === 'yes'
}

/** `$XDG_CACHE_HOME/zentorrent/dht.json`, or `~/.cache/zentorrent/dht.json`. */
export function defaultDhtStatePath (env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const xdg = env.XDG_CACHE_HOME
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.cache'), 'zentorrent', 'dht.json')
}

export interface DhtOptions {
  /** UDP port (0: any free one). A client passes the number of its TCP listen port. */
  port?: number
  /** Address to bind (default all IPv4 interfaces). */
  host?: string
  /** HOST:PORT nodes to bootstrap from; default the public routers; [] for none. */
  bootstrap?: ReadonlyArray<string | PeerAddress>
  /** Where the routing table is saved on close and read on start; null: nowhere. Default `defaultDhtStatePath()`. */
  statePath?: string | null
  /** Our node id (20 bytes); default: the saved one, else random. */
  nodeId?: Buffer
  /** For the guard (default process.env). */
  env?: NodeJS.ProcessEnv
  clock?: Clock
  /** Between two lookup + announce rounds of a torrent. */
  announceInterval?: number
  /** `refresh()` runs a round only if the last one started at least this long ago. */
  minLookupInterval?: number
  maxPeersPerLookup?: number
  maxInfoHashesPerAddress?: number
  /** Addresses remembered for `maxInfoHashesPerAddress` (least recently reported forgotten first). */
  maxTrackedAddresses?: number
  maxQueriesPerSecond?: number
  /** Peers announced to us that we keep, and for how long (ms). */
  maxStoredPeers?: number
  announcedPeerAge?: number
  maxSavedNodes?: number
  savedBootstrapNodes?: number
  /** KRPC query timeout (ms). */
  queryTimeout?: number
  krpcLimits?: Partial<KrpcLimits>
  /** The UDP socket (tests pass a spied one). Default an udp4 socket. */
  createSocket?: () => DgramSocket
  /** Name resolution for bootstrap host names (IPv4). */
  resolve?: (host: string) => Promise<string>
}

export const DHT_DEFAULTS = Object.freeze({
  port: 0,
  host: '0.0.0.0',
  announceInterval: 15 * 60_000,
  minLookupInterval: 60_000,
  maxPeersPerLookup: 500,
  maxInfoHashesPerAddress: 8,
  maxTrackedAddresses: 4096,
  maxQueriesPerSecond: 50,
  maxStoredPeers: 2000,
  announcedPeerAge: 30 * 60_000,
  maxSavedNodes: 200,
  savedBootstrapNodes: 8,
  queryTimeout: 2_000
})

export interface DhtEvents {
  peer: [address: PeerAddress, infoHash: Buffer]
  ready: []
  warning: [err: Error]
}

export interface DhtStats {
  /** Contacts in the routing table. */
  nodes: number
  /** Inbound datagrams dropped (malformed, oversized, unsolicited, over the rate). */
  inboundDropped: number
  /** Outbound datagrams not sent (guard, undialable address). */
  outboundBlocked: number
  /** Peers from lookups dropped (invalid, over a bound). */
  peersDropped: number
}

interface SavedState {
  nodeId: Buffer | null
  nodes: PeerAddress[]
}

/**
 * The bootstrap nodes `bootstrap` names (default: the public routers), checked against the guard: throws
 * DHT_PUBLIC_REFUSED when the guard is on and a node is not local. No name is resolved here.
 */
export function bootstrapNodes (bootstrap: ReadonlyArray<string | PeerAddress> | undefined, env: NodeJS.ProcessEnv = process.env): PeerAddress[] {
  const guard = publicDhtRefused(env)
  if (bootstrap === undefined && guard) {
    throw new ZentorrentError('DHT_PUBLIC_REFUSED',
      `${NO_PUBLIC_DHT_ENV}=1 is set: the DHT will not use the public bootstrap routers. ` +
      'Name local nodes with --dht-bootstrap HOST:PORT, or turn the DHT off with --no-dht.')
  }
  const nodes = (bootstrap ?? DHT_PUBLIC_ROUTERS).map((item) => {
    if (typeof item === 'string') return parseHostPort(item)
    const normal = normalizeAddress(item)
    if (normal === null) throw new ZentorrentError('BAD_ARGUMENT', `not a valid DHT node: ${item.host}:${item.port}`)
    return normal
  })
  for (const node of nodes) {
    if (node.host.includes(':')) throw new ZentorrentError('BAD_ARGUMENT', `DHT node ${peerKey(node)}: the DHT runs over IPv4 only`)
  }
  if (guard) {
    for (const node of nodes) {
      if (!(isLocalHost(node.host) || node.host === 'localhost')) {
        throw new ZentorrentError('DHT_PUBLIC_REFUSED',
          `${NO_PUBLIC_DHT_ENV}=1 is set: the DHT node ${peerKey(node)} is not a local address`)
      }
    }
  }
  return nodes
}

async function resolveIPv4 (host: string): Promise<string> {
  const { address } = await dnsLookup(host, { family: 4 })
  return address
}

/** The socket the package gets: checks every datagram both ways (see the module comment). */
class GuardedSocket extends EventEmitter implements KrpcSocketLike {
  readonly #inner: DgramSocket
  readonly #guard: boolean
  readonly #limits: KrpcLimits
  readonly #now: () => number
  readonly #pendingTtl: number
  readonly #maxQueriesPerSecond: number
  /** `host:port/t-hex` of queries we sent → expiry. */
  readonly #pending = new Map<string, number>()
  readonly #rates = new Map<string, { second: number, count: number }>()
  readonly stats = { inboundDropped: 0, outboundBlocked: 0 }

  constructor (inner: DgramSocket, opts: { guard: boolean, limits: KrpcLimits, now: () => number, queryTimeout: number, maxQueriesPerSecond: number }) {
    super()
    this.#inner = inner
    this.#guard = opts.guard
    this.#limits = opts.limits
    this.#now = opts.now
    this.#pendingTtl = 4 * opts.queryTimeout
    this.#maxQueriesPerSecond = opts.maxQueriesPerSecond
    inner.on('message', (buf: Buffer, rinfo: RemoteInfo) => { this.#inbound(buf, rinfo) })
    inner.on('error', (err: Error) => this.emit('error', err))
    inner.on('listening', () => this.emit('listening'))
    inner.on('close', () => this.emit('close'))
  }

  allowed (host: string, port: number): boolean {
    if (port <= 0 || port > 65535 || classifyHost(host) === 'hostname' || isUndialable(host)) return false
    return !this.#guard || isLocalHost(host)
  }

  send (buf: Buffer, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void): void {
    if (!this.allowed(host, port)) {
      this.stats.outboundBlocked++
      if (cb !== undefined) process.nextTick(cb, null)
      return
    }
    const out = checkOutbound(buf.subarray(offset, offset + length), this.#limits)
    if (out.y === 'q' && out.t !== null) this.#remember(`${host}:${port}/${out.t.toString('hex')}`)
    this.#inner.send(out.packet, 0, out.packet.length, port, host, (err) => { cb?.(err ?? null) })
  }

  bind (port?: number, host?: string, cb?: () => void): void {
    this.#inner.bind(port, host, cb)
  }

  address (): { address: string, family: string, port: number } {
    return this.#inner.address()
  }

  close (): void {
    this.#inner.close()
  }

  #remember (key: string): void {
    const now = this.#now()
    if (this.#pending.size >= 4096) {
      for (const [k, expiry] of this.#pending) if (expiry <= now) this.#pending.delete(k)
      while (this.#pending.size >= 4096) this.#pending.delete(this.#pending.keys().next().value as string)
    }
    this.#pending.set(key, now + this.#pendingTtl)
  }

  #inbound (buf: Buffer, rinfo: RemoteInfo): void {
    const verdict = checkInbound(buf, this.#limits)
    if (!verdict.ok || (this.#guard && !isLocalHost(rinfo.address))) {
      this.stats.inboundDropped++
      return
    }
    const source = `${rinfo.address}:${rinfo.port}`
    if (verdict.y === 'q') {
      if (!this.#withinRate(source)) { this.stats.inboundDropped++; return }
    } else {
      const key = `${source}/${verdict.t.toString('hex')}`
      const expiry = this.#pending.get(key)
      if (expiry === undefined || expiry < this.#now()) { this.stats.inboundDropped++; return }
      this.#pending.delete(key)
    }
    this.emit('message', verdict.packet, rinfo)
  }

  #withinRate (source: string): boolean {
    const second = Math.floor(this.#now() / 1000)
    let rate = this.#rates.get(source)
    if (rate === undefined || rate.second !== second) {
      if (this.#rates.size >= 4096) for (const [k, r] of this.#rates) if (r.second !== second) this.#rates.delete(k)
      if (this.#rates.size >= 4096) this.#rates.clear() // more senders in one second than we track: start over
      rate = { second, count: 0 }
      this.#rates.set(source, rate)
    }
    return ++rate.count <= this.#maxQueriesPerSecond
  }
}

/** One torrent's presence in the DHT (from `Dht.join`). */
export class DhtTorrent extends EventEmitter<{ peer: [address: PeerAddress] }> {
  readonly infoHash: Buffer
  /** False for a private torrent: nothing is ever looked up or announced. */
  readonly active: boolean
  port: number
  /** Clock time the last round started (-Infinity: none yet). */
  lastRoundAt = -Infinity
  /** @internal */ running = false
  /** @internal */ cancel: (() => void) | null = null
  readonly #owner: Dht | null

  /** @internal */
  constructor (owner: Dht | null, infoHash: Buffer, port: number) {
    super()
    this.#owner = owner
    this.infoHash = infoHash
    this.port = port
    this.active = owner !== null
  }

  /** Look up (and announce) now, unless a round started less than `minLookupInterval` ago. True if one started. */
  refresh (): boolean {
    return this.#owner?.refreshTorrent(this) ?? false
  }

  /** Stop the rounds (the torrent stopped). */
  leave (): void {
    this.#owner?.leaveTorrent(this)
  }
}

type Resolved = Required<Omit<DhtOptions, 'bootstrap' | 'statePath' | 'nodeId' | 'env' | 'clock' | 'krpcLimits' | 'createSocket' | 'resolve'>>

export class Dht extends EventEmitter<DhtEvents> {
  readonly #opts: Resolved
  readonly #bootstrap: PeerAddress[]
  readonly #guard: boolean
  readonly #statePath: string | null
  readonly #clock: Clock
  readonly #limits: KrpcLimits
  readonly #createSocket: () => DgramSocket
  readonly #resolve: (host: string) => Promise<string>
  readonly #nodeId: Buffer | undefined
  #dht: DHT | null = null
  #socket: GuardedSocket | null = null
  #starting: Promise<void> | null = null
  #closing: Promise<void> | null = null
  #ready = false
  #configured: PeerAddress[] = []
  readonly #torrents = new Map<string, DhtTorrent>()
  /** Per info hash: the addresses seen in the current round. */
  readonly #rounds = new Map<string, Set<string>>()
  /** Address → info hashes it was reported for (insertion order = least recently reported first). */
  readonly #addressHashes = new Map<string, Set<string>>()
  #peersDropped = 0

  constructor (opts: DhtOptions = {}) {
    super()
    const env = opts.env ?? process.env
    this.#guard = publicDhtRefused(env)
    this.#bootstrap = bootstrapNodes(opts.bootstrap, env) // throws DHT_PUBLIC_REFUSED: nothing exists yet
    this.#opts = {
      port: opts.port ?? DHT_DEFAULTS.port,
      host: opts.host ?? DHT_DEFAULTS.host,
      announceInterval: opts.announceInterval ?? DHT_DEFAULTS.announceInterval,
      minLookupInterval: opts.minLookupInterval ?? DHT_DEFAULTS.minLookupInterval,
      maxPeersPerLookup: opts.maxPeersPerLookup ?? DHT_DEFAULTS.maxPeersPerLookup,
      maxInfoHashesPerAddress: opts.maxInfoHashesPerAddress ?? DHT_DEFAULTS.maxInfoHashesPerAddress,
      maxTrackedAddresses: opts.maxTrackedAddresses ?? DHT_DEFAULTS.maxTrackedAddresses,
      maxQueriesPerSecond: opts.maxQueriesPerSecond ?? DHT_DEFAULTS.maxQueriesPerSecond,
      maxStoredPeers: opts.maxStoredPeers ?? DHT_DEFAULTS.maxStoredPeers,
      announcedPeerAge: opts.announcedPeerAge ?? DHT_DEFAULTS.announcedPeerAge,
      maxSavedNodes: opts.maxSavedNodes ?? DHT_DEFAULTS.maxSavedNodes,
      savedBootstrapNodes: opts.savedBootstrapNodes ?? DHT_DEFAULTS.savedBootstrapNodes,
      queryTimeout: opts.queryTimeout ?? DHT_DEFAULTS.queryTimeout
    }
    if (opts.nodeId !== undefined && opts.nodeId.length !== 20) throw new ZentorrentError('BAD_ARGUMENT', 'a DHT node id is 20 bytes')
    this.#nodeId = opts.nodeId
    this.#statePath = opts.statePath === undefined ? defaultDhtStatePath(env) : opts.statePath
    this.#clock = opts.clock ?? systemClock
    this.#limits = { ...KRPC_LIMITS, ...opts.krpcLimits }
    this.#createSocket = opts.createSocket ?? (() => createDgramSocket('udp4'))
    this.#resolve = opts.resolve ?? resolveIPv4
  }

  /** Contacts in the routing table. */
  get nodeCount (): number {
    return this.#dht?.nodes.count() ?? 0
  }

  /** The bound UDP port (0 before start). */
  get port (): number {
    return this.#dht?.listening === true ? this.#dht.address().port : 0
  }

  get nodeId (): Buffer | null {
    return this.#dht?.nodeId ?? null
  }

  get ready (): boolean {
    return this.#ready
  }

  stats (): DhtStats {
    return {
      nodes: this.nodeCount,
      inboundDropped: this.#socket?.stats.inboundDropped ?? 0,
      outboundBlocked: this.#socket?.stats.outboundBlocked ?? 0,
      peersDropped: this.#peersDropped
    }
  }

  /** Read the saved table, resolve the bootstrap names, bind the socket. Resolves once listening. Idempotent. */
  async start (): Promise<void> {
    this.#starting ??= this.#start()
    await this.#starting
  }

  async #start (): Promise<void> {
    const { default: DhtNode } = await import('bittorrent-dht')
    const saved = await this.#load()
    const configured: PeerAddress[] = []
    for (const node of this.#bootstrap) {
      const host = classifyHost(node.host) === 'hostname' ? await this.#resolve(node.host) : node.host
      if (this.#guard && !isLocalHost(host)) {
        throw new ZentorrentError('DHT_PUBLIC_REFUSED', `${NO_PUBLIC_DHT_ENV}=1 is set: ${node.host} resolves to ${host}, not a local address`)
      }
      configured.push({ host, port: node.port })
    }
    if (this.#closing !== null) throw new ZentorrentError('ABORTED', 'the DHT was closed while starting')
    this.#configured = configured
    const socket = new GuardedSocket(this.#createSocket(), {
      guard: this.#guard,
      limits: this.#limits,
      now: () => this.#clock.now(),
      queryTimeout: this.#opts.queryTimeout,
      maxQueriesPerSecond: this.#opts.maxQueriesPerSecond
    })
    this.#socket = socket
    const savedNodes = saved.nodes.filter((n) => socket.allowed(n.host, n.port))
    const usingSaved = savedNodes.length > 0
    const first = usingSaved ? savedNodes.slice(0, this.#opts.savedBootstrapNodes) : configured
    const nodeId = this.#nodeId ?? saved.nodeId ?? undefined
    const dht = new DhtNode({
      ...(nodeId !== undefined ? { nodeId } : {}),
      bootstrap: first.length > 0 ? first.map((n) => ({ host: n.host, port: n.port })) : false,
      socket,
      maxPeers: this.#opts.maxStoredPeers,
      maxAge: this.#opts.announcedPeerAge,
      timeout: this.#opts.queryTimeout
    })
    this.#dht = dht
    dht.on('peer', (peer, infoHash) => { this.#onPeer(peer, infoHash) })
    dht.on('warning', () => {}) // malformed traffic is counted by the socket; the package's warnings are noise
    dht.once('ready', () => {
      if (usingSaved && dht.nodes.count() === 0) this.#fallBack(dht)
      this.#ready = true
      this.emit('ready')
    })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new ZentorrentError('DHT_UNAVAILABLE', `cannot use UDP port ${this.#opts.port} for the DHT: ${err.message}`, { cause: err }))
      }
      dht.once('error', onError)
      dht.listen(this.#opts.port, this.#opts.host, () => {
        dht.off('error', onError)
        dht.on('error', (err) => this.emit('warning', err))
        resolve()
      })
    }).catch(async (err: unknown) => {
      await new Promise<void>((resolve) => { dht.destroy(resolve) })
      this.#dht = null
      throw err
    })
    for (const node of savedNodes.slice(this.#opts.savedBootstrapNodes)) dht.addNode({ host: node.host, port: node.port })
  }

  /** None of the saved contacts answered: bootstrap from the configured nodes after all. */
  #fallBack (dht: DHT): void {
    if (this.#configured.length === 0) return
    for (const node of this.#configured) dht.addNode({ host: node.host, port: node.port })
    // the pings above take up to a query timeout; then a lookup of our own id fills the table from them
    this.#clock.schedule(() => { if (!dht.destroyed) dht.lookup(dht.nodeId) }, this.#opts.queryTimeout + 100)
  }

  /** A DHT node to know (e.g. from a peer's BEP 5 `port` message). Ignored when the guard refuses its address. */
  addNode (address: PeerAddress): void {
    const normal = normalizeAddress(address)
    if (this.#dht === null || normal === null || this.#socket?.allowed(normal.host, normal.port) !== true) return
    this.#dht.addNode({ host: normal.host, port: normal.port })
  }

  /** A get_peers lookup; 'peer' events while it runs. Resolves with the number of nodes that answered. */
  async lookup (infoHash: Buffer): Promise<number> {
    const dht = this.#requireStarted()
    const hex = infoHash.toString('hex')
    this.#rounds.set(hex, new Set())
    const visited = await new Promise<number>((resolve) => {
      dht.lookup(infoHash, (err, n) => { resolve(err === null ? n ?? 0 : 0) })
    })
    if (!this.#torrents.has(hex)) this.#rounds.delete(hex) // a one-off lookup: nothing to remember
    return visited
  }

  /** announce_peer for `port` to the closest nodes (after a lookup when none is cached). Resolves with how many took it. */
  async announce (infoHash: Buffer, port: number): Promise<number> {
    const dht = this.#requireStarted()
    return await new Promise<number>((resolve) => {
      dht.announce(infoHash, port, (err, count) => { resolve(err === null ? count ?? 0 : 0) })
    })
  }

  /**
   * Keep a torrent in the DHT: a round (lookup, then announce when `port` > 0) now and every `announceInterval`.
   * A private torrent gets an inert handle. Joining an info hash again returns its handle (with the new port).
   */
  join (torrent: { infoHash: Buffer, port: number, private: boolean }): DhtTorrent {
    if (torrent.private) return new DhtTorrent(null, torrent.infoHash, torrent.port)
    const hex = torrent.infoHash.toString('hex')
    const known = this.#torrents.get(hex)
    if (known !== undefined) {
      known.port = torrent.port
      return known
    }
    const handle = new DhtTorrent(this, torrent.infoHash, torrent.port)
    this.#torrents.set(hex, handle)
    this.#round(handle)
    return handle
  }

  /** @internal (DhtTorrent.refresh) */
  refreshTorrent (handle: DhtTorrent): boolean {
    if (this.#torrents.get(handle.infoHash.toString('hex')) !== handle || handle.running) return false
    if (this.#clock.now() - handle.lastRoundAt < this.#opts.minLookupInterval) return false
    handle.cancel?.()
    handle.cancel = null
    this.#round(handle)
    return true
  }

  /** @internal (DhtTorrent.leave) */
  leaveTorrent (handle: DhtTorrent): void {
    const hex = handle.infoHash.toString('hex')
    if (this.#torrents.get(hex) !== handle) return
    handle.cancel?.()
    handle.cancel = null
    this.#torrents.delete(hex)
    this.#rounds.delete(hex)
  }

  #round (handle: DhtTorrent): void {
    handle.running = true
    handle.lastRoundAt = this.#clock.now()
    const run = async (): Promise<void> => {
      await this.start()
      await this.lookup(handle.infoHash)
      if (handle.port > 0 && this.#torrents.get(handle.infoHash.toString('hex')) === handle) await this.announce(handle.infoHash, handle.port)
    }
    run().catch((err: unknown) => {
      if (this.#closing === null) this.emit('warning', err instanceof Error ? err : new Error(String(err)))
    }).finally(() => {
      handle.running = false
      if (this.#closing !== null || this.#torrents.get(handle.infoHash.toString('hex')) !== handle) return
      handle.cancel = this.#clock.schedule(() => {
        handle.cancel = null
        this.#round(handle)
      }, this.#opts.announceInterval)
    })
  }

  #onPeer (peer: { host: string, port: number }, infoHash: Buffer): void {
    const normal = normalizeAddress(peer)
    if (normal === null || isUndialable(normal.host)) { this.#peersDropped++; return }
    const hex = infoHash.toString('hex')
    let round = this.#rounds.get(hex)
    if (round === undefined) {
      round = new Set()
      this.#rounds.set(hex, round)
    }
    const key = peerKey(normal)
    if (round.has(key)) return
    if (round.size >= this.#opts.maxPeersPerLookup) { this.#peersDropped++; return }
    // one address for many torrents: believed for the first few only
    let hashes = this.#addressHashes.get(key)
    if (hashes !== undefined) this.#addressHashes.delete(key) // re-inserted below: most recently reported last
    hashes ??= new Set()
    this.#addressHashes.set(key, hashes)
    if (!hashes.has(hex)) {
      if (hashes.size >= this.#opts.maxInfoHashesPerAddress) { this.#peersDropped++; return }
      hashes.add(hex)
    }
    while (this.#addressHashes.size > this.#opts.maxTrackedAddresses) this.#addressHashes.delete(this.#addressHashes.keys().next().value as string)
    round.add(key)
    this.emit('peer', normal, infoHash)
    this.#torrents.get(hex)?.emit('peer', normal)
  }

  #requireStarted (): DHT {
    if (this.#dht === null || this.#closing !== null) throw new ZentorrentError('BAD_ARGUMENT', 'the DHT is not running: call start() first')
    return this.#dht
  }

  /** Stop every round, save the routing table, close the socket. Idempotent. */
  async close (): Promise<void> {
    this.#closing ??= this.#close()
    await this.#closing
  }

  async #close (): Promise<void> {
    for (const handle of this.#torrents.values()) handle.cancel?.()
    this.#torrents.clear()
    if (this.#starting !== null) await this.#starting.catch(() => {})
    const dht = this.#dht
    if (dht === null) return
    if (this.#statePath !== null && dht.nodes.count() > 0) {
      await this.#save(this.#statePath, dht).catch((err: unknown) => {
        this.emit('warning', new ZentorrentError('IO_ERROR', `cannot save the DHT routing table to ${this.#statePath}`, { cause: err }))
      })
    }
    await new Promise<void>((resolve) => { dht.destroy(resolve) })
  }

  async #save (path: string, dht: DHT): Promise<void> {
    const nodes = dht.toJSON().nodes.slice(0, this.#opts.maxSavedNodes).map((n) => ({ host: n.host, port: n.port }))
    const body = JSON.stringify({ version: 1, nodeId: dht.nodeId.toString('hex'), nodes }) + '\n'
    await mkdir(dirname(path), { recursive: true })
    const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`
    await writeFile(temp, body)
    await rename(temp, path)
  }

  /** The saved state; a missing file is no state, a corrupt one a warning and no state. */
  async #load (): Promise<SavedState> {
    const none: SavedState = { nodeId: null, nodes: [] }
    if (this.#statePath === null) return none
    let text: string
    try {
      text = await readFile(this.#statePath, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.emit('warning', new ZentorrentError('IO_ERROR', `cannot read ${this.#statePath}`, { cause: err }))
      return none
    }
    const state = parseDhtState(text, this.#opts.maxSavedNodes)
    if (state === null) this.emit('warning', new ZentorrentError('BAD_ARGUMENT', `${this.#statePath} is not a DHT state file; starting from the bootstrap nodes`))
    return state ?? none
  }
}

/** Parse a state file's text: `{ version: 1, nodeId: hex, nodes: [{ host, port }] }`; null when it is not one. */
export function parseDhtState (text: string, maxNodes: number = DHT_DEFAULTS.maxSavedNodes): SavedState | null {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof raw !== 'object' || raw === null || (raw as { version?: unknown }).version !== 1) return null
  const { nodeId, nodes } = raw as { nodeId?: unknown, nodes?: unknown }
  const id = typeof nodeId === 'string' && /^[0-9a-f]{40}$/.test(nodeId) ? Buffer.from(nodeId, 'hex') : null
  const out: PeerAddress[] = []
  if (Array.isArray(nodes)) {
    for (const n of nodes as unknown[]) {
      if (out.length >= maxNodes) break
      if (typeof n !== 'object' || n === null) continue
      const { host, port } = n as { host?: unknown, port?: unknown }
      if (typeof host !== 'string' || typeof port !== 'number') continue
      const normal = normalizeAddress({ host, port })
      if (normal !== null && classifyHost(normal.host) !== 'hostname' && normal.host.includes('.')) out.push(normal)
    }
  }
  return { nodeId: id, nodes: out }
}

