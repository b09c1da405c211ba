/**
 * Fuzzing the Wire state machine (lib/wire/wire.ts): a hostile peer's random stream (valid messages with hostile
 * values, garbage, lying length prefixes, in any chunking), interleaved with what our side does (choke, unchoke,
 * request, serve, cancel, allowed-fast). After every step the Wire is either alive within its bounds (requests it
 * holds, bytes it queues, sets it keeps) or destroyed with a ZentorrentError — it never throws anything else,
 * synchronously or as an 'error'.
 *
 * The Wire is driven synchronously: bytes through `_write` (as a Writable would, an error passed to its callback
 * destroys it), output drained with `read()`, and timers that never fire (time plays no part here).
 */
import t from 'tap'
import { isZentorrentError } from '../lib/errors.js'
import { FRAMING_DEFAULTS } from '../lib/wire/framing.js'
import { encodeHandshake } from '../lib/wire/handshake.js'
import { Wire, WIRE_DEFAULTS } from '../lib/wire/wire.js'
import { fc, fuzz, type Codec } from './helpers/fuzz.js'
import { chunked, peerBytes } from './helpers/fuzz-wire.js'

const INFO_HASH = Buffer.alloc(20, 0xaa)
/** Small bounds, so a short run reaches them. */
const LIMITS = { reqq: 4, maxPeerRequests: 8, maxRefusedRequests: 30, maxRepeatedRequests: 6, maxUnrequestedPieces: 3, maxSendBuffer: 64 * 1024 }

type Ours =
  | { readonly do: 'unchoke' | 'choke' | 'interested' | 'uninterested' | 'serve' | 'keepAlive' }
  | { readonly do: 'request' | 'cancel', readonly index: number, readonly offset: number, readonly length: number }
  | { readonly do: 'have' | 'allowedFast', readonly index: number }

type Step = { readonly peer: Uint8Array, readonly cuts: readonly number[] } | { readonly us: Ours }

interface Session {
  readonly fast: boolean
  readonly extended: boolean
  /** Piece count (null: unknown, as before metadata), piece length. */
  readonly pieceCount: number | null
  readonly pieceLength: number
  readonly steps: readonly Step[]
}

const ours: fc.Arbitrary<Ours> = fc.oneof(
  fc.constantFrom<Ours>({ do: 'unchoke' }, { do: 'choke' }, { do: 'interested' }, { do: 'uninterested' }, { do: 'serve' }, { do: 'keepAlive' }),
  fc.record({ do: fc.constantFrom('request' as const, 'cancel' as const), index: fc.integer({ min: 0, max: 9 }), offset: fc.constantFrom(0, 16, 16384), length: fc.constantFrom(16, 16384) }),
  fc.record({ do: fc.constantFrom('have' as const, 'allowedFast' as const), index: fc.integer({ min: 0, max: 9 }) })
)

const sessions: fc.Arbitrary<Session> = fc.record({
  fast: fc.boolean(),
  extended: fc.boolean(),
  // mostly the shape the in-range messages fit (10 pieces of 32 KiB); sometimes smaller, or not yet known
  pieceCount: fc.integer({ min: -2, max: 16 }).map((n): number | null => n < 0 ? null : n >= 9 ? 10 : n + 1),
  pieceLength: fc.oneof({ weight: 3, arbitrary: fc.constant(32768) }, { weight: 1, arbitrary: fc.constant(16) }),
  steps: fc.array(fc.oneof(
    { weight: 3, arbitrary: fc.record({ peer: peerBytes, cuts: fc.array(fc.nat(), { maxLength: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ us: ours }) }
  ), { maxLength: 40 })
})

const sessionCodec: Codec<Session> = {
  save: (s) => ({ ...s, steps: s.steps.map((step) => 'peer' in step ? { peer: Buffer.from(step.peer).toString('base64'), cuts: step.cuts } : step) }),
  load: (json) => {
    const s = json as Omit<Session, 'steps'> & { steps: Array<{ peer: string, cuts: number[] } | { us: Ours }> }
    return { ...s, steps: s.steps.map((step) => 'peer' in step ? { peer: new Uint8Array(Buffer.from(step.peer, 'base64')), cuts: step.cuts } : step) }
  }
}

/** A clock whose timers never fire (the fuzz drives bytes, not time). */
const NEVER = { now: () => 0, schedule: () => () => {} }

/** How sessions ended, by error code ('alive' when the wire outlived its steps): to see the generator reach them. */
const outcomes = new Map<string, number>()

function check (session: Session): void {
  const shape = session.pieceCount === null ? {} : { pieceCount: session.pieceCount, pieceLength: session.pieceLength }
  const wire = new Wire({ peerId: Buffer.alloc(20, 1), infoHash: INFO_HASH, ...shape, ...LIMITS, clock: NEVER })
  wire.on('error', () => {}) // inspected through wire.errored
  let requested = 0
  const feed = (chunk: Buffer): void => {
    wire._write(chunk, 'buffer' as BufferEncoding, (err) => { if (err !== undefined && err !== null) wire.destroy(err) })
  }
  const drain = (): void => { while (wire.read() !== null) { /* the peer reads everything */ } }
  feed(encodeHandshake({ infoHash: INFO_HASH, peerId: Buffer.alloc(20, 2), fast: session.fast, extended: session.extended }))
  drain()
  for (const step of session.steps) {
    if (wire.destroyed) break
    if ('peer' in step) {
      for (const chunk of chunked(step.peer, step.cuts)) if (!wire.destroyed) feed(chunk)
    } else {
      const act = step.us
      switch (act.do) {
        case 'request': wire.request(act.index, act.offset, act.length); requested++; break
        case 'cancel': wire.cancel(act.index, act.offset, act.length); break
        case 'have': wire.have(act.index); break
        case 'allowedFast': if (wire.supportsFast) wire.allowedFast(act.index); break
        case 'serve': {
          const r = wire.peerRequests.list()[0]
          if (r !== undefined) wire.piece(r.index, r.offset, Buffer.alloc(r.length))
          break
        }
        default: wire[act.do]()
      }
    }
    drain()
    if (wire.destroyed) {
      if (!isZentorrentError(wire.errored)) throw new Error(`destroyed with a non-typed error: ${String(wire.errored)}`)
      outcomes.set(wire.errored.code, (outcomes.get(wire.errored.code) ?? 0) + 1)
      return
    }
    // Alive: every bound holds.
    if (wire.peerRequests.count > LIMITS.maxPeerRequests) throw new Error(`${wire.peerRequests.count} peer requests held`)
    if (wire.requests.count > requested) throw new Error('more requests outstanding than we made')
    if (wire.sendBuffered > LIMITS.maxSendBuffer) throw new Error(`${wire.sendBuffered} bytes queued`)
    if (wire.unrequestedPieces > LIMITS.maxUnrequestedPieces) throw new Error('unrequested blocks past the bound')
    if (wire.peerAllowedFast.size > 1024) throw new Error('allowed-fast set past its bound')
    if (wire.peerPieces.length > (session.pieceCount ?? FRAMING_DEFAULTS.maxBitfieldLength * 8)) throw new Error(`a bitfield of ${wire.peerPieces.length} pieces`)
  }
  outcomes.set('alive', (outcomes.get('alive') ?? 0) + 1)
  wire.destroy()
}

t.test('a hostile peer and our own moves: alive within bounds, or destroyed with a typed error', async (t) => {
  t.ok(WIRE_DEFAULTS.maxPeerRequests > LIMITS.maxPeerRequests, 'the test bounds are smaller than the defaults')
  await fuzz(t, 'wire-session', sessions, sessionCodec, 1500, check)
  t.comment(JSON.stringify(Object.fromEntries(outcomes)))
  t.ok((outcomes.get('alive') ?? 0) > 0 && outcomes.size > 4, 'sessions end alive and in several typed errors')
})
