/**
 * A small embedded HTTP tracker (BEP 3 announce with compact BEP 23 / BEP 7 and dictionary-model replies,
 * BEP 48 scrape) for the demo and tests. In memory, no whitelist, no expiry beyond `stopped`: it is for loopback
 * swarms we start ourselves, not for the Internet.
 */
import http from 'node:http'
import { isIP } from 'node:net'
import bencode from 'bencode'
import { encodeCompactPeer, percentDecodeBytes } from './codec.js'

export interface TrackerServerOptions {
  host?: string
  port?: number
  /** Seconds, sent as `interval` (and half of it as `min interval`). */
  interval?: number
}

export interface TrackerServer {
  /** The announce URL, e.g. http://127.0.0.1:PORT/announce. */
  url: string
  scrapeUrl: string
  port: number
  close (): Promise<void>
}

interface SwarmPeer { peerId: Buffer, host: string, port: number, left: number }
interface Swarm { peers: Map<string, SwarmPeer>, downloaded: number }

const DEFAULT_NUMWANT = 50
const MAX_NUMWANT = 200

export async function startTracker (options: TrackerServerOptions = {}): Promise<TrackerServer> {
  const host = options.host ?? '127.0.0.1'
  const interval = options.interval ?? 1800
  const swarms = new Map<string, Swarm>()

  const server = http.createServer((req, res) => {
    const [path = '', query = ''] = (req.url ?? '').split('?', 2)
    const params = parseQuery(query)
    let reply: Record<string, unknown>
    if (path.endsWith('/announce')) reply = announce(params, req.socket.remoteAddress ?? '')
    else if (path.endsWith('/scrape')) reply = scrape(params)
    else {
      res.writeHead(404).end()
      return
    }
    const body = bencode.encode(reply)
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body)
  })

  function announce (params: Map<string, Buffer[]>, remoteAddress: string): Record<string, unknown> {
    const infoHash = params.get('info_hash')?.[0]
    const peerId = params.get('peer_id')?.[0]
    const port = Number(params.get('port')?.[0]?.toString())
    if (infoHash?.length !== 20) return { 'failure reason': 'info_hash must be 20 bytes' }
    if (peerId?.length !== 20) return { 'failure reason': 'peer_id must be 20 bytes' }
    if (!Number.isInteger(port) || port < 1 || port > 65535) return { 'failure reason': 'invalid port' }
    const event = params.get('event')?.[0]?.toString()
    const left = Number(params.get('left')?.[0]?.toString() ?? 0)
    const numwant = Math.min(MAX_NUMWANT, Number(params.get('numwant')?.[0]?.toString() ?? DEFAULT_NUMWANT) || 0)
    const compact = params.get('compact')?.[0]?.toString() !== '0'
    const hostOf = remoteAddress.replace(/^::ffff:(?=\d+\.)/, '')

    const swarm = swarms.get(infoHash.toString('hex')) ?? { peers: new Map(), downloaded: 0 }
    swarms.set(infoHash.toString('hex'), swarm)
    const key = peerId.toString('hex')
    if (event === 'stopped') swarm.peers.delete(key)
    else {
      if (event === 'completed') swarm.downloaded++
      swarm.peers.set(key, { peerId, host: hostOf, port, left: Number.isFinite(left) ? left : 0 })
    }

    // Everyone but the asker, at most numwant; no peers at all for `stopped` (BEP 3: it is a goodbye).
    const others = event === 'stopped' ? [] : [...swarm.peers.values()].filter((p) => !p.peerId.equals(peerId)).slice(0, numwant)
    const counts = countOf(swarm)
    const reply: Record<string, unknown> = {
      interval,
      'min interval': Math.max(1, Math.floor(interval / 2)),
      complete: counts.complete,
      incomplete: counts.incomplete
    }
    if (compact) {
      const peerFamily = (p: SwarmPeer): 4 | 6 => isIP(p.host) === 6 ? 6 : 4
      reply.peers = Buffer.concat(others.filter((p) => peerFamily(p) === 4).map((p) => encodeCompactPeer({ host: p.host, port: p.port, family: 4 })))
      const v6 = others.filter((p) => peerFamily(p) === 6)
      if (v6.length > 0) reply.peers6 = Buffer.concat(v6.map((p) => encodeCompactPeer({ host: p.host, port: p.port, family: 6 })))
    } else {
      reply.peers = others.map((p) => ({ ip: p.host, port: p.port, 'peer id': p.peerId }))
    }
    return reply
  }

  function scrape (params: Map<string, Buffer[]>): Record<string, unknown> {
    const wanted = params.get('info_hash') ?? [...swarms.keys()].map((hex) => Buffer.from(hex, 'hex'))
    // A Map so the keys stay raw 20-byte strings (object keys would be re-encoded as UTF-8 text).
    const files = new Map<Buffer, Record<string, number>>()
    for (const infoHash of wanted) {
      const swarm = swarms.get(infoHash.toString('hex'))
      if (swarm === undefined) continue
      files.set(infoHash, { ...countOf(swarm), downloaded: swarm.downloaded })
    }
    return { files }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const base = `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
  return {
    url: `${base}/announce`,
    scrapeUrl: `${base}/scrape`,
    port,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

function countOf (swarm: Swarm): { complete: number, incomplete: number } {
  let complete = 0
  for (const peer of swarm.peers.values()) if (peer.left === 0) complete++
  return { complete, incomplete: swarm.peers.size - complete }
}

/** A query string → raw bytes per key (repeated keys kept, as scrape repeats `info_hash`). */
function parseQuery (query: string): Map<string, Buffer[]> {
  const params = new Map<string, Buffer[]>()
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = percentDecodeBytes(eq < 0 ? part : part.slice(0, eq)).toString('latin1')
    const value = percentDecodeBytes(eq < 0 ? '' : part.slice(eq + 1))
    params.set(name, [...(params.get(name) ?? []), value])
  }
  return params
}
