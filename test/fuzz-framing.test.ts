/**
 * Fuzzing the frame decoder (lib/wire/framing.ts): a valid stream decodes to the same frames whatever its chunking;
 * any stream (hostile lengths, unknown ids, garbage) gives frames within their bounds until, at worst, a
 * ZentorrentError — never another exception.
 */
import t from 'tap'
import { FrameDecoder, FRAMING_DEFAULTS, type Frame } from '../lib/wire/framing.js'
import { encodeHandshake } from '../lib/wire/handshake.js'
import { encodeMessageToBuffer, type Message } from '../lib/wire/messages.js'
import { expectTyped, fc, fuzz, type Codec } from './helpers/fuzz.js'
import { chunked, message, peerBytes } from './helpers/fuzz-wire.js'

const FRAMING_CODES = ['BAD_HANDSHAKE', 'MESSAGE_TOO_LONG', 'BAD_MESSAGE', 'BAD_BITFIELD']
const MAX_BLOCK = 16384

function describe (frame: Frame): string {
  if (frame.type === 'handshake') return `handshake:${frame.infoHash.toString('hex')}:${frame.peerId.toString('hex')}:${String(frame.fast)}${String(frame.extended)}`
  return encodeMessageToBuffer(frame).toString('hex')
}

/** Every frame of `chunks`, or the typed error that stopped the decoder (checked), with the frames before it. */
function decodeAll (chunks: readonly Buffer[], options: { handshake: boolean, pieceCount?: number }): { frames: string[], error: unknown } {
  const decoder = new FrameDecoder({ ...options, maxBlockLength: MAX_BLOCK })
  const frames: string[] = []
  try {
    for (const chunk of chunks) {
      decoder.write(chunk, (frame) => {
        if (frame.type === 'piece' && frame.data.length > MAX_BLOCK) throw new Error(`a piece of ${frame.data.length} bytes`)
        if (frame.type === 'extended' && frame.payload.length > FRAMING_DEFAULTS.maxExtendedLength) throw new Error('an extended payload past its bound')
        if (frame.type === 'bitfield' && frame.bitfield.length > (options.pieceCount === undefined ? FRAMING_DEFAULTS.maxBitfieldLength : Math.ceil(options.pieceCount / 8))) {
          throw new Error(`a bitfield of ${frame.bitfield.length} bytes`)
        }
        frames.push(describe(frame))
      })
    }
    return { frames, error: null }
  } catch (err) {
    expectTyped(err, FRAMING_CODES)
    return { frames, error: err }
  }
}

interface Stream { readonly bytes: Uint8Array, readonly cuts: readonly number[], readonly handshake: boolean, readonly pieceCount: number | null }
const streamCodec: Codec<Stream> = {
  save: (s) => ({ ...s, bytes: Buffer.from(s.bytes).toString('base64') }),
  load: (json) => { const s = json as Stream & { bytes: string }; return { ...s, bytes: new Uint8Array(Buffer.from(s.bytes, 'base64')) } }
}

const HANDSHAKE = encodeHandshake({ infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 2), fast: true, extended: true })

t.test('any stream in any chunking: frames within their bounds, then at worst a typed error; chunking changes nothing', async (t) => {
  const streams = fc.record({
    parts: fc.array(peerBytes, { maxLength: 12 }),
    cuts: fc.array(fc.nat(), { maxLength: 10 }),
    handshake: fc.boolean(),
    pieceCount: fc.option(fc.integer({ min: 1, max: 64 }))
  }).map(({ parts, cuts, handshake, pieceCount }): Stream => ({
    bytes: new Uint8Array(Buffer.concat([...(handshake ? [HANDSHAKE] : []), ...parts.map((p) => Buffer.from(p))])),
    cuts,
    handshake,
    pieceCount
  }))
  await fuzz(t, 'framing-stream', streams, streamCodec, 1500, ({ bytes, cuts, handshake, pieceCount }) => {
    const options = { handshake, ...(pieceCount !== null ? { pieceCount } : {}) }
    const whole = decodeAll([Buffer.from(bytes)], options)
    const pieces = decodeAll(chunked(bytes, cuts), options)
    const bytewise = decodeAll([...bytes].map((b) => Buffer.from([b])), options)
    for (const [what, other] of [['chunked', pieces], ['byte by byte', bytewise]] as const) {
      if (JSON.stringify(other.frames) !== JSON.stringify(whole.frames)) throw new Error(`${what}: other frames`)
      if ((other.error === null) !== (whole.error === null)) throw new Error(`${what}: ${String(other.error)} vs ${String(whole.error)}`)
    }
  })
})

t.test('valid messages round-trip: encoded, chunked, decoded to the same messages', async (t) => {
  const valid = message.filter((m) => m.type !== 'bitfield' && (m.type !== 'piece' || m.data.length <= MAX_BLOCK))
  const streams = fc.record({ messages: fc.array(valid, { maxLength: 20 }), cuts: fc.array(fc.nat(), { maxLength: 10 }) })
    .map(({ messages, cuts }): Stream => ({ bytes: new Uint8Array(Buffer.concat(messages.map((m: Message) => encodeMessageToBuffer(m)))), cuts, handshake: false, pieceCount: null }))
  await fuzz(t, 'framing-valid', streams, streamCodec, 1000, ({ bytes, cuts }) => {
    const result = decodeAll(chunked(bytes, cuts), { handshake: false })
    if (result.error !== null) throw new Error(`a valid stream was refused: ${String(result.error)}`)
    if (Buffer.from(result.frames.join(''), 'hex').compare(Buffer.from(bytes)) !== 0) throw new Error('frames re-encode to other bytes')
  })
})
