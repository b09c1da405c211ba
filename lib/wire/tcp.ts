/** A TCP connection to a peer, bounded in time: the first step of every dial (plain or MSE). */
import net from 'node:net'
import { ZentorrentError } from '../errors.js'
import { systemClock, type Clock } from '../clock.js'

/** Default 10 s: libtorrent's peer_connect_timeout is 15 s; loopback and LAN peers answer in milliseconds. */
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

