/**
 * The listener: accepts incoming peers on one TCP port for any number of torrents. Each connection is first told
 * apart as plain BitTorrent or MSE/PE by its first bytes (lib/wire/mse/accept.ts; an encrypted one names its
 * torrent by `HASH('req2', info hash)`, found in an index of ours), then gets a Wire in the responder role; its
 * handshake names an info hash, which routes it to the torrent. Unknown info hashes are refused (BEP 3: we must not
 * answer a handshake for a torrent we do not serve).
 *
 * Limits against connections that never become peers (an outside run held 1,200 idle TCP connections open before
 * any handshake): at most `maxPending` connections may be between accept and a completed handshake (more are closed
 * at once), each has `handshakeTimeout` to complete it, and the encryption policy applies to incoming as to outgoing.
 */
import { createServer, type Server, type Socket } from 'node:net'
import pump from 'pump'
import { Wire } from './wire/wire.js'
import { ZentorrentError } from './errors.js'
import { addressKey } from './peers/address.js'
import { acceptPeer } from './wire/mse/accept.js'
import { SkeyIndex } from './wire/mse/skey-index.js'
import type { EncryptionPolicy } from './wire/mse/policy.js'
import type { MseMethod } from './wire/mse/handshake.js'
import { systemClock, type Clock } from './clock.js'

export interface IncomingTarget {
  attachIncoming: (wire: Wire, id: string, encryption: MseMethod | null) => void
}

export interface ListenerOptions {
  peerId: Buffer
  encryption?: EncryptionPolicy
  /** Connections accepted but not yet handshaken, at most. */
  maxPending?: number
  /** ms an incoming connection has to complete the MSE and BitTorrent handshakes. */
  handshakeTimeout?: number
  /** Set the BEP 5 DHT bit in our handshake (we run a DHT node). */
  dht?: boolean
  clock?: Clock
}

export const LISTENER_DEFAULTS = { maxPending: 64, handshakeTimeout: 10_000 } as const

/** Why we cannot listen, as a sentence a user can act on (exit 2: the user chose the port or the address). */
export function listenError (err: unknown, host: string, port: string | number): ZentorrentError {
  const code = (err as NodeJS.ErrnoException | null)?.code
  if (code === 'EADDRINUSE') {
    return new ZentorrentError('PORT_IN_USE', `port ${port} on ${host} is in use by another program (choose another with -p PORT, or -p 0 for any free port)`, { cause: err })
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new ZentorrentError('PERMISSION_DENIED', `port ${port} needs privileges this user lacks (ports below 1024 do; choose another with -p PORT)`, { cause: err })
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EINVAL') {
    return new ZentorrentError('BAD_ARGUMENT', `--bind ${host}: not an address of this machine (try 0.0.0.0, or 127.0.0.1 for this machine only)`, { cause: err })
  }
  return new ZentorrentError('BAD_ARGUMENT', `cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}

export const DEFAULT_PORTS: readonly number[] = [6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889]

export class Listener {
  readonly #server: Server
  readonly #targets: Map<string, IncomingTarget> = new Map()
  readonly #skeys = new SkeyIndex()
  readonly #sockets: Set<Socket> = new Set()
  readonly #pending: Set<Socket> = new Set()
  readonly #peerId: Buffer
  readonly #encryption: EncryptionPolicy
  readonly #maxPending: number
  readonly #handshakeTimeout: number
  readonly #clock: Clock
  readonly #dht: boolean
  #port = 0
  /** Connections closed at once because too many were pending (for tests and displays). */
  refused = 0

  constructor (opts: ListenerOptions) {
    this.#peerId = opts.peerId
    this.#encryption = opts.encryption ?? 'prefer'
    this.#maxPending = opts.maxPending ?? LISTENER_DEFAULTS.maxPending
    this.#handshakeTimeout = opts.handshakeTimeout ?? LISTENER_DEFAULTS.handshakeTimeout
    this.#clock = opts.clock ?? systemClock
    this.#dht = opts.dht === true
    this.#server = createServer((socket) => this.#onConnection(socket))
  }

  get port (): number { return this.#port }
  get pending (): number { return this.#pending.size }

  /**
   * Listen on the first free port of `ports`; with `strict`, only on those (a busy port is an error, as a user who
   * named one expects); otherwise any free port last.
   */
  async listen (host: string, ports: readonly number[], opts: { strict?: boolean } = {}): Promise<number> {
    const tries = ports.length > 0 ? ports : [0]
    let last: unknown = null
    for (const port of opts.strict === true ? tries : [...tries, 0]) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error): void => { this.#server.off('listening', onListening); reject(err) }
          const onListening = (): void => { this.#server.off('error', onError); resolve() }
          this.#server.once('error', onError)
          this.#server.once('listening', onListening)
          this.#server.listen(port, host)
        })
        const address = this.#server.address()
        this.#port = typeof address === 'object' && address !== null ? address.port : port
        return this.#port
      } catch (err) {
        last = err
      }
    }
    throw listenError(last, host, tries.join(','))
  }

  register (infoHash: Buffer, target: IncomingTarget): void {
    this.#targets.set(infoHash.toString('hex'), target)
    this.#skeys.add(infoHash)
  }

  unregister (infoHash: Buffer): void {
    this.#targets.delete(infoHash.toString('hex'))
    this.#skeys.delete(infoHash)
  }

  async close (): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #onConnection (socket: Socket): void {
    if (this.#pending.size >= this.#maxPending) {
      this.refused++
      socket.destroy()
      return
    }
    this.#sockets.add(socket)
    this.#pending.add(socket)
    socket.once('close', () => { this.#sockets.delete(socket); this.#pending.delete(socket) })
    socket.on('error', () => {})
    socket.setNoDelay(true)
    const id = addressKey({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 })
    const cancel = this.#clock.schedule(() => { socket.destroy() }, this.#handshakeTimeout)
    acceptPeer(socket, { policy: this.#encryption, findInfoHash: (req2) => this.#skeys.find(req2), timeoutMs: this.#handshakeTimeout, clock: this.#clock }).then((peer) => {
      const wire = new Wire({ peerId: this.#peerId, clock: this.#clock, handshakeTimeout: this.#handshakeTimeout, dht: this.#dht })
      wire.once('handshake', (info: { infoHash: Buffer }) => {
        cancel()
        this.#pending.delete(socket)
        const target = this.#targets.get(info.infoHash.toString('hex'))
        if (target === undefined || (peer.infoHash !== null && !peer.infoHash.equals(info.infoHash))) {
          wire.destroy(new ZentorrentError('UNKNOWN_INFO_HASH', `peer ${id} asked for a torrent we do not serve`))
          return
        }
        target.attachIncoming(wire, id, peer.method)
      })
      wire.once('close', cancel)
      pump(peer.stream, wire, peer.stream)
    }, () => { cancel(); socket.destroy() })
  }
}
