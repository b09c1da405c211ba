/**
 * The vocabulary shared by the HTTP (BEP 3, 7, 23) and UDP (BEP 15) tracker clients, the tier walker (BEP 12)
 * and the Announcer. Names follow the BEPs: `interval`, `min interval` → `minInterval`, `complete` (seeders),
 * `incomplete` (leechers), `downloaded` (completed count in a scrape).
 */

import type { PeerAddress as Address } from '../peers/address.js'

/** A peer as a tracker reports it. `host` is always an IP literal (we never resolve names a tracker hands us). */
export interface PeerAddress extends Address {
  readonly family: 4 | 6
}

/** BEP 3 `event`; `undefined` means the regular announce that omits it (UDP: 0, "none"). */
export type AnnounceEvent = 'started' | 'completed' | 'stopped'

export interface AnnounceRequest {
  readonly infoHash: Buffer
  readonly peerId: Buffer
  readonly port: number
  readonly uploaded: number
  readonly downloaded: number
  readonly left: number
  readonly event?: AnnounceEvent
  /** How many peers we want; the reply is also cut to this many (or to the client's cap). */
  readonly numwant?: number
  /** BEP 3/15 `key`: a random number fixed for the session, lets a tracker recognise us across IP changes. */
  readonly key?: number
}

export interface AnnounceResponse {
  /** Seconds to wait before the next regular announce. */
  readonly interval: number
  /** Seconds the tracker asks us to wait at least between any two announces. */
  readonly minInterval?: number
  readonly complete?: number
  readonly incomplete?: number
  readonly peers: readonly PeerAddress[]
  readonly warning?: string
}

export interface ScrapeEntry {
  /** Seeders. */
  readonly complete: number
  /** Leechers. */
  readonly incomplete: number
  /** Times the torrent was completed (BEP 48 `downloaded`). */
  readonly downloaded: number
}

/** Keyed by the info hash in lower-case hex. */
export type ScrapeResponse = Map<string, ScrapeEntry>

export interface RequestOptions {
  /** Aborting rejects with `ABORTED`. */
  readonly signal?: AbortSignal
}

/** One tracker URL. Stateful: remembers the HTTP `tracker id` or the UDP connection id between calls. */
export interface TrackerClient {
  readonly url: string
  announce (request: AnnounceRequest, options?: RequestOptions): Promise<AnnounceResponse>
  scrape (infoHashes: readonly Buffer[], options?: RequestOptions): Promise<ScrapeResponse>
  /** Release sockets; pending requests reject with `ABORTED`. Idempotent. */
  close (): void
}
