/**
 * Scripted trackers for the bad cases: an HTTP server and a UDP socket on loopback whose every answer the test
 * writes by hand. Both record what they received and close everything on `close()`.
 */
import http from 'node:http'
import dgram from 'node:dgram'
import net from 'node:net'
import bencode from 'bencode'

export interface ScriptedHttp {
  /** `http://127.0.0.1:PORT` + path. */
  url (path?: string): string
  /** Request targets (path and raw query) in arrival order. */
  requests: string[]
  close (): Promise<void>
}

export async function scriptedHttp (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<ScriptedHttp> {
  const requests: string[] = []
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '')
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: (path = '/announce') => `http://127.0.0.1:${port}${path}`,
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** Answer every request with this bencoded dictionary. */
export function bencoded (value: unknown): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const body = Buffer.from(bencode.encode(value))
  return (_req, res) => { res.writeHead(200, { 'content-length': body.length }).end(body) }
}

/** A loopback port nothing listens on (TCP and UDP): bound, then released. */
export async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface UdpPacket {
  packet: Buffer
  action: number
  transactionId: number
  reply: (data: Buffer) => void
}

export interface ScriptedUdp {
  url: string
  received: UdpPacket[]
  close (): Promise<void>
}

export async function scriptedUdp (handler: (packet: UdpPacket) => void, family: 4 | 6 = 4): Promise<ScriptedUdp> {
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
  const received: UdpPacket[] = []
  socket.on('message', (packet, rinfo) => {
    const entry: UdpPacket = {
      packet,
      action: packet.readUInt32BE(8),
      transactionId: packet.readUInt32BE(12),
      reply: (data) => socket.send(data, rinfo.port, rinfo.address)
    }
    received.push(entry)
    handler(entry)
  })
  const host = family === 6 ? '::1' : '127.0.0.1'
  await new Promise<void>((resolve) => socket.bind(0, host, resolve))
  const { port } = socket.address()
  return {
    url: family === 6 ? `udp://[::1]:${port}` : `udp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve()))
  }
}

/** action, transaction id, then the rest (BEP 15 reply header). */
export function udpReply (action: number, transactionId: number, ...rest: Buffer[]): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(action, 0)
  head.writeUInt32BE(transactionId, 4)
  return Buffer.concat([head, ...rest])
}

export function u32 (...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length)
  values.forEach((v, i) => out.writeUInt32BE(v, 4 * i))
  return out
}

/** Answer connects with this connection id; hand other packets to `onRequest`. */
export function connectThen (onRequest: (p: UdpPacket) => void, connectionId = Buffer.from('0011223344556677', 'hex')): (p: UdpPacket) => void {
  return (p) => {
    if (p.packet.length === 16 && p.packet.readBigUInt64BE(0) === 0x41727101980n && p.action === 0) {
      p.reply(udpReply(0, p.transactionId, connectionId))
      return
    }
    onRequest(p)
  }
}

/** n compact IPv4 peers 10.0.x.y:6881. */
export function compactPeers (n: number): Buffer {
  const out = Buffer.alloc(6 * n)
  for (let i = 0; i < n; i++) {
    out.writeUInt8(10, 6 * i)
    out.writeUInt8(0, 6 * i + 1)
    out.writeUInt16BE(i + 1, 6 * i + 2)
    out.writeUInt16BE(6881, 6 * i + 4)
  }
  return out
}
