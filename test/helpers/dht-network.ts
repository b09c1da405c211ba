/**
 * Small DHTs on loopback for the DHT tests: our Dht nodes (guard on, no state file unless asked), a UDP socket spy
 * that records every datagram a node sends — and never lets one leave loopback, whatever the code under test
 * does — and scripted raw KRPC nodes for hostile input.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import bencode from 'bencode'
import { Dht, NO_PUBLIC_DHT_ENV, type DhtOptions } from '../../lib/discovery/dht.js'

export const GUARDED_ENV: NodeJS.ProcessEnv = { [NO_PUBLIC_DHT_ENV]: '1' }

interface Teardown { teardown: (fn: () => unknown) => void }

/** One of our nodes on 127.0.0.1, closed at the test's end. */
export async function localDht (t: Teardown, opts: DhtOptions = {}): Promise<Dht> {
  const dht = new Dht({ host: '127.0.0.1', statePath: null, env: GUARDED_ENV, bootstrap: [], ...opts })
  t.teardown(async () => { await dht.close() })
  await dht.start()
  return dht
}

/** `count` nodes bootstrapping from a first one; resolves when each has found the others. */
export async function localNetwork (t: Teardown, count: number, opts: DhtOptions = {}): Promise<Dht[]> {
  const first = await localDht(t, opts)
  const rest: Dht[] = []
  for (let i = 1; i < count; i++) rest.push(await localDht(t, { ...opts, bootstrap: [`127.0.0.1:${first.port}`] }))
  await Promise.all(rest.map(async (n) => { if (!n.ready) await new Promise<void>((resolve) => n.once('ready', () => { resolve() })) }))
  return [first, ...rest]
}

export interface Sent { host: string, port: number, packet: Buffer }

/** A `createSocket` for Dht that records each datagram; only loopback ones are really sent. */
export function spySocket (): { createSocket: () => Socket, sent: Sent[], created: () => number } {
  const sent: Sent[] = []
  let created = 0
  return {
    sent,
    created: () => created,
    createSocket: () => {
      created++
      const socket = createSocket('udp4')
      const send = socket.send.bind(socket) as (buf: Buffer, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void) => void
      const spied = (buf: Buffer, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void): void => {
        // Node re-enters send with a list of buffers when the socket is still binding: that call was recorded already
        if (!Buffer.isBuffer(buf)) { send(buf, offset, length, port, host, cb); return }
        sent.push({ host, port, packet: Buffer.from(buf.subarray(offset, offset + length)) })
        if (host.startsWith('127.')) send(buf, offset, length, port, host, cb)
        else if (cb !== undefined) process.nextTick(cb, null)
      }
      Object.assign(socket, { send: spied })
      return socket
    }
  }
}

export type KrpcMessage = Record<string, unknown>

/** A scripted KRPC node: decodes what it receives, answers through `onQuery`. */
export interface RawNode {
  readonly port: number
  readonly received: Array<{ msg: KrpcMessage, from: RemoteInfo }>
  send: (msg: KrpcMessage | Buffer, port: number) => Promise<void>
  onQuery: (fn: (msg: KrpcMessage, from: RemoteInfo) => KrpcMessage | Buffer | null) => void
  close: () => void
}

export async function rawNode (t: Teardown): Promise<RawNode> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const received: RawNode['received'] = []
  let answer: ((msg: KrpcMessage, from: RemoteInfo) => KrpcMessage | Buffer | null) | null = null
  const send = async (msg: KrpcMessage | Buffer, port: number): Promise<void> => {
    const bytes = Buffer.isBuffer(msg) ? msg : Buffer.from(bencode.encode(msg))
    await new Promise<void>((resolve) => socket.send(bytes, port, '127.0.0.1', () => { resolve() }))
  }
  socket.on('message', (buf, from) => {
    let msg: KrpcMessage
    try { msg = bencode.decode(buf) as KrpcMessage } catch { return }
    received.push({ msg, from })
    const reply = answer?.(msg, from)
    if (reply !== null && reply !== undefined) void send(reply, from.port)
  })
  let closed = false
  const close = (): void => { if (!closed) { closed = true; socket.close() } }
  t.teardown(close)
  return { port: socket.address().port, received, send, onQuery: (fn) => { answer = fn }, close }
}

/** The text of a bencoded byte string (bencode 4 gives Uint8Array). */
export function str (v: unknown): string {
  return v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : String(v)
}

export function compactNode (id: Buffer, host: string, port: number): Buffer {
  const out = Buffer.alloc(26)
  id.copy(out, 0)
  host.split('.').forEach((part, i) => { out[20 + i] = Number(part) })
  out.writeUInt16BE(port, 24)
  return out
}

export function compactPeer (host: string, port: number): Buffer {
  const out = Buffer.alloc(6)
  host.split('.').forEach((part, i) => { out[i] = Number(part) })
  out.writeUInt16BE(port, 4)
  return out
}

export async function until (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
