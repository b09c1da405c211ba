/**
 * Tell a plain BitTorrent connection from an encrypted one by its first bytes, so one listener takes both.
 *
 * A plain connection starts with the BEP 3 handshake: byte 19, then "BitTorrent protocol". An MSE one starts
 * with a 96-byte DH key, which begins with those 20 bytes with probability 2^-160. We read until the bytes
 * seen so far stop matching that prefix (usually the first byte) or all 20 match, then `unshift` everything we
 * read back into the socket: the caller hands the socket on (to a Wire, or to `mseRespond`) with nothing lost.
 *
 * Bounded: at most 20 bytes are looked at, within `timeoutMs` (HANDSHAKE_TIMEOUT); a peer that closes first is
 * BAD_HANDSHAKE. On failure the socket is destroyed.
 */
import type { Duplex } from 'node:stream'
import { ZentorrentError } from '../../errors.js'
import { systemClock, type Cancel, type Clock } from '../../clock.js'

export type IncomingProtocol = 'plain' | 'mse'

const PLAIN_PREFIX = Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol', 'latin1')])

export interface DetectOptions {
  /** Default 10 s (the same bound as the MSE handshake). */
  timeoutMs?: number
  clock?: Clock
}

export const DETECT_DEFAULTS = { timeoutMs: 10_000 } as const

/** What the first bytes say, decided on `head` alone: null while they still could be either. */
export function classifyHead (head: Buffer): IncomingProtocol | null {
  const n = Math.min(head.length, PLAIN_PREFIX.length)
  if (!head.subarray(0, n).equals(PLAIN_PREFIX.subarray(0, n))) return 'mse'
  return n === PLAIN_PREFIX.length ? 'plain' : null
}

export async function detectProtocol (socket: Duplex, opts: DetectOptions = {}): Promise<IncomingProtocol> {
  const timeoutMs = opts.timeoutMs ?? DETECT_DEFAULTS.timeoutMs
  const clock = opts.clock ?? systemClock
  return await new Promise<IncomingProtocol>((resolve, reject) => {
    const read: Buffer[] = []
    let timer: Cancel | null = null
    const cleanup = (): void => {
      if (timer !== null) timer()
      timer = null
      socket.off('readable', onReadable)
      socket.off('end', onClosed)
      socket.off('close', onClosed)
      socket.off('error', onError)
    }
    const fail = (err: ZentorrentError): void => {
      cleanup()
      socket.on('error', () => {})
      socket.destroy()
      reject(err)
    }
    const onReadable = (): void => {
      let chunk: Buffer | null
      while ((chunk = socket.read() as Buffer | null) !== null) {
        read.push(chunk)
        const kind = classifyHead(read.length === 1 ? chunk : Buffer.concat(read))
        if (kind === null) continue
        cleanup()
        socket.unshift(read.length === 1 ? chunk : Buffer.concat(read))
        resolve(kind)
        return
      }
    }
    const onClosed = (): void => { fail(new ZentorrentError('BAD_HANDSHAKE', 'the peer closed the connection before its handshake')) }
    const onError = (err: Error): void => { fail(new ZentorrentError('BAD_HANDSHAKE', `the connection failed before the handshake: ${err.message}`, { cause: err })) }
    timer = clock.schedule(() => {
      timer = null
      fail(new ZentorrentError('HANDSHAKE_TIMEOUT', `no handshake within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('readable', onReadable)
    socket.on('end', onClosed)
    socket.on('close', onClosed)
    socket.on('error', onError)
  })
}
