/**
 * A loopback TCP server for MSE tests: every connection goes through `acceptPeer` under the given policy, and
 * then a Wire that serves `data`; what each connection turned out to be (or the error that ended it) is
 * recorded. Closed, with its connections, at the test's teardown.
 */
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { acceptPeer, SkeyIndex, type AcceptOptions, type MseMethod } from '../../lib/wire/mse/index.js'
import type { Wire } from '../../lib/wire/index.js'
import { serveWire } from './wire-peers.js'

export interface MseServer {
  port: number
  /** One entry per connection, in order: its method (null = plain) or the code of the error that ended it. */
  readonly outcomes: Array<{ method: MseMethod | null } | { error: string }>
  readonly wires: Wire[]
}

export async function startMseServer (t: { teardown: (fn: () => unknown) => void }, torrent: { infoHash: Buffer, data: Buffer, pieceLength: number },
  opts: Omit<AcceptOptions, 'findInfoHash'> = {}): Promise<MseServer> {
  const index = new SkeyIndex([torrent.infoHash])
  const sockets = new Set<Duplex>()
  const outcomes: MseServer['outcomes'] = []
  const wires: Wire[] = []
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    acceptPeer(socket, { ...opts, findInfoHash: index.find }).then((peer) => {
      outcomes.push({ method: peer.method })
      // a plain connection names its torrent only in the BitTorrent handshake; we serve just the one
      wires.push(serveWire(peer.stream, peer.infoHash ?? torrent.infoHash, torrent))
    }, (err: unknown) => {
      outcomes.push({ error: (err as { code?: string }).code ?? String(err) })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const w of wires) w.destroy()
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, outcomes, wires }
}
