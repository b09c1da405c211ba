/**
 * Dial a peer over TCP and run a Wire on the socket (`pump(socket, wire, socket)`), resolving once both
 * handshakes are exchanged. The TCP connect is bounded by `connectTimeout` (CONNECT_TIMEOUT); the handshake by
 * the Wire's own `handshakeTimeout`.
 */
import net from 'node:net'
import pump from 'pump'
import { ZentorrentError } from '../errors.js'
import { Wire, type WireOptions } from './wire.js'

export interface ConnectOptions {
  /** Default 10 s: libtorrent's peer_connect_timeout is 15 s; loopback and LAN peers answer in milliseconds. */
  connectTimeout?: number
  /**
   * Called with the Wire before any byte is parsed: attach listeners here to see messages that arrive in the
   * same read as the peer's handshake (a bitfield usually does), since the promise resolves a tick later.
   */
  onWire?: (wire: Wire) => void
}

export const CONNECT_DEFAULTS = { connectTimeout: 10_000 } as const

/** A TCP connection to host:port with Nagle off, or CONNECT_TIMEOUT after `connectTimeout` ms. */
export async function dialTcp (host: string, port: number, connectTimeout: number = CONNECT_DEFAULTS.connectTimeout): Promise<net.Socket> {
  return await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port })
    s.setNoDelay(true)
    const timer = setTimeout(() => {
      s.destroy()
      reject(new ZentorrentError('CONNECT_TIMEOUT', `no TCP connection to ${host}:${port} within ${connectTimeout} ms`))
    }, connectTimeout)
    timer.unref()
    s.once('connect', () => {
      clearTimeout(timer)
      s.removeAllListeners('error')
      resolve(s)
    })
    s.once('error', (err) => {
      clearTimeout(timer)
      s.destroy()
      reject(err)
    })
  })
}

export async function connect (host: string, port: number, wireOpts: WireOptions & { infoHash: Buffer }, opts: ConnectOptions = {}): Promise<Wire> {
  const socket = await dialTcp(host, port, opts.connectTimeout ?? CONNECT_DEFAULTS.connectTimeout)
  const wire = new Wire(wireOpts)
  opts.onWire?.(wire)
  return await new Promise<Wire>((resolve, reject) => {
    let settled = false
    pump(socket, wire, socket, (err) => {
      if (settled) return
      settled = true
      reject(err ?? new ZentorrentError('BAD_HANDSHAKE', `${host}:${port} closed the connection before the handshake`))
    })
    wire.once('handshake', () => {
      if (settled || wire.destroyed) return
      settled = true
      resolve(wire)
    })
  })
}
