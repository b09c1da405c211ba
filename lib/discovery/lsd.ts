/**
 * Local Service Discovery, BEP 14: peers on the local network announce their torrents by UDP multicast to
 * 239.192.152.143:6771 (and [ff15::efc0:988f]:6771 over IPv6), and learn each other from the same group.
 * Opt-in (`--lsd`): multicast leaves the machine on a real network interface.
 *
 * Codec (pure). An announce is an HTTP-like request:
 *
 *     BT-SEARCH * HTTP/1.1\r\n  Host: <group>:6771\r\n  Port: <port>\r\n  Infohash: <40 hex>\r\n …  cookie: <c>\r\n \r\n\r\n
 *
 * with one or more consecutive `Infohash` headers, and at most 1400 bytes (BEP 14: MTU). `decodeLsd` is lenient
 * the way HTTP parsers are — header names in any case, LF or CRLF line ends, unknown headers ignored — and strict
 * where it matters: the request line, a port 1..65535, 40-hex info hashes (others skipped), at most `maxInfoHashes`
 * of them, at most `maxBytes` in all. The cookie lets us ignore our own announces looped back to us.
 *
 * Schedule (`Lsd`, clock passed in). Each torrent is due when added and `interval` (BEP 14: 5 minutes) after it
 * was last announced. One announce — one datagram per address family, carrying as many due torrents as fit, those
 * due longest first (round robin when they do not all fit) — goes out at most once per `minAnnounceInterval`
 * (BEP 14: "no more than 1 announce per minute"). Replies, rate-limited: an announce we hear from another client
 * for a torrent we have makes that torrent due now — so a newcomer learns of us within a minute, not five — unless
 * we announced it less than `minAnnounceInterval` ago; the per-minute cap holds whatever arrives.
 *
 * Receiving. A datagram from one host counts only if that host sent fewer than `maxMessagesPerMinute` this minute
 * (the rest are dropped unread); each info hash we have yields a 'peer' (the UDP source address, the announced
 * port). Our own cookie, unknown info hashes and malformed datagrams are ignored. Private torrents (BEP 27) are
 * never added.
 *
 * Sockets: an udp4 socket bound to 0.0.0.0:6771 (shared: reuseAddr) joined to the group, multicast TTL
 * `multicastTtl`, loopback on (two clients on one host find each other); and, with `ipv6` (default: when the host has
 * a non-internal IPv6 address), the same over udp6. `interfaces` picks the interface to join and send on (an IPv4
 * address, and `::%name` for IPv6); by default the system's choice.
 */
import { createSocket as createDgramSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { networkInterfaces } from 'node:os'
import { ZentorrentError } from '../errors.js'
import { isUndialable, normalizeHost, type PeerAddress } from '../peers/address.js'
import { systemClock, type Clock } from '../clock.js'

export const LSD_PORT = 6771
export const LSD_GROUP_IPV4 = '239.192.152.143'
export const LSD_GROUP_IPV6 = 'ff15::efc0:988f'
/** BEP 14: an announce with several info hashes should stay within this. */
export const LSD_MAX_PACKET = 1400

export type LsdFamily = 4 | 6

export interface LsdAnnounce {
  readonly port: number
  readonly infoHashes: readonly Buffer[]
  readonly cookie: string | null
}

function hostHeader (family: LsdFamily): string {
  return family === 4 ? `${LSD_GROUP_IPV4}:${LSD_PORT}` : `[${LSD_GROUP_IPV6}]:${LSD_PORT}`
}

/** One announce datagram. Throws BAD_ARGUMENT past LSD_MAX_PACKET (use `lsdCapacity` to know how many fit). */
export function encodeLsd (family: LsdFamily, msg: LsdAnnounce): Buffer {
  if (msg.infoHashes.length === 0) throw new ZentorrentError('BAD_ARGUMENT', 'an LSD announce needs an info hash')
  if (msg.cookie !== null && !/^[\x21-\x7e]{1,64}$/.test(msg.cookie)) throw new ZentorrentError('BAD_ARGUMENT', 'an LSD cookie is 1..64 printable characters')
  const lines = ['BT-SEARCH * HTTP/1.1', `Host: ${hostHeader(family)}`, `Port: ${msg.port}`]
  for (const hash of msg.infoHashes) lines.push(`Infohash: ${hash.toString('hex')}`)
  if (msg.cookie !== null) lines.push(`cookie: ${msg.cookie}`)
  const out = Buffer.from(lines.join('\r\n') + '\r\n\r\n\r\n', 'latin1')
  if (out.length > LSD_MAX_PACKET) throw new ZentorrentError('BAD_ARGUMENT', `LSD announce of ${out.length} bytes exceeds ${LSD_MAX_PACKET}`)
  return out
}

/** How many info hashes fit in one datagram with this port and cookie. */
export function lsdCapacity (family: LsdFamily, port: number, cookie: string | null): number {
  const fixed = encodeLsd(family, { port, infoHashes: [Buffer.alloc(20)], cookie }).length - `Infohash: ${'0'.repeat(40)}\r\n`.length
  return Math.floor((LSD_MAX_PACKET - fixed) / `Infohash: ${'0'.repeat(40)}\r\n`.length)
}

export interface LsdDecodeLimits {
  maxBytes: number
  maxInfoHashes: number
}

export const LSD_DECODE_LIMITS: Readonly<LsdDecodeLimits> = Object.freeze({ maxBytes: 2048, maxInfoHashes: 64 })

/** Decode an announce; null when it is not one (see the module comment for what is tolerated). */
export function decodeLsd (packet: Uint8Array, limits: LsdDecodeLimits = LSD_DECODE_LIMITS): LsdAnnounce | null {
  if (packet.length > limits.maxBytes) return null
  const lines = Buffer.from(packet.buffer, packet.byteOffset, packet.length).toString('latin1').split(/\r?\n/)
  if (lines[0]?.trim() !== 'BT-SEARCH * HTTP/1.1') return null
  let port: number | null = null
  let cookie: string | null = null
  const infoHashes: Buffer[] = []
  const seen = new Set<string>()
  for (const line of lines.slice(1)) {
    if (line === '') continue
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'port') {
      port = /^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535 ? Number(value) : null
      if (port === null) return null
    } else if (name === 'infohash') {
      if (/^[0-9a-fA-F]{40}$/.test(value) && infoHashes.length < limits.maxInfoHashes && !seen.has(value.toLowerCase())) {
        seen.add(value.toLowerCase())
        infoHashes.push(Buffer.from(value, 'hex'))
      }
    } else if (name === 'cookie') {
      cookie = value
    }
  }
  if (port === null || infoHashes.length === 0) return null
  return { port, infoHashes, cookie }
}

// ---- the announcer / listener -------------------------------------------------------------------------

export interface LsdOptions {
  /** Our BitTorrent listen port (what we announce). */
  port: number
  clock?: Clock
  /** Each torrent is announced this often (BEP 14: every 5 minutes). */
  interval?: number
  /** At most one announce per this (BEP 14: one a minute). */
  minAnnounceInterval?: number
  /** Datagrams we read from one host per minute. */
  maxMessagesPerMinute?: number
  /** IP_MULTICAST_TTL. 1 keeps announces on the local link (BEP 14 allows more; routers would forward them). */
  multicastTtl?: number
  /** Also announce and listen over IPv6; default when the host has a non-internal IPv6 address. */
  ipv6?: boolean
  /** The interface to join and send on: an IPv4 address, and `::%name` for IPv6. Default: the system's choice. */
  interfaces?: { ipv4?: string, ipv6?: string }
  /** Our cookie (default random). */
  cookie?: string
  /** The multicast port (6771; tests may move it). */
  groupPort?: number
  createSocket?: (type: SocketType) => Socket
}

export const LSD_DEFAULTS = Object.freeze({
  interval: 5 * 60_000,
  minAnnounceInterval: 60_000,
  maxMessagesPerMinute: 6,
  multicastTtl: 1
})

export interface LsdEvents {
  peer: [address: PeerAddress, infoHash: Buffer]
  warning: [err: Error]
}

export interface LsdStats {
  announcesSent: number
  received: number
  /** Malformed, over the per-host rate, our own. */
  ignored: number
}

/** Whether this host has an IPv6 address on a non-internal interface. */
export function hostHasIPv6 (): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6' && !a.internal) === true)
}

interface Channel {
  readonly family: LsdFamily
  readonly socket: Socket
  readonly group: string
}

export class Lsd extends EventEmitter<LsdEvents> {
  readonly #opts: Required<Omit<LsdOptions, 'clock' | 'ipv6' | 'interfaces' | 'cookie' | 'createSocket'>>
  readonly #clock: Clock
  readonly #ipv6: boolean
  readonly #interfaces: { ipv4?: string, ipv6?: string }
  readonly #cookie: string
  readonly #createSocket: (type: SocketType) => Socket
  /** hex → { due: when it should go out next, last: when it last went out }. */
  readonly #torrents = new Map<string, { due: number, last: number }>()
  readonly #rates = new Map<string, { minute: number, count: number }>()
  readonly #channels: Channel[] = []
  readonly #stats: LsdStats = { announcesSent: 0, received: 0, ignored: 0 }
  #lastAnnounceAt = -Infinity
  #cancel: (() => void) | null = null
  #started = false
  #closed = false

  constructor (opts: LsdOptions) {
    super()
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new ZentorrentError('BAD_ARGUMENT', `LSD needs our listen port, got ${opts.port}`)
    this.#opts = {
      port: opts.port,
      interval: opts.interval ?? LSD_DEFAULTS.interval,
      minAnnounceInterval: opts.minAnnounceInterval ?? LSD_DEFAULTS.minAnnounceInterval,
      maxMessagesPerMinute: opts.maxMessagesPerMinute ?? LSD_DEFAULTS.maxMessagesPerMinute,
      multicastTtl: opts.multicastTtl ?? LSD_DEFAULTS.multicastTtl,
      groupPort: opts.groupPort ?? LSD_PORT
    }
    this.#clock = opts.clock ?? systemClock
    this.#ipv6 = opts.ipv6 ?? hostHasIPv6()
    this.#interfaces = opts.interfaces ?? {}
    this.#cookie = opts.cookie ?? randomBytes(6).toString('hex')
    this.#createSocket = opts.createSocket ?? ((type) => createDgramSocket({ type, reuseAddr: true }))
  }

  get cookie (): string { return this.#cookie }

  stats (): Readonly<LsdStats> { return { ...this.#stats } }

  /** Bind and join the group(s). IPv4 failing is LSD_UNAVAILABLE; IPv6 failing is a warning (IPv4 goes on). */
  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    try {
      this.#channels.push(await this.#open(4))
    } catch (err) {
      throw new ZentorrentError('LSD_UNAVAILABLE', `cannot join the LSD multicast group ${LSD_GROUP_IPV4}: ${(err as Error).message}`, { cause: err })
    }
    if (this.#ipv6) {
      try {
        this.#channels.push(await this.#open(6))
      } catch (err) {
        this.emit('warning', new ZentorrentError('LSD_UNAVAILABLE', `LSD over IPv6 is off: ${(err as Error).message}`, { cause: err }))
      }
    }
    this.#schedule()
  }

  async #open (family: LsdFamily): Promise<Channel> {
    const socket = this.#createSocket(family === 4 ? 'udp4' : 'udp6')
    const group = family === 4 ? LSD_GROUP_IPV4 : LSD_GROUP_IPV6
    const iface = family === 4 ? this.#interfaces.ipv4 : this.#interfaces.ipv6
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(this.#opts.groupPort, family === 4 ? '0.0.0.0' : '::', () => {
        socket.off('error', reject)
        resolve()
      })
    }).catch((err: unknown) => { socket.close(); throw err })
    try {
      socket.addMembership(group, iface)
      if (iface !== undefined) socket.setMulticastInterface(iface)
      socket.setMulticastTTL(this.#opts.multicastTtl)
      socket.setMulticastLoopback(true)
    } catch (err) {
      socket.close()
      throw err
    }
    socket.on('error', (err) => this.emit('warning', err))
    socket.on('message', (buf: Buffer, rinfo: RemoteInfo) => { this.#receive(buf, rinfo) })
    return { family, socket, group }
  }

  /** A torrent to announce (now, within the rate) and to hear about. Private torrents are ignored (BEP 27). */
  add (torrent: { infoHash: Buffer, private: boolean }): void {
    if (torrent.private || this.#closed) return
    const hex = torrent.infoHash.toString('hex')
    if (this.#torrents.has(hex)) return
    this.#torrents.set(hex, { due: this.#clock.now(), last: -Infinity })
    this.#schedule()
  }

  /**
   * Announce this torrent soon (the session has no peers): due now unless it went out less than
   * `minAnnounceInterval` ago; the one-announce-a-minute cap still holds. True if it was made due.
   */
  refresh (infoHash: Buffer): boolean {
    const t = this.#torrents.get(infoHash.toString('hex'))
    const now = this.#clock.now()
    if (t === undefined || t.due <= now || now - t.last < this.#opts.minAnnounceInterval) return false
    t.due = now
    this.#schedule()
    return true
  }

  remove (infoHash: Buffer): void {
    this.#torrents.delete(infoHash.toString('hex'))
  }

  close (): void {
    this.#closed = true
    this.#cancel?.()
    this.#cancel = null
    for (const c of this.#channels.splice(0)) c.socket.close()
    this.#torrents.clear()
  }

  /** Arm the timer for the next announce: the earliest due torrent, but not within the per-minute cap. */
  #schedule (): void {
    if (!this.#started || this.#closed) return
    this.#cancel?.()
    this.#cancel = null
    let due = Infinity
    for (const t of this.#torrents.values()) due = Math.min(due, t.due)
    if (due === Infinity) return
    const at = Math.max(due, this.#lastAnnounceAt + this.#opts.minAnnounceInterval)
    this.#cancel = this.#clock.schedule(() => {
      this.#cancel = null
      this.#announce()
    }, Math.max(0, at - this.#clock.now()))
  }

  #announce (): void {
    const now = this.#clock.now()
    const due = [...this.#torrents.entries()].filter(([, t]) => t.due <= now).sort(([, a], [, b]) => a.due - b.due)
    if (due.length > 0 && this.#channels.length > 0) {
      const count = Math.min(due.length, lsdCapacity(6, this.#opts.port, this.#cookie)) // IPv6's Host header is the longer
      const chosen = due.slice(0, count)
      for (const channel of this.#channels) {
        const packet = encodeLsd(channel.family, { port: this.#opts.port, infoHashes: chosen.map(([hex]) => Buffer.from(hex, 'hex')), cookie: this.#cookie })
        channel.socket.send(packet, this.#opts.groupPort, channel.group, (err) => { if (err !== null) this.emit('warning', err) })
      }
      for (const [, t] of chosen) {
        t.last = now
        t.due = now + this.#opts.interval
      }
      this.#lastAnnounceAt = now
      this.#stats.announcesSent++
    }
    this.#schedule()
  }

  #receive (buf: Buffer, rinfo: RemoteInfo): void {
    this.#stats.received++
    const now = this.#clock.now()
    const host = normalizeHost(rinfo.address)
    if (host === null || isUndialable(host) || !this.#withinRate(host, now)) { this.#stats.ignored++; return }
    const msg = decodeLsd(buf)
    if (msg === null || msg.cookie === this.#cookie) { this.#stats.ignored++; return }
    let reply = false
    for (const hash of msg.infoHashes) {
      const t = this.#torrents.get(hash.toString('hex'))
      if (t === undefined) continue
      this.emit('peer', { host, port: msg.port }, hash)
      // a newcomer: tell it about us soon, but not more than once per minAnnounceInterval per torrent
      if (now - t.last >= this.#opts.minAnnounceInterval && t.due > now) {
        t.due = now
        reply = true
      }
    }
    if (reply) this.#schedule()
  }

  #withinRate (host: string, now: number): boolean {
    const minute = Math.floor(now / 60_000)
    let rate = this.#rates.get(host)
    if (rate === undefined || rate.minute !== minute) {
      if (this.#rates.size >= 1024) for (const [k, r] of this.#rates) if (r.minute !== minute) this.#rates.delete(k)
      rate = { minute, count: 0 }
      this.#rates.set(host, rate)
    }
    return ++rate.count <= this.#opts.maxMessagesPerMinute
  }
}
