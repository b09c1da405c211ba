/**
 * Dialling a peer: one implementation for the swarm and for scripts. Opens a TCP connection (bounded by
 * `connectTimeout`: CONNECT_TIMEOUT), runs a Wire on it (`pump(socket, wire, socket)`) and settles once both
 * handshakes are exchanged (the Wire's own `handshakeTimeout` bounds that). `dial` returns at once with the Wire,
 * so listeners can be attached before any byte is parsed (a bitfield usually arrives in the handshake's read) and
 * the attempt can be aborted; `connect` is the promise alone.
 */
import net from 'node:net'
import pump from 'pump'
import { ZentorrentError } from '../errors.js'
import { Wire, type WireOptions } from './wire.js'
import { systemClock, type Clock } from '../clock.js'

export interface ConnectOptions {
  /** Default 10 s: libtorrent's peer_connect_timeout is 15 s; loopback and LAN peers answer in milliseconds. */
  connectTimeout?: number
  clock?: Clock
  /** Called with the Wire before any byte is parsed. */
  onWire?: (wire: Wire) => void
}

export const CONNECT_DEFAULTS = { connectTimeout: 10_000 } as const

/** A TCP connection to host:port with Nagle off, or CONNECT_TIMEOUT after `connectTimeout` ms. */
export async function dialTcp (host: string, port: number, connectTimeout: number = CONNECT_DEFAULTS.connectTimeout, clock: Clock = systemClock): Promise<net.Socket> {
  return await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port })
    s.setNoDelay(true)
    const cancel = clock.schedule(() => {
      s.destroy()
      reject(new ZentorrentError('CONNECT_TIMEOUT', `no TCP connection to ${host}:${port} within ${connectTimeout} ms`))
    }, connectTimeout)
    s.once('connect', () => {
      cancel()
      s.removeAllListeners('error')
      resolve(s)
    })
    s.once('error', (err) => {
      cancel()
      s.destroy()
      reject(err)
    })
  })
}

export interface Dial {
  readonly wire: Wire
  /** Resolves with the wire once both handshakes are exchanged; rejects with why the attempt failed. */
  readonly ready: Promise<Wire>
  /** Give up (the socket is closed, `ready` rejects). */
  abort: () => void
}

export function dial (host: string, port: number, wireOpts: WireOptions & { infoHash: Buffer }, opts: ConnectOptions = {}): Dial {
  const connectTimeout = opts.connectTimeout ?? CONNECT_DEFAULTS.connectTimeout
  const clock = opts.clock ?? systemClock
  const socket = net.connect({ host, port })
  socket.setNoDelay(true)
  const wire = new Wire({ clock, ...wireOpts })
  opts.onWire?.(wire)
  const cancelTimer = clock.schedule(() => {
    socket.destroy(new ZentorrentError('CONNECT_TIMEOUT', `no TCP connection to ${host}:${port} within ${connectTimeout} ms`))
  }, connectTimeout)
  socket.once('connect', cancelTimer)
  const ready = new Promise<Wire>((resolve, reject) => {
    let settled = false
    wire.once('handshake', () => {
      cancelTimer()
      if (settled || wire.destroyed) return
      settled = true
      resolve(wire)
    })
    pump(socket, wire, socket, (err) => {
      cancelTimer()
      if (settled) return
      settled = true
      reject(err ?? new ZentorrentError('BAD_HANDSHAKE', `${host}:${port} closed the connection before the handshake`))
    })
  })
  ready.catch(() => {}) // the caller handles it; an abandoned attempt must not be an unhandled rejection
  return { wire, ready, abort: () => { socket.destroy(); wire.destroy() } }
}

export async function connect (host: string, port: number, wireOpts: WireOptions & { infoHash: Buffer }, opts: ConnectOptions = {}): Promise<Wire> {
  return await dial(host, port, wireOpts, opts).ready
}
