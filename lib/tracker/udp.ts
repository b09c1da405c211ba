/**
 * UDP tracker client (BEP 15).
 *
 * Exchange: `connect` (magic protocol id 0x41727101980, action 0) → a connection id, then `announce` (action 1)
 * or `scrape` (action 2) carrying it. The connection id may be reused for one minute after it was received
 * (BEP 15 "Time outs"), so it is cached per client and refreshed when older.
 *
 * Retransmission (BEP 15 "Time outs"): wait `baseTimeout · 2^n` for a reply to the n-th transmission, n counting
 * over the connect and the request together; after n = `retries` give up with TRACKER_TIMEOUT. The spec's base is
 * 15 s and n goes up to 8 (≈ 2 h in all); like libtorrent we default to fewer retries so a dead tracker hands the
 * turn to the next one of its tier within minutes — set `retries: 8` for the letter of the spec.
 *
 * The socket is `connect()`ed to the tracker: the kernel then drops datagrams from any other source and reports
 * ICMP port-unreachable as ECONNREFUSED (→ TRACKER_UNREACHABLE, no need to wait out the timeouts). Datagrams
 * shorter than 8 bytes or carrying an unknown transaction id are ignored — a late reply to an earlier
 * transmission or a spoofed packet must not end the wait; a matching reply too short for its action is refused.
 */
import dgram from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { randomBytes } from 'node:crypto'
import { ZentorrentError, isZentorrentError } from '../errors.js'
import { decodeCompactPeers } from './codec.js'
import { definedOnly } from '../options.js'
import type { AnnounceEvent, AnnounceRequest, AnnounceResponse, RequestOptions, ScrapeResponse, TrackerClient } from './types.js'

export interface UdpTrackerOptions {
  /** Milliseconds to wait for the first reply; doubles on every retransmission (BEP 15: 15 s). */
  baseTimeout?: number
  /** Retransmissions after the first send (BEP 15 allows up to 8). */
  retries?: number
  /** Peers kept from one reply at most (also bounded by the request's `numwant`). */
  maxPeers?: number
  /** Clock for the connection id's one-minute lifetime. */
  now?: () => number
}

export const UDP_TRACKER_DEFAULTS: Required<Omit<UdpTrackerOptions, 'now'>> = {
  baseTimeout: 15_000,
  // 15 + 30 + 60 s: under two minutes before the next tracker of the tier is tried.
  retries: 2,
  maxPeers: 1000
}

const PROTOCOL_ID = 0x41727101980n
const ACTION_CONNECT = 0
const ACTION_ANNOUNCE = 1
const ACTION_SCRAPE = 2
const ACTION_ERROR = 3
/** BEP 15: "A client can use a connection ID until one minute after it has received it." */
const CONNECTION_ID_LIFETIME = 60_000
/** BEP 15: a scrape carries at most about 74 info hashes (one datagram). */
export const MAX_SCRAPE_HASHES = 74
const EVENT_CODES: Record<AnnounceEvent, number> = { completed: 1, started: 2, stopped: 3 }

interface Pending {
  action: number
  resolve: (packet: Buffer) => void
  reject: (err: ZentorrentError) => void
}

export function parseUdpUrl (url: string): { host: string, port: number } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (err) {
    throw new ZentorrentError('TRACKER_UNSUPPORTED', `not a valid tracker URL: ${url}`, { cause: err })
  }
  const port = Number(parsed.port)
  if (parsed.protocol !== 'udp:' || parsed.hostname === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ZentorrentError('TRACKER_UNSUPPORTED', `not a UDP tracker URL with a port: ${url}`)
  }
  // URL keeps IPv6 literals in brackets.
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port }
}

export class UdpTracker implements TrackerClient {
  readonly url: string
  readonly #host: string
  readonly #port: number
  readonly #options: Required<Omit<UdpTrackerOptions, 'now'>>
  readonly #now: () => number
  #socket: Promise<{ socket: dgram.Socket, family: 4 | 6 }> | undefined
  #connection: { id: Buffer, receivedAt: number } | undefined
  readonly #pending = new Map<number, Pending>()
  #closed = false

  constructor (url: string, options: UdpTrackerOptions = {}) {
    const { host, port } = parseUdpUrl(url)
    this.url = url
    this.#host = host
    this.#port = port
    const { now, ...rest } = options
    this.#options = { ...UDP_TRACKER_DEFAULTS, ...definedOnly(rest) }
    this.#now = now ?? Date.now
  }

  async announce (req: AnnounceRequest, options: RequestOptions = {}): Promise<AnnounceResponse> {
    const { family } = await this.#open()
    const packet = await this.#exchange(ACTION_ANNOUNCE, (connectionId, transactionId) => {
      const out = Buffer.alloc(98)
      connectionId.copy(out, 0)
      out.writeUInt32BE(ACTION_ANNOUNCE, 8)
      out.writeUInt32BE(transactionId, 12)
      req.infoHash.copy(out, 16, 0, 20)
      req.peerId.copy(out, 36, 0, 20)
      out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(req.downloaded))), 56)
      out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(req.left))), 64)
      out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(req.uploaded))), 72)
      out.writeUInt32BE(req.event === undefined ? 0 : EVENT_CODES[req.event], 80)
      out.writeUInt32BE(0, 84) // IP address: 0 = the sender's
      out.writeUInt32BE((req.key ?? 0) >>> 0, 88)
      out.writeInt32BE(req.numwant ?? -1, 92) // -1 = the tracker's default
      out.writeUInt16BE(req.port, 96)
      return out
    }, options.signal)
    return parseUdpAnnounceReply(packet, family, Math.min(this.#options.maxPeers, req.numwant ?? Infinity))
  }

  async scrape (infoHashes: readonly Buffer[], options: RequestOptions = {}): Promise<ScrapeResponse> {
    if (infoHashes.length === 0 || infoHashes.length > MAX_SCRAPE_HASHES) {
      throw new ZentorrentError('BAD_ARGUMENT', `a UDP scrape takes 1 to ${MAX_SCRAPE_HASHES} info hashes`)
    }
    const packet = await this.#exchange(ACTION_SCRAPE, (connectionId, transactionId) => {
      const out = Buffer.alloc(16 + 20 * infoHashes.length)
      connectionId.copy(out, 0)
      out.writeUInt32BE(ACTION_SCRAPE, 8)
      out.writeUInt32BE(transactionId, 12)
      infoHashes.forEach((hash, i) => hash.copy(out, 16 + 20 * i, 0, 20))
      return out
    }, options.signal)
    return parseUdpScrapeReply(packet, infoHashes)
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#failAll(new ZentorrentError('ABORTED', `UDP tracker ${this.url} closed`))
    const socket = this.#socket
    this.#socket = undefined
    socket?.then(({ socket }) => socket.close(), () => {})
  }

  /** Connect if the cached connection id is missing or older than a minute, then send the request. */
  async #exchange (action: number, build: (connectionId: Buffer, transactionId: number) => Buffer, signal?: AbortSignal): Promise<Buffer> {
    let attempt = 0
    while (true) {
      const connection = this.#connection
      if (connection === undefined || this.#now() - connection.receivedAt >= CONNECTION_ID_LIFETIME) {
        this.#connection = undefined
        const reply = await this.#transmit(ACTION_CONNECT, (transactionId) => {
          const out = Buffer.alloc(16)
          out.writeBigUInt64BE(PROTOCOL_ID, 0)
          out.writeUInt32BE(ACTION_CONNECT, 8)
          out.writeUInt32BE(transactionId, 12)
          return out
        }, attempt, signal)
        if (reply === null) { attempt++; continue }
        this.#connection = { id: parseUdpConnectReply(reply), receivedAt: this.#now() }
        continue
      }
      const reply = await this.#transmit(action, (transactionId) => build(connection.id, transactionId), attempt, signal)
      if (reply !== null) return reply
      attempt++
    }
  }

  /** Send once and wait `baseTimeout · 2^attempt`; null on timeout, TRACKER_TIMEOUT when the attempts are spent. */
  async #transmit (action: number, build: (transactionId: number) => Buffer, attempt: number, signal?: AbortSignal): Promise<Buffer | null> {
    if (attempt > this.#options.retries) {
      const total = this.#options.baseTimeout * (2 ** (this.#options.retries + 1) - 1)
      throw new ZentorrentError('TRACKER_TIMEOUT', `UDP tracker did not answer after ${this.#options.retries + 1} transmissions (${total} ms)`)
    }
    if (this.#closed) throw new ZentorrentError('ABORTED', `UDP tracker ${this.url} closed`)
    if (signal?.aborted === true) throw new ZentorrentError('ABORTED', 'tracker request aborted')
    const { socket } = await this.#open()
    let transactionId = randomBytes(4).readUInt32BE(0)
    while (this.#pending.has(transactionId)) transactionId = randomBytes(4).readUInt32BE(0)
    const id = transactionId
    return await new Promise<Buffer | null>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(id)
      }
      // Not unref'd: a request in flight must keep the process alive (the socket itself is unref'd, so an idle
      // client does not); the wait is bounded by the back-off.
      const timer = setTimeout(() => { finish(); resolve(null) }, this.#options.baseTimeout * 2 ** attempt)
      const onAbort = (): void => { finish(); reject(new ZentorrentError('ABORTED', 'tracker request aborted')) }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(id, {
        action,
        resolve: (packet) => { finish(); resolve(packet) },
        reject: (err) => { finish(); reject(err) }
      })
      socket.send(build(id), (err) => {
        if (err !== null && err !== undefined) this.#pending.get(id)?.reject(unreachable(this.url, err))
      })
    })
  }

  #open (): Promise<{ socket: dgram.Socket, family: 4 | 6 }> {
    if (this.#closed) return Promise.reject(new ZentorrentError('ABORTED', `UDP tracker ${this.url} closed`))
    this.#socket ??= this.#createSocket()
    return this.#socket
  }

  async #createSocket (): Promise<{ socket: dgram.Socket, family: 4 | 6 }> {
    let address: { address: string, family: number }
    try {
      address = await lookup(this.#host)
    } catch (err) {
      this.#socket = undefined
      throw unreachable(this.url, err)
    }
    const family = address.family === 6 ? 6 : 4
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
    socket.unref()
    socket.on('message', (packet) => this.#onMessage(packet))
    // Errors after connect (ICMP unreachable → ECONNREFUSED) fail whatever is waiting; the socket stays usable.
    socket.on('error', (err) => this.#failAll(unreachable(this.url, err)))
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.connect(this.#port, address.address, () => { socket.off('error', reject); resolve() })
      })
    } catch (err) {
      socket.close()
      this.#socket = undefined
      throw unreachable(this.url, err)
    }
    if (this.#closed) socket.close()
    return { socket, family }
  }

  #onMessage (packet: Buffer): void {
    if (packet.length < 8) return
    const action = packet.readUInt32BE(0)
    const pending = this.#pending.get(packet.readUInt32BE(4))
    if (pending === undefined) return
    if (action === ACTION_ERROR) {
      pending.reject(parseUdpError(packet))
      // BEP 15 gives no rule; a failing connection id is the likeliest cause, so fetch a new one next time.
      this.#connection = undefined
      return
    }
    if (action !== pending.action) return
    pending.resolve(packet)
  }

  #failAll (err: ZentorrentError): void {
    for (const pending of [...this.#pending.values()]) pending.reject(err)
  }
}

// ---- replies (pure; exported for tests): `packet` is a whole datagram whose action and transaction id matched ----

/** BEP 15 connect reply: the 8-byte connection id (a copy: the datagram's buffer is not kept). */
export function parseUdpConnectReply (packet: Buffer): Buffer {
  if (packet.length < 16) throw new ZentorrentError('TRACKER_BAD_REPLY', `UDP connect reply of ${packet.length} bytes is shorter than 16`)
  return Buffer.from(packet.subarray(8, 16))
}

/** BEP 15 announce reply; over IPv6 the peers are 18 bytes each (BEP 15 "IPv6"), at most `limit` kept. */
export function parseUdpAnnounceReply (packet: Buffer, family: 4 | 6, limit: number): AnnounceResponse {
  if (packet.length < 20) throw new ZentorrentError('TRACKER_BAD_REPLY', `UDP announce reply of ${packet.length} bytes is shorter than 20`)
  return {
    interval: packet.readUInt32BE(8),
    incomplete: packet.readUInt32BE(12),
    complete: packet.readUInt32BE(16),
    peers: decodeCompactPeers(packet.subarray(20), family, limit)
  }
}

/** BEP 15 scrape reply: 12 bytes per info hash asked, in the order asked. */
export function parseUdpScrapeReply (packet: Buffer, infoHashes: readonly Buffer[]): ScrapeResponse {
  if (packet.length < 8 + 12 * infoHashes.length) {
    throw new ZentorrentError('TRACKER_BAD_REPLY', `UDP scrape reply of ${packet.length} bytes is too short for ${infoHashes.length} hashes`)
  }
  const result: ScrapeResponse = new Map()
  infoHashes.forEach((hash, i) => {
    const at = 8 + 12 * i
    result.set(hash.toString('hex'), {
      complete: packet.readUInt32BE(at),
      downloaded: packet.readUInt32BE(at + 4),
      incomplete: packet.readUInt32BE(at + 8)
    })
  })
  return result
}

/** BEP 15 error reply (action 3): the tracker's message, trailing NULs dropped. */
export function parseUdpError (packet: Buffer): ZentorrentError {
  const message = packet.subarray(8).toString('utf8').replace(/\0+$/, '')
  return new ZentorrentError('TRACKER_FAILURE', `tracker failure: ${message}`)
}

function unreachable (url: string, err: unknown): ZentorrentError {
  if (isZentorrentError(err)) return err
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  return new ZentorrentError('TRACKER_UNREACHABLE', `cannot reach UDP tracker ${url}: ${message}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err })
}
