/**
 * A Wire under test facing a scripted raw peer, in memory: the test writes the peer's bytes (whole, a byte at a
 * time, or in odd chunks) and reads back, decoded, every frame our Wire sent. For extension tests (PEX, the BEP 10
 * registry) that need a handshaken wire without sockets.
 */
import { encodeExtendedHandshake, encodeHandshake, encodeMessageToBuffer, FrameDecoder, Wire, type ExtendedHandshake, type Frame, type Message } from '../../lib/wire/index.js'

export type Chunking = 'whole' | 'bytes' | 'odd'

export const INFO_HASH = Buffer.alloc(20, 0x5a)
export const OUR_ID = Buffer.from('-ZT0100-ourpeer00000', 'latin1')

export interface RawPeer {
  readonly wire: Wire
  /** Frames our Wire sent (the handshake first). */
  readonly sent: Frame[]
  /** Extended messages our Wire sent (id ≠ 0), in order. */
  extended: () => Array<{ id: number, payload: Buffer }>
  /** Write the peer's bytes into our Wire, cut as `chunking` says. */
  feed: (bytes: Buffer, chunking?: Chunking) => void
  /** The peer's BT handshake (extended bit set) and, when given, its BEP 10 handshake. */
  handshake: (ext?: ExtendedHandshake) => void
  message: (msg: Message, chunking?: Chunking) => void
}

/** Cut `bytes` into chunks: whole, single bytes, or sizes 1, 2, 3, 5, 7, 11, 13 repeating. */
export function chunks (bytes: Buffer, chunking: Chunking): Buffer[] {
  if (chunking === 'whole') return [bytes]
  const sizes = chunking === 'bytes' ? [1] : [1, 2, 3, 5, 7, 11, 13]
  const out: Buffer[] = []
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!
    out.push(bytes.subarray(at, at + n))
    at += n
  }
  return out
}

let counter = 0

export function rawPeer (opts: { peerId?: Buffer } = {}): RawPeer {
  const wire = new Wire({ peerId: OUR_ID, infoHash: INFO_HASH, handshakeTimeout: 60_000 })
  const sent: Frame[] = []
  const decoder = new FrameDecoder({ handshake: true, maxBlockLength: 1 << 20 })
  wire.on('data', (chunk: Buffer) => { decoder.write(chunk, (f) => { sent.push(f) }) })
  wire.on('error', () => {})
  const peerId = opts.peerId ?? Buffer.from(`-XX0000-${String(counter++).padStart(12, '0')}`, 'latin1')
  const feed = (bytes: Buffer, chunking: Chunking = 'whole'): void => {
    for (const c of chunks(bytes, chunking)) wire.write(c)
  }
  return {
    wire,
    sent,
    extended: () => sent.flatMap((f) => f.type === 'extended' && f.id !== 0 ? [{ id: f.id, payload: f.payload }] : []),
    feed,
    handshake (ext?: ExtendedHandshake): void {
      feed(encodeHandshake({ infoHash: INFO_HASH, peerId, extended: true, fast: true }))
      if (ext !== undefined) feed(encodeMessageToBuffer({ type: 'extended', id: 0, payload: encodeExtendedHandshake(ext) }))
    },
    message (msg: Message, chunking: Chunking = 'whole'): void {
      feed(encodeMessageToBuffer(msg), chunking)
    }
  }
}

export const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }
