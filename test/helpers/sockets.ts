/**
 * Connected socket pairs for transport tests: real TCP on loopback, and an in-memory pair whose bytes pass a
 * relay that cuts them into chunks of a chosen shape (whole, one byte, odd random sizes), a tick apart.
 */
import net from 'node:net'
import { duplexPair, type Duplex } from 'node:stream'
import type { Split } from './mse.js'

/** A TCP connection on 127.0.0.1: [the dialling end, the accepted end]. Both are destroyed at teardown. */
export async function tcpPair (t: { teardown: (fn: () => unknown) => void }): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as net.AddressInfo
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = net.connect(address.port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) })
  const peer = await accepted
  server.close()
  t.teardown(() => { client.destroy(); peer.destroy() })
  return [client, peer]
}

/** Copy `from` into `to` cut by `split`, each piece a tick after the last; ends `to` when `from` ends. */
function relay (from: Duplex, to: Duplex, split: Split): void {
  let queue: Buffer[] = []
  let busy = false
  let ended = false
  const pump = (): void => {
    const next = queue.shift()
    if (next === undefined) {
      busy = false
      if (ended) to.end()
      return
    }
    to.write(next)
    setImmediate(pump)
  }
  from.on('data', (chunk: Buffer) => {
    queue = queue.concat(split(Buffer.from(chunk)))
    if (!busy) { busy = true; setImmediate(pump) }
  })
  from.on('end', () => {
    ended = true
    if (!busy) to.end()
  })
}

/** Two in-memory sockets whose bytes, both ways, arrive cut by `split`. */
export function chunkedPair (split: Split): [Duplex, Duplex] {
  const [a, aRelay] = duplexPair()
  const [b, bRelay] = duplexPair()
  relay(aRelay, bRelay, split)
  relay(bRelay, aRelay, split)
  return [a, b]
}
