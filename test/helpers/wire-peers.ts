/**
 * The two ends of a small download through raw Wires, on any byte stream (a socket, an MSE stream): a responder
 * that serves a buffer, and an initiator that requests every block and returns what arrived.
 */
import type { Duplex } from 'node:stream'
import pump from 'pump'
import { generatePeerId, Wire } from '../../lib/wire/index.js'

const BLOCK = 16384

export interface Served { data: Buffer, pieceLength: number }

/**
 * A responder Wire on `stream` serving `data`; it accepts only `infoHash` (for MSE: the torrent the encrypted
 * handshake named, which the BitTorrent handshake must repeat).
 */
export function serveWire (stream: Duplex, infoHash: Buffer, { data, pieceLength }: Served): Wire {
  const pieceCount = Math.ceil(data.length / pieceLength)
  const wire = new Wire({ peerId: generatePeerId() })
  pump(stream, wire, stream)
  wire.on('handshake', (hs) => {
    if (!hs.infoHash.equals(infoHash)) { wire.destroy(new Error('the BitTorrent handshake names another torrent')); return }
    wire.accept({ infoHash, pieceCount, pieceLength, lastPieceLength: data.length - (pieceCount - 1) * pieceLength })
    wire.haveAll()
    wire.unchoke()
  })
  wire.on('request', (index, offset, length) => {
    const start = index * pieceLength + offset
    wire.piece(index, offset, data.subarray(start, start + length))
  })
  return wire
}

/** Request every block of a `length`-byte torrent through an initiator Wire on `stream`; resolves with the bytes. */
export async function downloadWire (stream: Duplex, infoHash: Buffer, length: number, pieceLength: number): Promise<Buffer> {
  const pieceCount = Math.ceil(length / pieceLength)
  const wire = new Wire({ peerId: generatePeerId(), infoHash, pieceCount, pieceLength, lastPieceLength: length - (pieceCount - 1) * pieceLength })
  pump(stream, wire, stream)
  const got = Buffer.alloc(length)
  try {
    await new Promise<void>((resolve, reject) => {
      let missing = 0
      wire.once('unchoke', () => {
        for (let index = 0; index < pieceCount; index++) {
          const size = Math.min(pieceLength, length - index * pieceLength)
          for (let offset = 0; offset < size; offset += BLOCK) {
            missing++
            wire.request(index, offset, Math.min(BLOCK, size - offset))
          }
        }
      })
      wire.on('piece', (index, offset, block) => {
        block.copy(got, index * pieceLength + offset)
        if (--missing === 0) resolve()
      })
      wire.once('close', () => reject(new Error('the wire closed before the download finished')))
      wire.interested()
    })
  } finally {
    wire.destroy()
  }
  return got
}
