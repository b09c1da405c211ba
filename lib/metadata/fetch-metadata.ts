/**
 * fetchMetadata: a magnet link's metadata on its own, without a download session — what `zentorrent info MAGNET`
 * needs. Peers come from the link (`x.pe`) and its trackers (an Announcer, announcing `left` unknown as 1 and the
 * port we listen on, 0 when we do not); each is dialed (at most `maxConnections` at once) knowing only the info
 * hash, gets our extended handshake and a MetadataExchange attachment. The first verified metadata wins; then
 * every connection is closed and the trackers are told `stopped`.
 *
 * The download session does the same with its own Swarm (see the integration notes in the report); this is the
 * small composition for one question: what is this torrent?
 */
import { ZentorrentError } from '../errors.js'
import type { MagnetPeer } from '../magnet.js'
import type { Metainfo } from '../metainfo.js'
import { Announcer } from '../tracker/announcer.js'
import { connect } from '../wire/connect.js'
import { composeExtendedHandshake } from '../wire/extensions.js'
import { generatePeerId } from '../wire/handshake.js'
import type { Wire } from '../wire/wire.js'
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
  /** The port we accept peers on, announced to trackers; 0 when we do not listen. */
  port?: number
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

  const dialMore = (): void => {
    while (!finished && waiting.length > 0 && dialing + wires.size < maxConnections) {
      const peer = waiting.shift() as MagnetPeer
      dialing++
      connect(peer.host, peer.port, { peerId, infoHash: query.infoHash }, { connectTimeout })
        .then((wire) => {
          if (finished) { wire.destroy(); return }
          wires.add(wire)
          wire.once('close', () => { wires.delete(wire); dialMore() })
          wire.extendedHandshake(composeExtendedHandshake([exchange.handshakePart()]))
          exchange.attach(wire, key(peer))
          opts.onProgress?.(exchange.stats() ?? emptyStats())
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

  try {
    return await new Promise<Metainfo>((resolve, reject) => {
      const timer = setTimeout(() => { reject(metadataTimeoutError(timeout, exchange.stats() ?? emptyStats())) }, timeout)
      timer.unref()
      const onAbort = (): void => { reject(new ZentorrentError('ABORTED', 'metadata fetch aborted')) }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      const settle = (): void => {
        clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
      }
      exchange.once('metadata', (meta) => { settle(); resolve(meta) })
      exchange.once('error', (err) => { settle(); reject(err) })
      exchange.on('progress', (stats) => opts.onProgress?.(stats))
      if (opts.signal?.aborted === true) onAbort()
      for (const peer of query.peers) offer(peer)
      if (query.trackers.length > 0) {
        announcer = new Announcer({
          tiers: query.trackers,
          infoHash: query.infoHash,
          peerId,
          port: opts.port ?? 0,
          getStats: () => ({ uploaded: 0, downloaded: 0, left: 1 })
        })
        announcer.on('peer', (peer) => { offer(peer) })
        announcer.start()
      }
    })
  } finally {
    finished = true
    exchange.destroy()
    for (const wire of wires) wire.destroy()
    const a = announcer as Announcer | null
    if (a !== null) await a.stop()
  }
}

function emptyStats (): MetadataFetchStats {
  return { peers: 0, sources: 0, size: null, pieces: 0, piecesHave: 0, dropped: 0, givenUp: 0, refused: 0 }
}
