/**
 * Local types for exactly the part of `bittorrent-dht` 11 (ESM, no types of its own) that lib/discovery/dht.ts
 * uses. Read off the package's client.js and k-rpc / k-rpc-socket underneath; nothing here leaves dht.ts.
 */
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events'

  /** A contact as the package passes it around: an IPv4 literal and a port (and the id once known). */
  export interface DhtContact {
    host: string
    port: number
    id?: Buffer
  }

  /** The subset of a dgram socket k-rpc-socket calls (`opts.socket`). */
  export interface KrpcSocketLike {
    on: (event: string, listener: (...args: unknown[]) => void) => unknown
    send: (buf: Buffer, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void) => void
    bind: (port?: number, host?: string, cb?: () => void) => void
    address: () => { address: string, family: string, port: number }
    close: () => void
  }

  export interface DhtOptions {
    /** Our node id (20 bytes); random when absent. */
    nodeId?: Buffer
    /** Nodes to bootstrap from; false for none. Absent means the package's public routers: never leave it out. */
    bootstrap: DhtContact[] | false
    /** The UDP socket (k-rpc-socket creates an udp4 one when absent). */
    socket?: KrpcSocketLike
    /** Peers announced to us that we keep (record-cache maxSize; the package's default is 10000). */
    maxPeers?: number
    /** How long an announced peer is kept, ms (0: forever, the package's default). */
    maxAge?: number
    /** Query timeout, ms (k-rpc-socket; default 2000). */
    timeout?: number
    /** Queries in flight at most (k-rpc; default 16). */
    concurrency?: number
  }

  /** k-bucket's routing table, as far as we read it. */
  export interface RoutingTable {
    count: () => number
    toArray: () => DhtContact[]
  }

  export default class DHT extends EventEmitter {
    constructor (opts: DhtOptions)
    readonly nodeId: Buffer
    readonly nodes: RoutingTable
    readonly listening: boolean
    readonly ready: boolean
    readonly destroyed: boolean
    listen (port: number, host: string, onlistening?: () => void): void
    address (): { address: string, family: string, port: number }
    /** get_peers towards `infoHash`; 'peer' events as values arrive; `cb(err, nodesVisited)` at the end. Returns abort. */
    lookup (infoHash: Buffer, cb?: (err: Error | null, visited?: number) => void): () => void
    /** announce_peer to the closest nodes (after a lookup if none is cached); `cb(err, nodesThatTookIt)`. */
    announce (infoHash: Buffer, port: number, cb?: (err: Error | null, count?: number) => void): void
    /** Ping a contact and add it to the routing table if it answers (or add at once when `id` is given). */
    addNode (node: DhtContact): void
    toJSON (): { nodes: Array<{ host: string, port: number }>, values: Record<string, unknown> }
    destroy (cb?: () => void): void

    on (event: 'peer', listener: (peer: { host: string, port: number }, infoHash: Buffer, from: { host: string, port: number } | null) => void): this
    on (event: 'ready' | 'listening' | 'close', listener: () => void): this
    on (event: 'error' | 'warning', listener: (err: Error) => void): this
    on (event: 'node', listener: (node: DhtContact) => void): this
    /** An announce_peer stored: `peer.port` is the announced port. */
    on (event: 'announce', listener: (peer: { host: string, port: number }, infoHash: Buffer) => void): this
    /** A get_peers query answered (the tests count them on a plain node). */
    on (event: 'get_peers', listener: (infoHash: Buffer) => void): this
    once (event: 'ready' | 'listening' | 'close', listener: () => void): this
    once (event: 'error', listener: (err: Error) => void): this
    off (event: 'error', listener: (err: Error) => void): this
  }
}
