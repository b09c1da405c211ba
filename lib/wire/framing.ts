/**
 * Framing: bytes → messages, for any chunking of the input.
 *
 * `FrameDecoder` is a small state machine that waits for exactly the bytes it needs:
 *   [handshake: 68 bytes, optional] → header (4-byte length, then 1-byte id) → body (length - 1 bytes) → header …
 * Rules:
 * - Refuse before you buffer: as soon as the length prefix and id are known, the length is checked against
 *   the bound for that id (fixed sizes exactly; piece ≤ 9 + maxBlockLength; bitfield exactly the size the piece
 *   count gives, or ≤ maxBitfieldLength when unknown; extended and unknown ids ≤ maxExtendedLength). Only then is
 *   memory allocated, and only for a body split across chunks.
 * - Zero copy: a body that lies entirely inside one incoming chunk is a `subarray` of it (so a piece's block is a
 *   view of the socket's buffer); a body split across chunks is copied once into a buffer of its exact size.
 * - Unknown ids are skipped without buffering (BEP 3 / BEP 10: ignore what you do not understand).
 *
 * `createFraming(opts)` wraps the decoder in a Transform: bytes in, `Frame` objects out (readableObjectMode, so
 * keep-alives, which carry no bytes, survive). The Wire uses the decoder directly.
 */
import { BLOCK_LENGTH } from '../geometry.js'
import { Transform, type TransformCallback } from 'node:stream'
import { ZentorrentError } from '../errors.js'
import { decodeHandshake, HANDSHAKE_LENGTH, isHandshakeStart, type Handshake } from './handshake.js'
import { decodeMessage, FIXED_LENGTH, MessageId, PIECE_HEADER_LENGTH, type Message } from './messages.js'

export interface FramingOptions {
  /** Parse the 68-byte handshake first (default false: messages only). */
  handshake?: boolean
  /** When known, a bitfield must be exactly 1 + ceil(pieceCount / 8) long. */
  pieceCount?: number
  /** Largest block a piece message may carry (default 16384: the block size every client requests). */
  maxBlockLength?: number
  /** Largest bitfield payload when the piece count is unknown (default 1 MiB = 8 Mi pieces). */
  maxBitfieldLength?: number
  /** Largest extended (and unknown-id) payload (default 1 MiB, as ut_metadata and ut_pex need far less). */
  maxExtendedLength?: number
}

export const FRAMING_DEFAULTS = {
  maxBlockLength: BLOCK_LENGTH,
  maxBitfieldLength: 1 << 20,
  maxExtendedLength: 1 << 20
} as const

export type HandshakeFrame = { readonly type: 'handshake' } & Handshake
export type Frame = Message | HandshakeFrame

/** Returning false from the callback pauses the decoder: `write` returns how many bytes it consumed. */
export type FrameCallback = (frame: Frame) => boolean | undefined | void

const enum State { Handshake, Header, Body, Skip }

const KEEP_ALIVE: Message = { type: 'keep-alive' }

export class FrameDecoder {
  #state: State
  /** Scratch for a handshake or a header split across chunks. */
  readonly #scratch = Buffer.allocUnsafe(HANDSHAKE_LENGTH)
  #scratchFill = 0
  #id = 0
  /** Bytes of body still to come (Body, Skip). */
  #remaining = 0
  /** Body being assembled from several chunks, or null. */
  #body: Buffer | null = null
  #bodyFill = 0
  #pieceCount: number | undefined
  readonly #maxBlockLength: number
  readonly #maxBitfieldLength: number
  readonly #maxExtendedLength: number
  /** Messages with an id we do not know, skipped. */
  ignored = 0

  constructor (opts: FramingOptions = {}) {
    this.#state = opts.handshake === true ? State.Handshake : State.Header
    this.#pieceCount = opts.pieceCount
    this.#maxBlockLength = opts.maxBlockLength ?? FRAMING_DEFAULTS.maxBlockLength
    this.#maxBitfieldLength = opts.maxBitfieldLength ?? FRAMING_DEFAULTS.maxBitfieldLength
    this.#maxExtendedLength = opts.maxExtendedLength ?? FRAMING_DEFAULTS.maxExtendedLength
  }

  /** Learned late (a responder accepting a torrent, or metadata arriving): tightens the bitfield bound. */
  setPieceCount (pieceCount: number | undefined): void {
    this.#pieceCount = pieceCount
  }

  /**
   * Check a length prefix (id included) for `id` before anything is buffered. Throws MESSAGE_TOO_LONG,
   * BAD_BITFIELD or BAD_MESSAGE.
   */
  #checkLength (length: number, id: number): void {
    const fixed = FIXED_LENGTH[id]
    if (fixed !== undefined) {
      if (length > fixed) throw tooLong(id, length, fixed)
      if (length < fixed) throw new ZentorrentError('BAD_MESSAGE', `message id ${id} has length ${length}, expected ${fixed}`)
      return
    }
    if (id === MessageId.piece) {
      const max = PIECE_HEADER_LENGTH + this.#maxBlockLength
      if (length > max) throw tooLong(id, length, max)
      if (length < PIECE_HEADER_LENGTH) throw new ZentorrentError('BAD_MESSAGE', `piece message has length ${length}, below its ${PIECE_HEADER_LENGTH}-byte header`)
      return
    }
    if (id === MessageId.bitfield) {
      if (this.#pieceCount !== undefined) {
        // BEP 3: a bitfield of the wrong size is a reason to drop the peer; refuse it before buffering.
        const expected = 1 + ((this.#pieceCount + 7) >>> 3)
        if (length !== expected) {
          throw new ZentorrentError('BAD_BITFIELD', `bitfield message has length ${length}, expected ${expected} for ${this.#pieceCount} pieces`)
        }
      } else if (length > 1 + this.#maxBitfieldLength) {
        throw tooLong(id, length, 1 + this.#maxBitfieldLength)
      }
      return
    }
    // Extended messages and unknown ids.
    if (length > 1 + this.#maxExtendedLength) throw tooLong(id, length, 1 + this.#maxExtendedLength)
    if (id === MessageId.extended && length < 2) throw new ZentorrentError('BAD_MESSAGE', 'extended message without an extended id')
  }

  /** Start the body of a message whose header was just read; returns the frame when the body is empty. */
  #begin (length: number, id: number): Message | null {
    this.#checkLength(length, id)
    this.#id = id
    this.#remaining = length - 1
    if (this.#remaining === 0) {
      this.#state = State.Header
      return decodeMessage(id, EMPTY)
    }
    this.#state = FIXED_LENGTH[id] !== undefined || id === MessageId.piece || id === MessageId.bitfield || id === MessageId.extended
      ? State.Body
      : State.Skip
    return null
  }

  /**
   * Feed a chunk. Calls `onFrame` for each complete frame, in order. Returns the number of bytes consumed:
   * `chunk.length` unless `onFrame` returned false (then the caller feeds `chunk.subarray(consumed)` later).
   * Throws a ZentorrentError for hostile input; the decoder must then be discarded.
   */
  write (chunk: Buffer, onFrame: FrameCallback): number {
    const end = chunk.length
    let pos = 0
    while (pos < end) {
      switch (this.#state) {
        case State.Handshake: {
          if (this.#scratchFill === 0 && !isHandshakeStart(chunk[pos])) {
            throw new ZentorrentError('BAD_HANDSHAKE', `peer did not speak the BitTorrent protocol (first byte ${chunk[pos]}, expected 19)`)
          }
          const n = Math.min(HANDSHAKE_LENGTH - this.#scratchFill, end - pos)
          chunk.copy(this.#scratch, this.#scratchFill, pos, pos + n)
          this.#scratchFill += n
          pos += n
          if (this.#scratchFill < HANDSHAKE_LENGTH) break
          this.#scratchFill = 0
          this.#state = State.Header
          const hs = decodeHandshake(this.#scratch)
          if (onFrame({ type: 'handshake', ...hs }) === false) return pos
          break
        }
        case State.Header: {
          let frame: Message | null
          if (this.#scratchFill === 0 && end - pos >= 5) {
            // Fast path: the whole header is in this chunk.
            const length = chunk.readUInt32BE(pos)
            if (length === 0) {
              pos += 4
              frame = KEEP_ALIVE
            } else {
              frame = this.#begin(length, chunk[pos + 4])
              pos += 5
            }
          } else {
            this.#scratch[this.#scratchFill++] = chunk[pos++]
            if (this.#scratchFill === 4 && this.#scratch.readUInt32BE(0) === 0) {
              this.#scratchFill = 0
              frame = KEEP_ALIVE
            } else if (this.#scratchFill === 5) {
              this.#scratchFill = 0
              frame = this.#begin(this.#scratch.readUInt32BE(0), this.#scratch[4])
            } else {
              break
            }
          }
          if (frame !== null && onFrame(frame) === false) return pos
          break
        }
        case State.Body: {
          const need = this.#remaining
          let payload: Buffer
          if (this.#body === null && end - pos >= need) {
            payload = chunk.subarray(pos, pos + need) // zero copy
            pos += need
          } else {
            if (this.#body === null) {
              this.#body = Buffer.allocUnsafe(need) // length already checked against its bound
              this.#bodyFill = 0
            }
            const n = Math.min(this.#body.length - this.#bodyFill, end - pos)
            chunk.copy(this.#body, this.#bodyFill, pos, pos + n)
            this.#bodyFill += n
            pos += n
            if (this.#bodyFill < this.#body.length) break
            payload = this.#body
            this.#body = null
          }
          this.#state = State.Header
          const frame = decodeMessage(this.#id, payload)
          if (frame !== null && onFrame(frame) === false) return pos
          break
        }
        case State.Skip: {
          const n = Math.min(this.#remaining, end - pos)
          this.#remaining -= n
          pos += n
          if (this.#remaining === 0) {
            this.#state = State.Header
            this.ignored++
          }
          break
        }
      }
    }
    return pos
  }

  /** Bytes of a partial frame held (for tests and diagnostics). */
  get buffered (): number {
    return this.#state === State.Body && this.#body !== null ? this.#bodyFill : this.#scratchFill
  }
}

const EMPTY = Buffer.alloc(0)

function tooLong (id: number, length: number, max: number): ZentorrentError {
  return new ZentorrentError('MESSAGE_TOO_LONG', `message id ${id} announces ${length} bytes, more than the ${max} allowed`)
}

/** A Transform: bytes in, `Frame` objects out. Hostile input destroys it with the decoder's ZentorrentError. */
export function createFraming (opts: FramingOptions = {}): Transform & { readonly decoder: FrameDecoder } {
  const decoder = new FrameDecoder(opts)
  const stream = new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    transform (this: Transform, chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      try {
        decoder.write(chunk, (frame) => { this.push(frame) })
      } catch (err) {
        cb(err as Error)
        return
      }
      cb()
    }
  })
  return Object.assign(stream, { decoder })
}
