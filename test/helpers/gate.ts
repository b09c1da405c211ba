import net from 'node:net'
import type { Test } from 'tap'

/**
 * A relay to `port` that holds every connection until `open()` is true (or 10 s pass): the test decides when the
 * honest peer becomes reachable, instead of leaving it to a race the honest peer wins on a busy machine.
 */
export async function startGate (t: Test, port: number, open: () => boolean): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    sockets.add(client)
    client.pause()
    const started = Date.now()
    const poll = setInterval(() => {
      if (!open() && Date.now() - started < 10_000 && !client.destroyed) return
      clearInterval(poll)
      if (client.destroyed) return
      const upstream = net.connect({ host: '127.0.0.1', port })
      sockets.add(upstream)
      client.pipe(upstream).pipe(client)
      client.resume()
      upstream.on('error', () => client.destroy())
      client.on('error', () => upstream.destroy())
      client.once('close', () => upstream.destroy())
      upstream.once('close', () => client.destroy())
    }, 20)
    client.once('close', () => { clearInterval(poll); sockets.delete(client) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as net.AddressInfo).port
}

