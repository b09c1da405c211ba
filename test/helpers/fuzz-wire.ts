/** Arbitraries for the framing and Wire fuzz tests: peer-wire messages, valid and hostile, and chunkings. */
import { encodeMessageToBuffer, type Message } from '../../lib/wire/messages.js'
import { fc } from './fuzz.js'

const u32 = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(0xffffffff, 0x7fffffff, 16384, 32768), fc.nat())
const blockRequest = fc.record({ index: u32, offset: u32, length: fc.oneof(fc.integer({ min: 0, max: 16384 }), u32) })

/** Any message the codec can encode, with values a hostile peer would choose (out of range, zero, huge). */
export const message: fc.Arbitrary<Message> = fc.oneof(
  fc.constantFrom<Message>({ type: 'keep-alive' }, { type: 'choke' }, { type: 'unchoke' }, { type: 'interested' },
    { type: 'not-interested' }, { type: 'have-all' }, { type: 'have-none' }),
  u32.map((index): Message => ({ type: 'have', index })),
  u32.map((index): Message => ({ type: 'suggest', index })),
  u32.map((index): Message => ({ type: 'allowed-fast', index })),
  fc.integer({ min: 0, max: 65535 }).map((port): Message => ({ type: 'port', port })),
  fc.uint8Array({ maxLength: 8 }).map((bits): Message => ({ type: 'bitfield', bitfield: Buffer.from(bits) })),
  blockRequest.map((r): Message => ({ type: 'request', ...r })),
  blockRequest.map((r): Message => ({ type: 'cancel', ...r })),
  blockRequest.map((r): Message => ({ type: 'reject', ...r })),
  fc.record({ index: u32, offset: u32, data: fc.uint8Array({ maxLength: 64 }) }).map((p): Message => ({ type: 'piece', ...p, data: Buffer.from(p.data) })),
  fc.record({ id: fc.integer({ min: 0, max: 255 }), payload: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(Buffer.from('d1:md6:ut_pexi1ee4:reqqi3ee')))) })
    .map((e): Message => ({ type: 'extended', id: e.id, payload: Buffer.from(e.payload) }))
)

/**
 * Messages that pass the Wire's checks for a torrent of up to 10 pieces of 32 KiB (16-byte blocks at small
 * offsets), so a session gets past validation and into the request queue, floods and unrequested blocks.
 */
const inRange = fc.record({ index: fc.integer({ min: 0, max: 9 }), offset: fc.integer({ min: 0, max: 12 }).map((n) => n * 16) })
export const plausible: fc.Arbitrary<Message> = fc.oneof(
  { weight: 8, arbitrary: inRange.map((r): Message => ({ type: 'request', ...r, length: 16 })) },
  { weight: 2, arbitrary: inRange.map((r): Message => ({ type: 'cancel', ...r, length: 16 })) },
  { weight: 2, arbitrary: inRange.map((r): Message => ({ type: 'piece', ...r, data: Buffer.alloc(16, 7) })) },
  { weight: 2, arbitrary: inRange.map((r): Message => ({ type: 'have', index: r.index })) },
  { weight: 1, arbitrary: inRange.map((r): Message => ({ type: 'reject', ...r, length: 16 })) },
  { weight: 1, arbitrary: inRange.map((r): Message => ({ type: 'allowed-fast', index: r.index })) },
  { weight: 2, arbitrary: fc.constantFrom<Message>({ type: 'unchoke' }, { type: 'choke' }, { type: 'interested' }, { type: 'have-all' }, { type: 'keep-alive' }) }
)

/** Encoded messages, or raw bytes: what a hostile peer writes. */
export const peerBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: message.map((m) => new Uint8Array(encodeMessageToBuffer(m))) },
  // a burst of in-range messages (a flood of requests, a run of unrequested blocks)
  { weight: 6, arbitrary: fc.array(plausible, { minLength: 1, maxLength: 40 }).map((ms) => new Uint8Array(Buffer.concat(ms.map((m) => encodeMessageToBuffer(m))))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }) },
  // a flood: many distinct in-range requests at once
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 90 }).map((n) => new Uint8Array(Buffer.concat(Array.from({ length: n }, (_, i) =>
    encodeMessageToBuffer({ type: 'request', index: i % 10, offset: Math.floor(i / 10) * 16, length: 16 }))))) },
  // a length prefix with an id and nothing (or little) after it
  { weight: 1, arbitrary: fc.tuple(u32, fc.integer({ min: 0, max: 255 })).map(([length, id]) => {
    const out = Buffer.alloc(5)
    out.writeUInt32BE(length >>> 0, 0)
    out[4] = id
    return new Uint8Array(out)
  }) }
)

/** Cut `bytes` at the given points (each taken modulo the length): the same stream in other chunks. */
export function chunked (bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => bytes.length === 0 ? 0 : c % bytes.length))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let from = 0
  for (const at of points) {
    if (at > from) out.push(Buffer.from(bytes.subarray(from, at)))
    from = Math.max(from, at)
  }
  if (from < bytes.length) out.push(Buffer.from(bytes.subarray(from)))
  return out
}
