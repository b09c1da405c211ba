/**
 * MetadataExchange: BEP 9 for one torrent, the object a session owns. It holds the info dictionary when we have
 * it (serving it to every peer that asks) and, until then, a MetadataFetcher that gets it from the peers.
 *
 *   const exchange = new MetadataExchange({ infoHash, infoBytes: meta?.infoBytes ?? null })
 *   // every wire, once its BitTorrent handshake is done, in this order and in the same tick:
 *   wire.extendedHandshake(composeExtendedHandshake([exchange.handshakePart(), …other extensions' parts]))
 *   exchange.attach(wire, label)
 *
 * (Handshake first: attaching may send a request at once, when the peer's extended handshake is already in, and
 * the peer can answer only once it knows our id. Attaching in the same tick loses nothing: what the peer sends
 * in reply arrives on a later tick, and its own handshake, if already in, is read from `wire.peerExtended`.)
 *   exchange.on('metadata', (meta) => { … the session now has its Metainfo … })
 *
 * When the metadata arrives, every attached wire serves it from the next request on; peers that connected before
 * learn our `metadata_size` only if the session sends them a new extended handshake (BEP 10 allows it).
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { ZentorrentError } from '../errors.js'
import { parseInfoDictionary, type Metainfo } from '../metainfo.js'
import type { HandshakePart } from '../wire/extensions.js'
import type { Wire } from '../wire/wire.js'
import { metadataHandshakePart, UtMetadata, type MetadataPeer, type UtMetadataOptions } from './extension.js'
import { MetadataFetcher, type MetadataFetcherOptions, type MetadataFetchStats, type MetadataFetcherEvents } from './fetcher.js'

export interface MetadataExchangeOptions extends MetadataFetcherOptions {
  /** Our info dictionary, when the torrent started from a .torrent; null or absent for a magnet link. */
  infoBytes?: Buffer | null
  /** Passed to each wire's UtMetadata. */
  maxServedPieces?: UtMetadataOptions['maxServedPieces']
}

/** The fetcher's events, passed on: `metadata` only when we started without it; `error` when the metadata hashes right
 * but is not a usable torrent (path safety, piece counts …), and the fetch is over. */
export type MetadataExchangeEvents = MetadataFetcherEvents

export class MetadataExchange extends EventEmitter<MetadataExchangeEvents> {
  readonly infoHash: Buffer
  #infoBytes: Buffer | null
  #fetcher: MetadataFetcher | null = null
  readonly #maxServedPieces: number | undefined
  readonly #peers = new Set<UtMetadata>()

  constructor (opts: MetadataExchangeOptions) {
    super()
    this.infoHash = opts.infoHash
    this.#maxServedPieces = opts.maxServedPieces
    this.#infoBytes = null
    if (opts.infoBytes !== undefined && opts.infoBytes !== null) {
      this.#setInfoBytes(opts.infoBytes)
      return
    }
    const fetcher = this.#fetcher = new MetadataFetcher(opts)
    fetcher.on('metadata', (meta) => {
      this.#infoBytes = meta.infoBytes
      this.#fetcher = null
      this.emit('metadata', meta)
    })
    fetcher.on('progress', (stats) => this.emit('progress', stats))
    fetcher.on('peer-refused', (peer, err) => this.emit('peer-refused', peer, err))
    fetcher.on('peer-dropped', (peer, err) => this.emit('peer-dropped', peer, err))
    fetcher.on('peer-given-up', (peer, reason) => this.emit('peer-given-up', peer, reason))
    fetcher.on('error', (err) => {
      this.#fetcher = null
      this.emit('error', err)
    })
  }

  /** Our info dictionary, or null while it is being fetched. */
  get infoBytes (): Buffer | null { return this.#infoBytes }
  /** The fetcher while the metadata is missing, else null. */
  get fetcher (): MetadataFetcher | null { return this.#fetcher }

  /** Fetch progress, or null once we have the metadata. */
  stats (): MetadataFetchStats | null { return this.#fetcher?.stats() ?? null }

  /** Our part of each wire's extended handshake: ut_metadata's id and, once known, `metadata_size`. */
  handshakePart (): HandshakePart {
    return metadataHandshakePart(this.#infoBytes?.length ?? null)
  }

  /** Serve (and, while fetching, fetch from) this wire. Call right after sending our extended handshake on it. */
  attach (wire: Wire, label?: string): UtMetadata {
    const peer = new UtMetadata(wire, {
      infoBytes: () => this.#infoBytes,
      ...(this.#maxServedPieces !== undefined ? { maxServedPieces: this.#maxServedPieces } : {})
    }, label)
    this.#peers.add(peer)
    peer.once('close', () => { this.#peers.delete(peer) })
    this.#fetcher?.add(peer)
    return peer
  }

  /**
   * The metadata learned another way (a .torrent fetched meanwhile): checked against the info hash, parsed, and
   * served from now on; the fetch stops. Returns the Metainfo. METADATA_MISMATCH when it is another torrent's.
   */
  setMetadata (infoBytes: Buffer): Metainfo {
    const meta = this.#setInfoBytes(infoBytes)
    if (this.#fetcher !== null) {
      this.#fetcher.destroy()
      this.#fetcher = null
    }
    return meta
  }

  #setInfoBytes (infoBytes: Buffer): Metainfo {
    if (!createHash('sha1').update(infoBytes).digest().equals(this.infoHash)) {
      throw new ZentorrentError('METADATA_MISMATCH', `the info dictionary given does not hash to ${this.infoHash.toString('hex')}`)
    }
    const meta = parseInfoDictionary(infoBytes)
    this.#infoBytes = meta.infoBytes
    return meta
  }

  /** Stop fetching and detach from every wire (the wires stay open). */
  destroy (): void {
    this.#fetcher?.destroy()
    this.#fetcher = null
    for (const peer of [...this.#peers]) peer.detach()
  }
}
