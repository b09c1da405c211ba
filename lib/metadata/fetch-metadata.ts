/**
 * fetchMetadata: a magnet link's metadata on its own, without a download session — what `zentorrent info MAGNET`
 * needs. Peers come from the link (`x.pe`) and its trackers (an Announcer, announcing `left` unknown as 1). A
 * tracker needs a port to announce (ours refuses 0, as most do), so with trackers we listen on one (`port`, default
 * any free one on `host`) and take incoming peers too: a seeder the tracker tells about us may dial first. Each
 * peer, dialed (at most `maxConnections` at once) or accepted, knows only the info hash, gets our extended
 * handshake and a MetadataExchange attachment. The first verified metadata wins; then every connection and the
 * listener are closed and the trackers are told `stopped`.
 *
 * The download session does the same with its own Swarm (see the integration notes in the report); this is the
 * small composition for one question: what is this torrent?
 */
import net from 'node:net'
import pump from 'pump'
import { ZentorrentError } from '../errors.js'
import type { MagnetPeer } from '../magnet.js'
import type { Metainfo } from '../metainfo.js'
import { Announcer } from '../tracker/announcer.js'
import { connect } from '../wire/connect.js'
import { composeExtendedHandshake } from '../wire/extensions.js'
import { generatePeerId } from '../wire/handshake.js'
import { Wire } from '../wire/wire.js'
import { MetadataExchange } from './exchange.js'
import { metadataTimeoutError, type MetadataFetcherOptions, type MetadataFetchStats } from './fetcher.js'

export interface MetadataQuery {
  readonly infoHash: Buffer
  readonly trackers: readonly (readonly string[])[]
  readonly peers: readonly MagnetPeer[]
}

export interface FetchMetadataOptions extends Omit<MetadataFetcherOptions, 'infoHash'> {
  /** Overall bound (ms): METADATA_TIMEOUT after it. */
  timeout?: number
  peerId?: Buffer
  /** With trackers: the port we listen on and announce; default 0, any free one. */
  port?: number
  /** With trackers: the address we listen on; default all (0.0.0.0). */
  host?: string
  maxConnections?: number
  connectTimeout?: number
  /** Called when the fetch's facts change (peers, sources, pieces): the status line's "fetching metadata from N peers". */
  onProgress?: (stats: MetadataFetchStats) => void
  signal?: AbortSignal
}

export const FETCH_METADATA_DEFAULTS = {
  timeout: 60_000,
  maxConnections: 30,
  connectTimeout: 5_000
} as const

function key (peer: MagnetPeer): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`
}

export async function fetchMetadata (query: MetadataQuery, opts: FetchMetadataOptions = {}): Promise<Metainfo> {
  if (query.trackers.length === 0 && query.peers.length === 0) {
    throw new ZentorrentError('NO_PEERS', 'the magnet link names no tracker (tr=) and no peer (x.pe=): there is nobody to ask for the metadata')
  }
  const timeout = opts.timeout ?? FETCH_METADATA_DEFAULTS.timeout
  const maxConnections = opts.maxConnections ?? FETCH_METADATA_DEFAULTS.maxConnections
  const connectTimeout = opts.connectTimeout ?? FETCH_METADATA_DEFAULTS.connectTimeout
  const peerId = opts.peerId ?? generatePeerId()
  const exchange = new MetadataExchange({ ...opts, infoHash: query.infoHash })
  const wires = new Set<Wire>()
  const tried = new Set<string>()
  const waiting: MagnetPeer[] = []
  let dialing = 0
  let finished = false
  let announcer: Announcer | null = null

  const join = (wire: Wire, label: string): void => {
    wires.add(wire)
    wire.once('close', () => { wires.delete(wire); dialMore() })
    wire.extendedHandshake(composeExtendedHandshake([exchange.handshakePart()]))
    exchange.attach(wire, label)
    opts.onProgress?.(exchange.stats() ?? emptyStats())
  }
  let server: net.Server | null = null
  /** Accepted connections before their handshake (closed with the rest at the end). */
  const incoming = new Set<Wire>()
  const listen = async (): Promise<number> => {
    const srv = server = net.createServer((socket) => {
      if (finished || dialing + wires.size >= maxConnections) { socket.destroy(); return }
      const wire = new Wire({ peerId })
      pump(socket, wire, socket)
      incoming.add(wire)
      wire.once('close', () => { incoming.delete(wire) })
      wire.once('handshake', (hs) => {
        if (finished || !hs.infoHash.equals(query.infoHash)) {
          wire.destroy(new ZentorrentError('UNKNOWN_INFO_HASH', `no torrent ${hs.infoHash.toString('hex')} here`))
          return
        }
        wire.accept({ infoHash: query.infoHash })
        join(wire, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`)
      })
    })
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject)
      srv.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', () => { srv.off('error', reject); resolve() })
    })
    const address = srv.address()
    return typeof address === 'object' && address !== null ? address.port : 0
  }

  const dialMore = (): void => {
    while (!finished && waiting.length > 0 && dialing + wires.size < maxConnections) {
      const peer = waiting.shift() as MagnetPeer
      dialing++
      connect(peer.host, peer.port, { peerId, infoHash: query.infoHash }, { connectTimeout })
        .then((wire) => {
          if (finished) { wire.destroy(); return }
          join(wire, key(peer))
        }, () => {})
        .finally(() => { dialing--; dialMore() })
    }
  }
  const offer = (peer: MagnetPeer): void => {
    const k = key(peer)
    if (tried.has(k)) return
    tried.add(k)
    waiting.push(peer)
    dialMore()
  }

  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  try {
    const port = query.trackers.length > 0 ? await listen() : 0
    return await new Promise<Metainfo>((resolve, reject) => {
      // Not unref'd: while we wait, this timer is what keeps the process alive when no socket does (every dial
      // refused, trackers between rounds). Cleared in `finally`, however the wait ends.
      timer = setTimeout(() => { reject(metadataTimeoutError(timeout, exchange.stats() ?? emptyStats(), tried.size)) }, timeout)
      onAbort = (): void => { reject(new ZentorrentError('ABORTED', 'metadata fetch aborted')) }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      exchange.once('metadata', resolve)
      exchange.once('error', reject)
      exchange.on('progress', (stats) => opts.onProgress?.(stats))
      if (opts.signal?.aborted === true) onAbort()
      for (const peer of query.peers) offer(peer)
      if (query.trackers.length > 0) {
        announcer = new Announcer({
          tiers: query.trackers,
          infoHash: query.infoHash,
          peerId,
          port,
          getStats: () => ({ uploaded: 0, downloaded: 0, left: 1 })
        })
        announcer.on('peer', (peer) => { offer(peer) })
        announcer.start()
      }
    })
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) opts.signal?.removeEventListener('abort', onAbort)
    finished = true
    exchange.destroy()
    for (const wire of [...wires, ...incoming]) wire.destroy()
    const srv = server as net.Server | null
    srv?.close()
    const a = announcer as Announcer | null
    if (a !== null) await a.stop()
  }
}

function emptyStats (): MetadataFetchStats {
  return { peers: 0, sources: 0, size: null, pieces: 0, piecesHave: 0, dropped: 0, givenUp: 0, refused: 0 }
}
