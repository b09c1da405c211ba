/**
 * Run the MSE handshake (handshake.ts) on a connected socket and hand back the payload stream:
 *
 *   mseInitiate(socket, { infoHash, methods })    → { stream, method, infoHash }
 *   mseRespond(socket, { findInfoHash, methods }) → { stream, method, infoHash }
 *
 * `stream` is an EncryptedStream over the socket when RC4 was selected, and the socket itself when plaintext
 * was (bytes read past the handshake, and a responder's decrypted IA, are put back with `unshift` first, so
 * nothing is lost either way). Use it as `pump(stream, wire, stream)`; a plaintext socket is handed back
 * paused, so a bare 'data' listener also needs `resume()` (pipe and pump call it).
 *
 * The handshake reads the socket in flowing mode and parses every chunk at once (bounded memory: see
 * handshake.ts), and is bounded in time by `timeoutMs` (MSE_TIMEOUT). On any failure the socket is destroyed
 * and the promise rejects with a ZentorrentError. A peer that closes or resets the connection before the
 * handshake is done rejects an initiator with MSE_REFUSED: the usual answer of a peer that does not accept
 * encrypted connections (a plain BitTorrent peer reads our key as a bad handshake and hangs up), so a caller
 * under the `prefer` policy dials again in plain (see dial.ts). A responder gets MSE_CLOSED.
 */
import type { Duplex } from 'node:stream'
import { ZentorrentError, type ErrorCode } from '../../errors.js'
import { systemClock, type Cancel, type Clock } from '../../clock.js'
import {
  MseInitiator,
  MseResponder,
  type HandshakeResult,
  type InitiatorOptions,
  type MseMethod,
  type ResponderOptions
} from './handshake.js'
import { EncryptedStream } from './stream.js'

export interface NegotiateOptions {
  /** The whole handshake must be done within this (MSE_TIMEOUT). Default 10 s, libtorrent's handshake_timeout. */
  timeoutMs?: number
  /** Timer functions; a fake clock's in tests. Default Node's. */
  clock?: Clock
}

export const NEGOTIATE_DEFAULTS = { timeoutMs: 10_000 } as const

export interface MseConnection {
  /** The payload stream: an EncryptedStream (rc4) or the socket itself (plaintext). */
  stream: Duplex
  method: MseMethod
  /** The torrent of the connection (the responder learns it from the handshake). */
  infoHash: Buffer
}

export type MseInitiateOptions = InitiatorOptions & NegotiateOptions
export type MseRespondOptions = ResponderOptions & NegotiateOptions

export async function mseInitiate (socket: Duplex, opts: MseInitiateOptions): Promise<MseConnection> {
  const machine = new MseInitiator(opts)
  return await run(socket, machine, machine.start(), 'MSE_REFUSED', opts)
}

export async function mseRespond (socket: Duplex, opts: MseRespondOptions): Promise<MseConnection> {
  const machine = new MseResponder(opts)
  return await run(socket, machine, null, 'MSE_CLOSED', opts)
}

interface Machine {
  receive: (chunk: Buffer) => Buffer | null
  readonly result: HandshakeResult | null
}

async function run (socket: Duplex, machine: Machine, first: Buffer | null, closedCode: ErrorCode, opts: NegotiateOptions): Promise<MseConnection> {
  const timeoutMs = opts.timeoutMs ?? NEGOTIATE_DEFAULTS.timeoutMs
  const clock = opts.clock ?? systemClock
  return await new Promise<MseConnection>((resolve, reject) => {
    let timer: Cancel | null = null
    const cleanup = (): void => {
      if (timer !== null) timer()
      timer = null
      socket.off('data', onData)
      socket.off('end', onClosed)
      socket.off('close', onClosed)
      socket.off('error', onError)
    }
    const fail = (err: ZentorrentError): void => {
      cleanup()
      socket.on('error', () => {}) // an error while closing must not go uncaught
      socket.destroy()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      let out: Buffer | null
      try {
        out = machine.receive(chunk)
      } catch (err) {
        fail(err instanceof ZentorrentError ? err : new ZentorrentError('BAD_HANDSHAKE', String(err), { cause: err }))
        return
      }
      if (out !== null) socket.write(out)
      const result = machine.result
      if (result === null) return
      cleanup()
      socket.pause()
      resolve({ stream: payloadStream(socket, result), method: result.method, infoHash: result.infoHash })
    }
    const onClosed = (): void => {
      fail(new ZentorrentError(closedCode, 'the peer closed the connection during the encryption handshake' +
        (closedCode === 'MSE_REFUSED' ? ': it may not accept encrypted connections' : '')))
    }
    const onError = (err: Error): void => {
      fail(new ZentorrentError(closedCode, `the connection failed during the encryption handshake: ${err.message}`, { cause: err }))
    }
    timer = clock.schedule(() => {
      timer = null
      fail(new ZentorrentError('MSE_TIMEOUT', `the encryption handshake did not complete within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('data', onData)
    socket.on('end', onClosed)
    socket.on('close', onClosed)
    socket.on('error', onError)
    // flowing even if an earlier reader (detectProtocol's 'readable') left the socket paused
    socket.resume()
    if (socket.destroyed) {
      onClosed()
      return
    }
    if (first !== null) socket.write(first)
  })
}

function payloadStream (socket: Duplex, result: HandshakeResult): Duplex {
  if (result.encrypt !== null && result.decrypt !== null) {
    const head = Buffer.concat([result.initialPayload, result.decrypt.update(result.rest)])
    return new EncryptedStream(socket, result.encrypt, result.decrypt, head)
  }
  const head = Buffer.concat([result.initialPayload, result.rest])
  if (head.length > 0) socket.unshift(head)
  return socket
}
