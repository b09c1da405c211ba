/**
 * The listener: accepts incoming peers on one TCP port for any number of torrents. Each connection gets a Wire in
 * the responder role; its handshake names an info hash, which routes it to the torrent's session. Unknown info
 * hashes are refused (BEP 3: we must not answer a handshake for a torrent we do not serve).
 */
import { createServer, type Server, type Socket } from 'node:net'
import pump from 'pump'
import { Wire } from './wire/wire.js'
import { ZentorrentError } from './errors.js'
import { addressKey } from './swarm.js'

export interface IncomingTarget {
  attachIncoming: (wire: Wire, id: string) => void
}

export interface ListenerOptions {
  peerId: Buffer
  host?: string
  /** Ports to try in order (the usual BitTorrent range); then any free port. */
  ports?: readonly number[]
}

export const DEFAULT_PORTS: readonly number[] = [6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889]

export class Listener {
  readonly #server: Server
  readonly #targets: Map<string, IncomingTarget> = new Map()
  readonly #sockets: Set<Socket> = new Set()
  readonly #peerId: Buffer
  #port = 0

  constructor (opts: { peerId: Buffer }) {
    this.#peerId = opts.peerId
    this.#server = createServer((socket) => this.#onConnection(socket))
  }

  get port (): number { return this.#port }

  /** Listen on the first free port of `ports` (0 means any); resolves with the port. */
  async listen (host: string, ports: readonly number[]): Promise<number> {
    const tries = ports.length > 0 ? ports : [0]
    let last: unknown = null
    for (const port of [...tries, 0]) {
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
    throw new ZentorrentError('BAD_ARGUMENT', `cannot listen on ${host}: ${String(last)}`)
  }

  register (infoHash: Buffer, target: IncomingTarget): void {
    this.#targets.set(infoHash.toString('hex'), target)
  }

  unregister (infoHash: Buffer): void {
    this.#targets.delete(infoHash.toString('hex'))
  }

  async close (): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #onConnection (socket: Socket): void {
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
    socket.setNoDelay(true)
    const id = addressKey({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 })
    const wire = new Wire({ peerId: this.#peerId })
    wire.once('handshake', (info: { infoHash: Buffer }) => {
      const target = this.#targets.get(info.infoHash.toString('hex'))
      if (target === undefined) {
        wire.destroy(new ZentorrentError('UNKNOWN_INFO_HASH', `peer ${id} asked for a torrent we do not serve`))
        return
      }
      target.attachIncoming(wire, id)
    })
    pump(socket, wire, socket)
  }
}
