/**
 * Announcer: the trackers as a peer source for one torrent.
 *
 * Algorithm (BEP 3 + BEP 12, with libtorrent's choices where the BEPs are silent):
 * - A round walks the tiers in BEP 12 order (lib/tracker/tiers.ts) and stops at the first tracker that answers;
 *   that tracker moves to the front of its tier. Every failure on the way is reported as `'tracker-error'` and
 *   the next URL is tried; a round where all fail is retried after `retryDelayMs · 2^(failures-1)` (capped).
 * - The event sent to a tracker: `started` until that tracker has acknowledged one (so a fail-over tracker
 *   learns of us properly, as libtorrent does), then `completed` once after `complete()`, else none.
 * - The next regular round is due `interval` seconds after an answer (clamped to [intervalFloorMs,
 *   intervalCeilingMs], and never below the tracker's `min interval`). `announce()` asks earlier: at once if
 *   `min interval` has passed since the last answer, else as soon as it has (BEP 3 "min interval").
 * - `stop()` aborts what is in flight, then sends `stopped` to every tracker that has our `started`, all within
 *   `stopTimeoutMs`, and releases every timer and socket.
 * - Peers are announced once each (deduplicated across trackers and rounds; the memory of seen peers is bounded
 *   by `maxKnownPeers`, oldest forgotten first), and our own address:port is never offered back.
 *
 * Never throws after construction and never emits `'error'`: a tracker that fails is a fact to report, not a
 * reason to stop the download.
 */
import { systemClock, type Clock } from '../clock.js'
import { EventEmitter } from 'node:events'
import { networkInterfaces } from 'node:os'
import { randomBytes } from 'node:crypto'
import { ZentorrentError, isZentorrentError } from '../errors.js'
import { createTrackerClient } from './client.js'
import { TrackerTiers } from './tiers.js'
import type { HttpTrackerOptions } from './http.js'
import { definedOnly } from '../options.js'
import type { UdpTrackerOptions } from './udp.js'
import type { AnnounceEvent, AnnounceResponse, PeerAddress, TrackerClient } from './types.js'

export interface TransferStats {
  uploaded: number
  downloaded: number
  left: number
}

export interface AnnouncerOptions {
  tiers: readonly (readonly string[])[]
  infoHash: Buffer
  peerId: Buffer
  /** The port we accept peers on. */
  port: number
  getStats: () => TransferStats
  numwant?: number
  /** Addresses that are ours: a peer at one of them with our port is us. Default: every local interface's. */
  ownAddresses?: readonly string[]
  intervalFloorMs?: number
  intervalCeilingMs?: number
  retryDelayMs?: number
  retryDelayMaxMs?: number
  stopTimeoutMs?: number
  maxKnownPeers?: number
  http?: HttpTrackerOptions
  udp?: UdpTrackerOptions
  clock?: Clock
  /** In [0, 1), for the BEP 12 shuffle. */
  random?: () => number
}

export const ANNOUNCER_DEFAULTS = {
  // BEP 3 suggests 50 peers as the default; enough to fill a swarm's connection budget on the first round.
  numwant: 50,
  // libtorrent refuses intervals under 5 min (min_announce_interval); 1 min keeps small swarms lively without
  // letting a misconfigured tracker (interval 0) make us announce in a loop.
  intervalFloorMs: 60_000,
  // setTimeout overflows above 2^31 ms; a tracker asking for more than a day is treated as asking for a day.
  intervalCeilingMs: 24 * 3600_000,
  // After a round where every tracker failed: 15 s, 30 s, 60 s, ... up to 30 min.
  retryDelayMs: 15_000,
  retryDelayMaxMs: 30 * 60_000,
  // `stopped` is a courtesy; a shutdown must not wait on a dead tracker.
  stopTimeoutMs: 5_000,
  maxKnownPeers: 10_000
}

export interface AnnounceReport {
  url: string
  interval: number
  complete: number | undefined
  incomplete: number | undefined
  /** Peers in this reply (before deduplication). */
  peers: number
  warning?: string
}

export interface TrackerErrorReport {
  url: string
  error: ZentorrentError
}

interface AnnouncerEvents {
  peer: [PeerAddress]
  response: [AnnounceReport]
  warning: [string]
  'tracker-error': [TrackerErrorReport]
}

type State = 'idle' | 'running' | 'stopped'

export class Announcer extends EventEmitter<AnnouncerEvents> {
  readonly #tiers: TrackerTiers
  readonly #clients = new Map<string, TrackerClient>()
  readonly #infoHash: Buffer
  readonly #peerId: Buffer
  readonly #port: number
  readonly #getStats: () => TransferStats
  readonly #ownAddresses: Set<string>
  readonly #options: typeof ANNOUNCER_DEFAULTS
  readonly #clientOptions: { http?: HttpTrackerOptions, udp?: UdpTrackerOptions }
  readonly #clock: Clock
  /** BEP 3 `key`: fixed for the session. */
  readonly #key = randomBytes(4).readUInt32BE(0)

  #state: State = 'idle'
  #inFlight: Promise<void> | undefined
  #again = false
  readonly #abort = new AbortController()
  #cancelTimer: (() => void) | undefined
  #nextAt: number | undefined
  #lastAnswerAt: number | undefined
  #minIntervalMs = 0
  #failures = 0
  #completeRequested = false
  #completedSent = false
  /** Trackers that acknowledged our `started` (they get `stopped` at the end). */
  readonly #started = new Set<string>()
  readonly #seen = new Set<string>()
  #stopping: Promise<void> | undefined

  constructor (options: AnnouncerOptions) {
    super()
    this.#tiers = new TrackerTiers(options.tiers, options.random)
    this.#infoHash = options.infoHash
    this.#peerId = options.peerId
    this.#port = options.port
    this.#getStats = options.getStats
    this.#ownAddresses = new Set((options.ownAddresses ?? localAddresses()).map(normalizeHost))
    this.#options = {
      ...ANNOUNCER_DEFAULTS,
      ...definedOnly({
        numwant: options.numwant,
        intervalFloorMs: options.intervalFloorMs,
        intervalCeilingMs: options.intervalCeilingMs,
        retryDelayMs: options.retryDelayMs,
        retryDelayMaxMs: options.retryDelayMaxMs,
        stopTimeoutMs: options.stopTimeoutMs,
        maxKnownPeers: options.maxKnownPeers
      })
    }
    this.#clientOptions = definedOnly({ http: options.http, udp: options.udp })
    this.#clock = options.clock ?? systemClock
  }

  /** The tiers in their current order (BEP 12: answering trackers first). */
  get tiers (): string[][] {
    return this.#tiers.tiers
  }

  /** Announce `started` now, then on the trackers' schedule. */
  start (): void {
    if (this.#state !== 'idle') return
    this.#state = 'running'
    for (const { reason } of this.#tiers.skipped) this.emit('warning', reason)
    if (this.#tiers.size === 0) {
      this.emit('warning', 'no usable tracker: peers must come from elsewhere')
      return
    }
    this.#kick()
  }

  /** Announce `completed` (once), at once: the tracker's counts are wrong until it knows. */
  complete (): void {
    if (this.#completeRequested) return
    this.#completeRequested = true
    if (this.#state !== 'running') return
    if (this.#inFlight !== undefined) this.#again = true
    else this.#kick()
  }

  /** Ask for more peers now, or as soon as the tracker's `min interval` allows; no-op while a round runs. */
  announce (): void {
    if (this.#state !== 'running' || this.#inFlight !== undefined) return
    // A round that failed everywhere has its retry scheduled; asking again sooner would hammer dead trackers.
    if (this.#failures > 0) return
    const earliest = this.#lastAnswerAt === undefined ? -Infinity : this.#lastAnswerAt + this.#minIntervalMs
    const now = this.#clock.now()
    if (now >= earliest) this.#kick()
    else if (this.#nextAt === undefined || this.#nextAt > earliest) this.#schedule(earliest - now)
  }

  /** Announce `stopped` to the trackers that know us, within `stopTimeoutMs`; release timers and sockets. */
  stop (): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop (): Promise<void> {
    const wasRunning = this.#state === 'running'
    this.#state = 'stopped'
    this.#cancelScheduled()
    this.#abort.abort()
    await this.#inFlight
    if (wasRunning && this.#started.size > 0) {
      const deadline = new AbortController()
      // Real time even under a fake clock: this bound is what keeps a shutdown from hanging.
      const cancel = systemClock.schedule(() => deadline.abort(), this.#options.stopTimeoutMs)
      await Promise.all([...this.#started].map(async (url) => {
        try {
          await this.#client(url).announce(this.#request('stopped'), { signal: deadline.signal })
        } catch (err) {
          const error = deadline.signal.aborted
            ? new ZentorrentError('TRACKER_TIMEOUT', `no answer to "stopped" within ${this.#options.stopTimeoutMs} ms`, { cause: err })
            : asTrackerError(err)
          this.emit('tracker-error', { url, error })
        }
      }))
      cancel()
    }
    for (const client of this.#clients.values()) client.close()
    this.#clients.clear()
  }

  #kick (): void {
    if (this.#state !== 'running' || this.#inFlight !== undefined) return
    this.#cancelScheduled()
    this.#inFlight = this.#round().finally(() => {
      this.#inFlight = undefined
      if (this.#again && this.#state === 'running') {
        this.#again = false
        this.#kick()
      }
    })
  }

  /** One BEP 12 walk: first tracker to answer wins. Never rejects. */
  async #round (): Promise<void> {
    for (const url of this.#tiers.urls) {
      if (this.#state !== 'running') return
      const event = this.#eventFor(url)
      let reply: AnnounceResponse
      try {
        reply = await this.#client(url).announce(this.#request(event), { signal: this.#abort.signal })
      } catch (err) {
        if (this.#state !== 'running') return
        this.emit('tracker-error', { url, error: asTrackerError(err) })
        continue
      }
      if (this.#state !== 'running') return
      this.#started.add(url)
      if (event === 'completed') this.#completedSent = true
      this.#tiers.promote(url)
      this.#onReply(url, reply)
      return
    }
    this.#failures++
    const delay = Math.min(this.#options.retryDelayMaxMs, this.#options.retryDelayMs * 2 ** (this.#failures - 1))
    this.#schedule(delay)
  }

  #eventFor (url: string): AnnounceEvent | undefined {
    if (!this.#started.has(url)) return 'started'
    if (this.#completeRequested && !this.#completedSent) return 'completed'
    return undefined
  }

  #onReply (url: string, reply: AnnounceResponse): void {
    this.#failures = 0
    this.#lastAnswerAt = this.#clock.now()
    this.#minIntervalMs = (reply.minInterval ?? 0) * 1000
    const interval = Math.min(this.#options.intervalCeilingMs,
      Math.max(this.#options.intervalFloorMs, reply.interval * 1000, this.#minIntervalMs))
    this.#schedule(interval)
    const report: AnnounceReport = {
      url,
      interval: reply.interval,
      complete: reply.complete,
      incomplete: reply.incomplete,
      peers: reply.peers.length
    }
    if (reply.warning !== undefined) report.warning = reply.warning
    this.emit('response', report)
    if (reply.warning !== undefined) this.emit('warning', `${url}: ${reply.warning}`)
    for (const peer of reply.peers) {
      if (this.#state !== 'running') return
      const host = normalizeHost(peer.host)
      if (peer.port === this.#port && this.#ownAddresses.has(host)) continue
      const key = peer.family === 6 ? `[${host}]:${peer.port}` : `${host}:${peer.port}`
      if (this.#seen.has(key)) continue
      this.#seen.add(key)
      if (this.#seen.size > this.#options.maxKnownPeers) {
        const oldest = this.#seen.values().next().value
        if (oldest !== undefined) this.#seen.delete(oldest)
      }
      this.emit('peer', { host, port: peer.port, family: peer.family })
    }
  }

  #request (event: AnnounceEvent | undefined): Parameters<TrackerClient['announce']>[0] {
    const stats = this.#getStats()
    return {
      infoHash: this.#infoHash,
      peerId: this.#peerId,
      port: this.#port,
      uploaded: stats.uploaded,
      downloaded: stats.downloaded,
      left: stats.left,
      numwant: event === 'stopped' ? 0 : this.#options.numwant,
      key: this.#key,
      ...(event === undefined ? {} : { event })
    }
  }

  #client (url: string): TrackerClient {
    let client = this.#clients.get(url)
    if (client === undefined) {
      client = createTrackerClient(url, this.#clientOptions)
      this.#clients.set(url, client)
    }
    return client
  }

  #schedule (ms: number): void {
    this.#cancelScheduled()
    this.#nextAt = this.#clock.now() + ms
    this.#cancelTimer = this.#clock.schedule(() => {
      this.#cancelTimer = undefined
      this.#nextAt = undefined
      this.#kick()
    }, ms)
  }

  #cancelScheduled (): void {
    this.#cancelTimer?.()
    this.#cancelTimer = undefined
    this.#nextAt = undefined
  }
}

function asTrackerError (err: unknown): ZentorrentError {
  if (isZentorrentError(err)) return err
  const message = err instanceof Error ? err.message : String(err)
  return new ZentorrentError('TRACKER_BAD_REPLY', `tracker exchange failed: ${message}`, { cause: err })
}

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is the IPv4 peer; IPv6 is compared in lower case. */
function normalizeHost (host: string): string {
  const lower = host.toLowerCase()
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower
}

function localAddresses (): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address))
}
