/**
 * `ut_metadata` (BEP 9) on one Wire, both roles:
 *
 * - Serving: a `request` for piece n is answered with `data` (the piece of our info dictionary, with
 *   `total_size`) when we have the metadata, the piece exists and the peer has not yet had `maxServedPieces`
 *   pieces from us on this connection (a peer asking for the same dictionary again and again costs upload and
 *   nothing else); otherwise with `reject`. "Having the metadata" is asked at every request (`infoBytes()`), so a
 *   leecher that has just fetched it serves from the next request on. A peer that did not advertise ut_metadata
 *   cannot be answered (it gave us no id) and its requests are ignored.
 * - Fetching: `request(piece)` asks the peer; its `data` and `reject` messages are emitted as events, already
 *   decoded, for the MetadataFetcher (lib/metadata/fetcher.ts), which owns every decision about them. This class
 *   only knows the wire, so the fetcher can be tested with scripted peers that have none.
 *
 * A message that does not decode (BAD_METADATA_MESSAGE) destroys the wire: no honest client sends one.
 *
 * Our id is LOCAL_EXTENSION_IDS.ut_metadata; the session puts `handshakePart(metadataSize)` into the one extended
 * handshake it sends (lib/wire/extensions.ts).
 */
import { EventEmitter } from 'node:events'
import { ZentorrentError } from '../errors.js'
import { LOCAL_EXTENSION_IDS, peerExtensionId, type HandshakePart } from '../wire/extensions.js'
import type { Wire } from '../wire/wire.js'
import {
  decodeMetadataMessage, encodeMetadataMessage, METADATA_PIECE_LENGTH, metadataPieceCount, type MetadataMessage
} from './codec.js'

export const UT_METADATA = 'ut_metadata'

export interface UtMetadataOptions {
  /** Our info dictionary when we have it, else null; read at every request. */
  infoBytes: () => Buffer | null
  /** Pieces served to one connection before we reject; default 4 × the metadata's piece count, at least 16. */
  maxServedPieces?: number
  /** Our id for ut_metadata; default LOCAL_EXTENSION_IDS.ut_metadata. */
  localId?: number
}

export const UT_METADATA_DEFAULTS = {
  /** How many times over one connection may fetch our whole dictionary. */
  servedCopies: 4,
  minServedPieces: 16
} as const

/** What the fetcher needs from a peer: its offer, a way to ask, and a way to drop it. */
export interface MetadataPeer extends EventEmitter<MetadataPeerEvents> {
  /** Names the peer in messages (its address or id). */
  readonly label: string
  /** True once the peer's extended handshake gave ut_metadata a non-zero id. */
  readonly supportsMetadata: boolean
  /** The peer's `metadata_size`, unchecked, when it gave one. */
  readonly metadataSize: number | undefined
  /** False once the connection is gone. */
  readonly connected: boolean
  request: (piece: number) => void
  /** End the connection with this error (a liar, a protocol violation). */
  drop: (err: ZentorrentError) => void
}

export interface MetadataPeerEvents {
  /** The peer's extended handshake arrived (again): `supportsMetadata` and `metadataSize` may have changed. */
  handshake: []
  data: [piece: number, totalSize: number, data: Buffer]
  reject: [piece: number]
  close: []
}

/** Our part of the extended handshake: our id, and `metadata_size` once we have the metadata (BEP 9). */
export function metadataHandshakePart (metadataSize: number | null, localId: number = LOCAL_EXTENSION_IDS.ut_metadata): HandshakePart {
  return metadataSize === null ? { m: { [UT_METADATA]: localId } } : { m: { [UT_METADATA]: localId }, metadata_size: metadataSize }
}

export class UtMetadata extends EventEmitter<MetadataPeerEvents> implements MetadataPeer {
  readonly wire: Wire
  readonly label: string
  readonly #localId: number
  readonly #infoBytes: () => Buffer | null
  readonly #maxServed: number | undefined
  #served = 0
  #detached = false

  constructor (wire: Wire, opts: UtMetadataOptions, label?: string) {
    super()
    this.wire = wire
    this.label = label ?? (wire.peerId !== null ? wire.peerId.toString('hex') : 'peer')
    this.#localId = opts.localId ?? LOCAL_EXTENSION_IDS.ut_metadata
    this.#infoBytes = opts.infoBytes
    this.#maxServed = opts.maxServedPieces
    wire.on('extended-handshake', this.#onHandshake)
    wire.on('extended', this.#onExtended)
    wire.once('close', this.#onClose)
  }

  get supportsMetadata (): boolean { return peerExtensionId(this.wire, UT_METADATA) !== null }
  get metadataSize (): number | undefined { return this.wire.peerExtended?.metadata_size }
  get connected (): boolean { return !this.#detached && !this.wire.destroyed }
  /** Pieces served on this connection. */
  get served (): number { return this.#served }

  request (piece: number): void {
    this.#send({ type: 'request', piece })
  }

  drop (err: ZentorrentError): void {
    this.wire.destroy(err)
  }

  /** Stop listening to the wire (the wire stays open). */
  detach (): void {
    if (this.#detached) return
    this.#detached = true
    this.wire.off('extended-handshake', this.#onHandshake)
    this.wire.off('extended', this.#onExtended)
    this.wire.off('close', this.#onClose)
    this.emit('close')
  }

  #send (msg: MetadataMessage): void {
    const id = peerExtensionId(this.wire, UT_METADATA)
    if (id === null || !this.connected) return
    this.wire.extended(id, encodeMetadataMessage(msg))
  }

  readonly #onHandshake = (): void => { this.emit('handshake') }

  readonly #onClose = (): void => {
    this.#detached = true
    this.wire.off('extended-handshake', this.#onHandshake)
    this.wire.off('extended', this.#onExtended)
    this.emit('close')
  }

  readonly #onExtended = (id: number, payload: Buffer): void => {
    if (id !== this.#localId) return
    let msg: MetadataMessage | null
    try {
      msg = decodeMetadataMessage(payload)
    } catch (err) {
      this.wire.destroy(err as Error)
      return
    }
    if (msg === null) return // BEP 9: an unknown msg_type is ignored
    switch (msg.type) {
      case 'request': this.#serve(msg.piece); return
      case 'data': this.emit('data', msg.piece, msg.totalSize, msg.data); return
      case 'reject': this.emit('reject', msg.piece)
    }
  }

  #serve (piece: number): void {
    const info = this.#infoBytes()
    const count = info === null ? 0 : metadataPieceCount(info.length)
    const limit = this.#maxServed ?? Math.max(UT_METADATA_DEFAULTS.minServedPieces, UT_METADATA_DEFAULTS.servedCopies * count)
    if (info === null || piece >= count || this.#served >= limit) {
      this.#send({ type: 'reject', piece })
      return
    }
    this.#served++
    const start = piece * METADATA_PIECE_LENGTH
    this.#send({ type: 'data', piece, totalSize: info.length, data: info.subarray(start, start + METADATA_PIECE_LENGTH) })
  }
}
