/**
 * Dialling a peer: one implementation for the swarm and for scripts. Opens a TCP connection (bounded by
 * `connectTimeout`: CONNECT_TIMEOUT), negotiates MSE/PE under the encryption policy (lib/wire/mse/dial.ts), runs a
 * Wire on the result (`pump(stream, wire, stream)`) and settles once both handshakes are exchanged (the Wire's own
 * `handshakeTimeout` bounds that). `dial` returns at once with the Wire and can be aborted; `connect` is the
 * promise alone.
 */
import pump from 'pump'
import { ZentorrentError } from '../errors.js'
import { Wire, type WireOptions } from './wire.js'
import { systemClock, type Clock } from '../clock.js'
import type { Duplex } from 'node:stream'
import { dialPeer } from './mse/dial.js'
import type { EncryptionPolicy } from './mse/policy.js'
import type { MseMethod } from './mse/handshake.js'

export interface ConnectOptions {
  /** Default 10 s: libtorrent's peer_connect_timeout is 15 s; loopback and LAN peers answer in milliseconds. */
  connectTimeout?: number
  /** MSE/PE (lib/wire/mse/): `disable` (default here), `prefer` or `require`. */
  encryption?: EncryptionPolicy
  /** ms for the MSE handshake. */
  handshakeTimeout?: number
  clock?: Clock
  /** Called with the Wire before any byte is parsed. */
  onWire?: (wire: Wire) => void
}

import { CONNECT_DEFAULTS } from './tcp.js'

export { CONNECT_DEFAULTS, dialTcp } from './tcp.js'

export interface Dial {
  readonly wire: Wire
  /** Resolves with the wire once both handshakes are exchanged; rejects with why the attempt failed. */
  readonly ready: Promise<Wire>
  /** The MSE payload method once the transport is up (null: plain BitTorrent). */
  readonly encryption: () => MseMethod | null
  /** Give up (the socket is closed, `ready` rejects). */
  abort: () => void
}

/**
 * Dial `host:port` under an encryption policy (default `disable`: plain BitTorrent; the swarm passes its own),
 * then run a Wire on the connection. The Wire exists at once, so listeners can be attached before any byte is
 * parsed (a bitfield usually arrives in the handshake's read).
 */
export function dial (host: string, port: number, wireOpts: WireOptions & { infoHash: Buffer }, opts: ConnectOptions = {}): Dial {
  const clock = opts.clock ?? systemClock
  const wire = new Wire({ clock, ...wireOpts })
  opts.onWire?.(wire)
  let method: MseMethod | null = null
  let stream: Duplex | null = null
  let aborted = false
  const ready = new Promise<Wire>((resolve, reject) => {
    dialPeer(host, port, {
      infoHash: wireOpts.infoHash,
      policy: opts.encryption ?? 'disable',
      connectTimeout: opts.connectTimeout ?? CONNECT_DEFAULTS.connectTimeout,
      ...(opts.handshakeTimeout !== undefined ? { timeoutMs: opts.handshakeTimeout } : {}),
      clock
    }).then((peer) => {
      stream = peer.stream
      method = peer.method
      if (aborted || wire.destroyed) {
        peer.stream.destroy()
        reject(new ZentorrentError('ABORTED', `the dial to ${host}:${port} was given up`))
        return
      }
      let settled = false
      wire.once('handshake', () => {
        if (settled || wire.destroyed) return
        settled = true
        resolve(wire)
      })
      pump(peer.stream, wire, peer.stream, (err) => {
        if (settled) return
        settled = true
        reject(err ?? new ZentorrentError('BAD_HANDSHAKE', `${host}:${port} closed the connection before the handshake`))
      })
    }, (err: unknown) => {
      wire.destroy()
      reject(err)
    })
  })
  ready.catch(() => {}) // the caller handles it; an abandoned attempt must not be an unhandled rejection
  return { wire, ready, encryption: () => method, abort: () => { aborted = true; stream?.destroy(); wire.destroy() } }
}

export async function connect (host: string, port: number, wireOpts: WireOptions & { infoHash: Buffer }, opts: ConnectOptions = {}): Promise<Wire> {
  return await dial(host, port, wireOpts, opts).ready
}
