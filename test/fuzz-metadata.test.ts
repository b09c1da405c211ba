/**
 * Fuzzing BEP 9 metadata exchange (lib/metadata/): the ut_metadata codec, the MetadataFetcher driven by scripted
 * peers, and a MetadataExchange on a real Wire fed a hostile peer's bytes.
 *
 * - decodeMetadataMessage, fed random bytes, generated messages (msg_type, piece, total_size negative, huge, past
 *   2^53, of other types; trailing bytes of any length) and mutations: returns within a deadline with
 *   BAD_METADATA_MESSAGE, null (an unknown msg_type), or the message the bytes hold, every number a safe
 *   non-negative integer and a data message's bytes exactly those after the dictionary.
 * - MetadataFetcher with 1..3 hostile scripted peers (data for any piece, of any length, total_size and content;
 *   rejects; new handshakes with any metadata_size; disconnects; time passing) and sometimes an honest one:
 *   nothing throws; 'metadata' only with bytes whose SHA1 is the info hash; a size over `maxMetadataSize` is
 *   never taken, and no piece past it asked (memory bounded); nobody is asked once dropped, given up or gone; and
 *   once an honest peer is there, the fetch ends with the torrent's metadata (the hostile peers cannot stall it).
 * - A MetadataExchange on a Wire whose peer sends hostile BEP 10 handshakes and ut_metadata messages (fake clock,
 *   bytes through the Wire's parser): nothing but a typed error ends the wire; 'metadata' only when it hashes
 *   right; a seeding exchange answers hostile requests only with pieces that exist, at most maxServedPieces.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { isZentorrentError, type ZentorrentError } from '../lib/errors.js'
import {
  decodeMetadataMessage, encodeMetadataMessage, METADATA_PIECE_LENGTH, metadataPieceCount, metadataPieceLength, type MetadataMessage
} from '../lib/metadata/codec.js'
import { MetadataExchange } from '../lib/metadata/exchange.js'
import type { MetadataPeer, MetadataPeerEvents } from '../lib/metadata/extension.js'
import { MetadataFetcher } from '../lib/metadata/fetcher.js'
import { composeExtendedHandshake, LOCAL_EXTENSION_IDS } from '../lib/wire/extensions.js'
import { FrameDecoder } from '../lib/wire/framing.js'
import { encodeHandshake } from '../lib/wire/handshake.js'
import { encodeMessageToBuffer } from '../lib/wire/messages.js'
import { Wire } from '../lib/wire/wire.js'
import { FakeClock } from './helpers/fake-clock.js'
import { bytesCodec, expectTyped, fc, fuzz, noHang, type Codec } from './helpers/fuzz.js'
import { bvalue, decodeModel, encodeModel, mutate, mutations, type BModel } from './helpers/fuzz-bencode.js'
import { encode, infoFor } from './helpers/torrent-fixtures.js'

/** An info dictionary of 3 metadata pieces (the last one short), and another of the same length. */
const INFO = encode(infoFor('fuzz', [{ path: ['a.bin'], length: 16384 * 1700 }, { path: ['b.txt'], length: 3 }]))
const OTHER = encode(infoFor('fuzx', [{ path: ['a.bin'], length: 16384 * 1700 }, { path: ['b.txt'], length: 3 }]))
const HASH = createHash('sha1').update(INFO).digest()
const PIECES = metadataPieceCount(INFO.length)
const MAX_SIZE = 64 * 1024
const HOSTILE_KEYS = ['__proto__', 'toString', 'valueOf', 'constructor']

const slice = (bytes: Buffer, piece: number): Buffer => bytes.subarray(piece * METADATA_PIECE_LENGTH, (piece + 1) * METADATA_PIECE_LENGTH)

// ---- the codec --------------------------------------------------------------------------------------------

const text = (s: string): BModel => ({ t: 'bytes', v: new Uint8Array(Buffer.from(s)) })
const int = (n: bigint | number): BModel => ({ t: 'int', v: BigInt(n) })
const hostileInt = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 5 }).map(BigInt) },
  { weight: 2, arbitrary: fc.constantFrom(-1n, -(2n ** 31n), 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 64n, 16n * 1024n * 1024n + 1n) },
  { weight: 1, arbitrary: fc.bigInt(-(2n ** 70n), 2n ** 70n) }
).map(int)
const field = (name: string, value: fc.Arbitrary<BModel>): fc.Arbitrary<Array<readonly [string, BModel]>> =>
  fc.option(fc.oneof({ weight: 6, arbitrary: value }, { weight: 1, arbitrary: bvalue }), { freq: 8 }).map((v) => v === null ? [] : [[name, v] as const])

interface Generated {
  readonly entries: ReadonlyArray<readonly [string, BModel]>
  /** Extra keys (any value, nested any depth): no exact expectation then. */
  readonly extra: boolean
  readonly trailing: Uint8Array
  readonly sorted: boolean
}

const generatedMessage: fc.Arbitrary<Generated> = fc.record({
  msgType: field('msg_type', fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0n, 1n, 2n).map(int) }, { weight: 1, arbitrary: hostileInt })),
  piece: field('piece', hostileInt),
  totalSize: field('total_size', hostileInt),
  extra: fc.array(fc.tuple(fc.constantFrom(...HOSTILE_KEYS, 'x', 'ut'), bvalue), { maxLength: 2 }),
  trailing: fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 1, arbitrary: fc.constantFrom(16383, 16384, 16385).map((n) => new Uint8Array(n).fill(7)) }
  ),
  sorted: fc.boolean()
}).map((m): Generated => {
  const keys = new Set<string>()
  const entries = [...m.msgType, ...m.piece, ...m.totalSize, ...m.extra].filter(([k]) => !keys.has(k) && keys.add(k) !== undefined)
  return { entries, extra: m.extra.some(([k]) => entries.some(([j]) => j === k)), trailing: m.trailing, sorted: m.sorted }
})

const dictOf = (entries: ReadonlyArray<readonly [string, BModel]>): BModel => ({ t: 'dict', v: entries.map(([k, v]) => [new Uint8Array(Buffer.from(k)), v] as const) })
const bytesOfGenerated = (g: Generated): Uint8Array => new Uint8Array(Buffer.concat([encodeModel(dictOf(g.entries), g.sorted), Buffer.from(g.trailing)]))

/** What BEP 9 (as lib/metadata/codec.ts documents it) makes of a generated message. */
function expectation (g: Generated): 'error' | 'ignored' | MetadataMessage {
  const get = (key: string): BModel | undefined => g.entries.find(([k]) => k === key)?.[1]
  const uint = (key: string): number | null => {
    const v = get(key)
    if (v?.t !== 'int' || v.v < 0n || v.v > BigInt(Number.MAX_SAFE_INTEGER)) return null
    return Number(v.v)
  }
  // nested past the scan's bound (4: a message needs 1)
  const depth = (v: BModel): number => v.t === 'list' ? 1 + Math.max(0, ...v.v.map(depth)) : v.t === 'dict' ? 1 + Math.max(0, ...v.v.map(([, x]) => depth(x))) : 0
  if (depth(dictOf(g.entries)) > 4) return 'error'
  const type = uint('msg_type')
  if (type === null) return 'error'
  if (type > 2) return 'ignored'
  const piece = uint('piece')
  if (piece === null) return 'error'
  if (type !== 1) return type === 0 ? { type: 'request', piece } : { type: 'reject', piece }
  const totalSize = uint('total_size')
  if (totalSize === null || g.trailing.length === 0) return 'error'
  return { type: 'data', piece, totalSize, data: Buffer.from(g.trailing) }
}

function decodeChecked (bytes: Uint8Array, want: ReturnType<typeof expectation> | null): void {
  const payload = Buffer.from(bytes)
  let msg: MetadataMessage | null
  try {
    msg = noHang(() => decodeMetadataMessage(payload))
  } catch (err) {
    expectTyped(err, ['BAD_METADATA_MESSAGE'])
    if (want !== null && want !== 'error') throw new Error(`refused (${(err as Error).message}); the message is ${typeof want === 'string' ? want : want.type}`)
    return
  }
  if (msg === null) {
    if (want !== null && want !== 'ignored') throw new Error(`ignored; the message is ${typeof want === 'string' ? want : want.type}`)
    return
  }
  if (!Number.isSafeInteger(msg.piece) || msg.piece < 0) throw new Error(`piece ${msg.piece}`)
  if (msg.type === 'data') {
    if (!Number.isSafeInteger(msg.totalSize) || msg.totalSize < 0) throw new Error(`total_size ${msg.totalSize}`)
    if (msg.data.length === 0) throw new Error('a data message without bytes')
    if (msg.data.buffer !== payload.buffer || msg.data.byteOffset + msg.data.length !== payload.byteOffset + payload.length) throw new Error('the data is not the end of the payload')
  }
  if (want === null) return
  if (typeof want === 'string') throw new Error(`decoded a ${msg.type}; the message is ${want}`)
  if (encodeMetadataMessage(msg).compare(encodeMetadataMessage(want)) !== 0) throw new Error(`decoded ${JSON.stringify({ ...msg, data: undefined })}, the message is ${JSON.stringify({ ...want, data: undefined })}`)
}

t.test('the codec: random bytes, generated and mutated messages — a typed error, ignored, or what the bytes say', async (t) => {
  const generatedCodec: Codec<Generated | Uint8Array> = {
    save: (g) => bytesCodec.save(g instanceof Uint8Array ? g : bytesOfGenerated(g)),
    load: (json) => bytesCodec.load(json)
  }
  const check = (input: Generated | Uint8Array): void => {
    if (input instanceof Uint8Array) decodeChecked(input, null)
    else decodeChecked(bytesOfGenerated(input), input.extra ? null : expectation(input))
  }
  await fuzz(t, 'metadata-codec-bytes', fc.uint8Array({ maxLength: 120 }), bytesCodec, 1000, (b) => { decodeChecked(b, null) })
  await fuzz(t, 'metadata-codec-generated', generatedMessage, generatedCodec, 1500, check)
  await fuzz(t, 'metadata-codec-mutated', fc.tuple(generatedMessage, mutations).map(([g, ops]) => mutate(bytesOfGenerated({ ...g, trailing: g.trailing.subarray(0, 30) }), ops)), bytesCodec, 1500, (b) => { decodeChecked(b, null) })
})

// ---- the fetcher, with scripted peers ---------------------------------------------------------------------

/** A size a peer may advertise: the right one, near misses, nothing, past the bound, not a number. */
const advertised = fc.oneof(
  { weight: 4, arbitrary: fc.constant(INFO.length) },
  { weight: 3, arbitrary: fc.constantFrom(INFO.length - 1, INFO.length + 1, 1, 16384, 16385, 0, -1, MAX_SIZE, MAX_SIZE + 1, 2 ** 31, 2 ** 53, Number.NaN) },
  { weight: 1, arbitrary: fc.constant(undefined) }
)

type FetchStep =
  | { readonly peer: number, readonly do: 'data', readonly piece: number | 'asked', readonly totalSize: number | 'own', readonly data: 'right' | 'other' | 'garbage' | 'short' | 'long' | 'empty' }
  | { readonly peer: number, readonly do: 'reject', readonly piece: number | 'asked' }
  | { readonly peer: number, readonly do: 'handshake', readonly size: number | undefined, readonly supports: boolean }
  | { readonly peer: number, readonly do: 'close' }
  | { readonly do: 'advance', readonly ms: number }
  | { readonly do: 'honest' }

interface FetchSession {
  readonly peers: ReadonlyArray<{ readonly size: number | undefined, readonly supports: boolean }>
  readonly honestFirst: boolean
  readonly requestsPerPeer: number
  readonly steps: readonly FetchStep[]
}

const pieceChoice = fc.oneof({ weight: 4, arbitrary: fc.constant('asked' as const) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 2 ** 31) })
const fetchSessions: fc.Arbitrary<FetchSession> = fc.record({
  peers: fc.array(fc.record({ size: advertised, supports: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }), { minLength: 1, maxLength: 3 }),
  honestFirst: fc.boolean(),
  requestsPerPeer: fc.constantFrom(1, 2, 4),
  steps: fc.array(fc.oneof(
    { weight: 8, arbitrary: fc.record({ peer: fc.nat(2), do: fc.constant('data' as const), piece: pieceChoice, totalSize: fc.oneof({ weight: 4, arbitrary: fc.constant('own' as const) }, { weight: 1, arbitrary: fc.constantFrom(INFO.length + 1, 0, MAX_SIZE + 1) }), data: fc.constantFrom('right' as const, 'right' as const, 'other' as const, 'garbage' as const, 'short' as const, 'long' as const, 'empty' as const) }) },
    { weight: 3, arbitrary: fc.record({ peer: fc.nat(2), do: fc.constant('reject' as const), piece: pieceChoice }) },
    { weight: 1, arbitrary: fc.record({ peer: fc.nat(2), do: fc.constant('handshake' as const), size: advertised, supports: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ peer: fc.nat(2), do: fc.constant('close' as const) }) },
    { weight: 2, arbitrary: fc.record({ do: fc.constant('advance' as const), ms: fc.constantFrom(0, 500, 1000, 5000) }) },
    { weight: 1, arbitrary: fc.record({ do: fc.constant('honest' as const) }) }
  ), { maxLength: 40 })
})

const REQUEST_TIMEOUT = 1000

/** A scripted peer: records what it is asked, answers only when a step says so. */
class ScriptedPeer extends EventEmitter<MetadataPeerEvents> implements MetadataPeer {
  readonly label: string
  supportsMetadata: boolean
  metadataSize: number | undefined
  connected = true
  /** Asked and not yet answered by this peer, oldest first. */
  readonly asked: number[] = []
  droppedWith: ZentorrentError | null = null
  givenUp = false
  readonly violations: string[] = []

  constructor (label: string, size: number | undefined, supports: boolean) {
    super()
    this.label = label
    this.metadataSize = size
    this.supportsMetadata = supports
  }

  request (piece: number): void {
    if (!this.connected || this.givenUp) this.violations.push(`${this.label} asked for piece ${piece} after it was ${this.givenUp ? 'given up' : 'dropped or gone'}`)
    const size = this.metadataSize
    if (!this.supportsMetadata || size === undefined || !Number.isSafeInteger(size) || size < 1 || size > MAX_SIZE) {
      this.violations.push(`${this.label} asked for piece ${piece} though it offers ${String(size)} bytes`)
    } else if (!Number.isSafeInteger(piece) || piece < 0 || piece >= metadataPieceCount(size)) {
      this.violations.push(`${this.label} asked for piece ${piece} of ${size} bytes`)
    }
    this.asked.push(piece)
  }

  drop (err: ZentorrentError): void {
    this.droppedWith = err
    this.connected = false
    this.emit('close')
  }

  /** Take `piece` (or the oldest asked) off the asked list; null when nothing is asked. */
  take (piece: number | 'asked'): number | null {
    if (piece !== 'asked') {
      const at = this.asked.indexOf(piece)
      if (at >= 0) this.asked.splice(at, 1)
      return piece
    }
    return this.asked.shift() ?? null
  }
}

function pieceData (kind: 'right' | 'other' | 'garbage' | 'short' | 'long' | 'empty', piece: number): Buffer {
  const right = slice(INFO, piece)
  switch (kind) {
    case 'right': return right
    case 'other': return slice(OTHER, piece)
    case 'garbage': return Buffer.alloc(right.length, 0x5a)
    case 'short': return right.subarray(0, Math.max(0, right.length - 1))
    case 'long': return Buffer.concat([right, Buffer.alloc(1)])
    case 'empty': return Buffer.alloc(0)
  }
}

const fetchCodec: Codec<FetchSession> = {
  save: (s) => ({ ...s, peers: s.peers.map((p) => ({ ...p, size: p.size === undefined ? 'none' : Number.isNaN(p.size) ? 'NaN' : p.size })), steps: s.steps.map((st) => 'size' in st ? { ...st, size: st.size === undefined ? 'none' : Number.isNaN(st.size) ? 'NaN' : st.size } : st) }),
  load: (json) => {
    const size = (v: unknown): number | undefined => v === 'none' ? undefined : v === 'NaN' ? Number.NaN : v as number
    const s = json as FetchSession
    return { ...s, peers: s.peers.map((p) => ({ ...p, size: size(p.size) })), steps: s.steps.map((st) => 'size' in st ? { ...st, size: size(st.size) } : st) }
  }
}

const fetchOutcomes = new Map<string, number>()

function runFetch (session: FetchSession): void {
  const clock = new FakeClock()
  const fetcher = new MetadataFetcher({ infoHash: HASH, clock, maxMetadataSize: MAX_SIZE, requestTimeout: REQUEST_TIMEOUT, requestsPerPeer: session.requestsPerPeer })
  const delivered: Buffer[] = []
  const errors: ZentorrentError[] = []
  fetcher.on('metadata', (meta) => { delivered.push(meta.infoBytes) })
  fetcher.on('error', (err) => { errors.push(err) })
  fetcher.on('peer-given-up', (peer) => { (peer as ScriptedPeer).givenUp = true })
  const peers = session.peers.map((p, i) => new ScriptedPeer(`H${i}`, p.size, p.supports))
  let honest: ScriptedPeer | null = null
  const addHonest = (): void => {
    if (honest !== null) return
    honest = new ScriptedPeer('honest', INFO.length, true)
    fetcher.add(honest)
  }
  /** The honest peer answers whatever it was asked, in order. */
  const serveHonest = (): void => {
    for (let guard = 0; honest !== null && honest.connected && honest.asked.length > 0 && guard < 100; guard++) {
      const piece = honest.asked.shift()!
      honest.emit('data', piece, INFO.length, slice(INFO, piece))
    }
  }
  const check = (): void => {
    for (const p of [...peers, ...(honest !== null ? [honest] : [])]) if (p.violations.length > 0) throw new Error(p.violations[0])
    for (const bytes of delivered) if (!createHash('sha1').update(bytes).digest().equals(HASH)) throw new Error('metadata delivered whose SHA1 is not the info hash')
    if (delivered.length > 1) throw new Error('metadata delivered twice')
    const stats = fetcher.stats()
    if (stats.size !== null && (stats.size < 1 || stats.size > MAX_SIZE)) throw new Error(`an attempt at ${stats.size} bytes (bound ${MAX_SIZE})`)
    if (stats.pieces !== (stats.size === null ? 0 : metadataPieceCount(stats.size)) || stats.piecesHave > stats.pieces) throw new Error(`stats ${JSON.stringify(stats)}`)
    if (honest?.droppedWith != null) throw new Error(`the honest peer was dropped: ${honest.droppedWith.message}`)
    if (honest?.givenUp === true) throw new Error('the honest peer was given up on')
    if (errors.length > 0) throw new Error(`the fetch ended with ${errors[0]!.code}: the torrent is valid`)
  }
  /** Time passes; the honest peer answers within 100 ms of being asked, as a live one would. */
  const passTime = (ms: number): void => {
    for (let left = ms; left > 0 && !fetcher.done; left -= 100) {
      serveHonest()
      clock.advance(Math.min(100, left))
    }
  }
  if (session.honestFirst) addHonest()
  for (const p of peers) fetcher.add(p)
  serveHonest()
  for (const step of session.steps) {
    if (fetcher.done) break
    if (step.do === 'advance') passTime(step.ms)
    else if (step.do === 'honest') addHonest()
    else {
      const p = peers[step.peer % peers.length]!
      if (!p.connected) continue
      if (step.do === 'close') {
        p.connected = false
        p.emit('close')
      } else if (step.do === 'handshake') {
        p.metadataSize = step.size
        p.supportsMetadata = step.supports
        p.emit('handshake')
      } else {
        const piece = p.take(step.piece)
        if (piece === null) continue
        if (step.do === 'reject') p.emit('reject', piece)
        else {
          const size = p.metadataSize
          const source = p.supportsMetadata && size !== undefined && Number.isSafeInteger(size) && size >= 1 && size <= MAX_SIZE && !p.givenUp && !fetcher.done
          const totalSize = step.totalSize === 'own' ? (size ?? INFO.length) : step.totalSize
          const data = pieceData(step.data, piece)
          p.emit('data', piece, totalSize, data)
          // BEP 9 as the fetcher reads it: a source's data of another total_size, for no piece of its size, or of
          // the wrong length drops it
          const violation = source && (totalSize !== size || piece >= metadataPieceCount(size) || data.length !== metadataPieceLength(size, piece))
          if (violation && p.droppedWith?.code !== 'BAD_METADATA_PIECE') throw new Error(`${p.label} sent data for piece ${piece} (${data.length} bytes, total_size ${totalSize}) against its ${size} bytes, and was not dropped (${p.droppedWith?.code ?? 'kept'})`)
        }
      }
    }
    serveHonest()
    check()
  }
  // Liveness: with an honest peer there and time passing, the hostile ones cannot keep the metadata from us.
  addHonest()
  for (let round = 0; round < 50 && !fetcher.done; round++) passTime(REQUEST_TIMEOUT)
  serveHonest()
  check()
  if (delivered.length !== 1 || !delivered[0]!.equals(INFO)) throw new Error(`no metadata after 50 rounds with an honest peer (stats ${JSON.stringify(fetcher.stats())})`)
  const outcome = peers.some((p) => p.droppedWith !== null) ? 'a liar dropped' : peers.some((p) => p.givenUp) ? 'a peer given up' : 'completed'
  fetchOutcomes.set(outcome, (fetchOutcomes.get(outcome) ?? 0) + 1)
  fetcher.destroy()
}

t.test('the fetcher and hostile peers: the right metadata or none, the size bound kept, never stalled by them', async (t) => {
  t.equal(PIECES, 3, 'the fixture has 3 metadata pieces')
  await fuzz(t, 'metadata-fetcher', fetchSessions, fetchCodec, 600, (s) => { noHang(() => { runFetch(s) }) })
  t.comment(JSON.stringify(Object.fromEntries(fetchOutcomes)))
  t.ok(fetchOutcomes.size >= 3, 'sessions end with liars dropped, peers given up, and plain completions')
})

// ---- an exchange on a real Wire ---------------------------------------------------------------------------

type WireStep =
  /** A BEP 10 handshake (its bencoded payload). */
  | { readonly handshake: Uint8Array }
  /** A ut_metadata message to our id. */
  | { readonly metadata: Uint8Array }
  /** Fetching: the right data for the piece we asked (or another). Seeding: a request for it. */
  | { readonly serve: 'asked' | number }
  | { readonly advance: number }

interface WireSession {
  /** The peer's id for ut_metadata in its first handshake (0: none). */
  readonly peerId: number
  readonly size: BModel | null
  /** We seed (and the peer asks) rather than fetch. */
  readonly seeding: boolean
  readonly steps: readonly WireStep[]
}

const metadataSizeValue = fc.oneof(
  { weight: 5, arbitrary: fc.constant(int(INFO.length)) },
  { weight: 2, arbitrary: fc.constantFrom(0, -1, 1, INFO.length + 1, 16 * 1024 * 1024 + 1).map(int) },
  { weight: 1, arbitrary: hostileInt },
  { weight: 1, arbitrary: bvalue }
)
const handshakeModel = fc.record({
  id: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1n, 3n, 200n) }, { weight: 1, arbitrary: fc.constantFrom(0n, -1n, 256n, 2n ** 53n) }),
  size: fc.option(metadataSizeValue, { freq: 6 }),
  extra: fc.array(fc.tuple(fc.constantFrom(...HOSTILE_KEYS, 'v', 'p', 'reqq', 'yourip'), bvalue), { maxLength: 2 })
}).map(({ id, size, extra }): BModel => {
  const entries: Array<readonly [string, BModel]> = [['m', dictOf([['ut_metadata', int(id)], ['ut_pex', int(1)]])]]
  if (size !== null) entries.push(['metadata_size', size])
  for (const [k, v] of extra) if (!entries.some(([j]) => j === k)) entries.push([k, v])
  return dictOf(entries)
})
const handshakePayload = fc.oneof(
  { weight: 3, arbitrary: handshakeModel.map((m) => new Uint8Array(encodeModel(m, true))) },
  { weight: 2, arbitrary: fc.tuple(handshakeModel, mutations).map(([m, ops]) => mutate(encodeModel(m, true), ops)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }) }
)
const metadataPayload = fc.oneof(
  { weight: 2, arbitrary: generatedMessage.map((g) => bytesOfGenerated({ ...g, trailing: g.trailing.subarray(0, 40) })) },
  { weight: 1, arbitrary: fc.tuple(generatedMessage, mutations).map(([g, ops]) => mutate(bytesOfGenerated({ ...g, trailing: g.trailing.subarray(0, 30) }), ops)) },
  { weight: 5, arbitrary: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.nat()).map((piece) => new Uint8Array(encodeMetadataMessage({ type: 'request', piece }))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }) }
)

const wireSessions: fc.Arbitrary<WireSession> = fc.record({
  peerId: fc.constantFrom(0, 1, 3, 3, 3),
  size: fc.option(metadataSizeValue, { freq: 6 }),
  seeding: fc.boolean(),
  steps: fc.array(fc.oneof(
    { weight: 2, arbitrary: fc.record({ handshake: handshakePayload }) },
    { weight: 3, arbitrary: fc.record({ metadata: metadataPayload }) },
    { weight: 5, arbitrary: fc.record({ serve: fc.oneof({ weight: 4, arbitrary: fc.constant('asked' as const) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 3) }) }) },
    { weight: 1, arbitrary: fc.record({ advance: fc.constantFrom(0, 5000, 10_000, 30_000) }) }
  ), { maxLength: 25 })
})

const wireCodec: Codec<WireSession> = {
  save: (s) => ({
    ...s,
    size: s.size === null ? null : bytesCodec.save(encodeModel(s.size)),
    steps: s.steps.map((st) => 'handshake' in st ? { handshake: bytesCodec.save(st.handshake) } : 'metadata' in st ? { metadata: bytesCodec.save(st.metadata) } : st)
  }),
  load: (json) => {
    const s = json as Omit<WireSession, 'size' | 'steps'> & { size: string | null, steps: Array<Record<string, unknown>> }
    return {
      ...s,
      size: s.size === null ? null : decodeModel(bytesCodec.load(s.size)),
      steps: s.steps.map((st): WireStep => 'handshake' in st ? { handshake: bytesCodec.load(st.handshake) } : 'metadata' in st ? { metadata: bytesCodec.load(st.metadata) } : st as WireStep)
    }
  }
}

/** The first BEP 10 handshake of the peer: ut_metadata under `peerId`, `metadata_size` as given. */
function firstHandshake (session: WireSession): Buffer {
  const head = Buffer.from(`d1:md11:ut_metadatai${session.peerId}e6:ut_pexi1ee`)
  if (session.size === null) return Buffer.concat([head, Buffer.from('e')])
  return Buffer.concat([head, Buffer.from('13:metadata_size'), encodeModel(session.size), Buffer.from('e')])
}

const wireOutcomes = new Map<string, number>()
const MAX_SERVED = 2

async function runWire (session: WireSession): Promise<void> {
  const clock = new FakeClock()
  const exchange = new MetadataExchange({ infoHash: HASH, clock, maxMetadataSize: MAX_SIZE, ...(session.seeding ? { infoBytes: INFO, maxServedPieces: MAX_SERVED } : {}) })
  const delivered: Buffer[] = []
  const errors: unknown[] = []
  exchange.on('metadata', (meta) => { delivered.push(meta.infoBytes) })
  exchange.on('error', (err) => { errors.push(err) })
  const wire = new Wire({ peerId: Buffer.alloc(20, 1), infoHash: HASH, clock })
  wire.on('error', () => {}) // inspected through wire.errored
  wire.once('handshake', () => {
    wire.extendedHandshake(composeExtendedHandshake([exchange.handshakePart()]))
    exchange.attach(wire, 'peer')
  })
  // what our side sends, decoded: the peer's view
  const decoder = new FrameDecoder({ handshake: true, maxBlockLength: 1 << 20 })
  const asked: number[] = []
  let served = 0
  const drain = (): void => {
    let chunk: Buffer | null
    while ((chunk = wire.read() as Buffer | null) !== null) {
      decoder.write(chunk, (frame) => {
        if (frame.type !== 'extended' || frame.id === 0) return
        const msg = decodeMetadataMessage(frame.payload) // ours: always well-formed
        if (msg?.type === 'request') asked.push(msg.piece)
        if (msg?.type === 'data') {
          served++
          // a leecher serves what it has just fetched (and verified), not before
          if (!session.seeding && delivered.length === 0) throw new Error('served metadata we do not have')
          if (msg.piece >= PIECES || !msg.data.equals(slice(INFO, msg.piece)) || msg.totalSize !== INFO.length) throw new Error(`served piece ${msg.piece} wrongly`)
        }
      })
    }
  }
  // the parsing is synchronous (and bounded in time here); what our side sends leaves on the next tick
  const feed = (bytes: Buffer): void => {
    noHang(() => { wire._write(bytes, 'buffer' as BufferEncoding, (err) => { if (err !== undefined && err !== null) wire.destroy(err) }) })
  }
  const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }
  const extended = (id: number, payload: Uint8Array): Buffer => encodeMessageToBuffer({ type: 'extended', id, payload: Buffer.from(payload) })
  feed(encodeHandshake({ infoHash: HASH, peerId: Buffer.alloc(20, 2), fast: true, extended: true }))
  feed(extended(0, firstHandshake(session)))
  await tick()
  drain()
  for (const step of session.steps) {
    if (wire.destroyed) break
    if ('advance' in step) clock.advance(step.advance)
    else if ('handshake' in step) feed(extended(0, step.handshake))
    else if ('metadata' in step) feed(extended(LOCAL_EXTENSION_IDS.ut_metadata, step.metadata))
    else if (session.seeding) {
      // a seeder is the one asked: the peer requests a piece (any it likes)
      feed(extended(LOCAL_EXTENSION_IDS.ut_metadata, encodeMetadataMessage({ type: 'request', piece: step.serve === 'asked' ? 0 : step.serve })))
    } else {
      const piece = step.serve === 'asked' ? asked.shift() : step.serve
      if (piece !== undefined) feed(extended(LOCAL_EXTENSION_IDS.ut_metadata, encodeMetadataMessage(piece < PIECES ? { type: 'data', piece, totalSize: INFO.length, data: slice(INFO, piece) } : { type: 'reject', piece })))
    }
    await tick()
    drain()
    for (const bytes of delivered) if (!createHash('sha1').update(bytes).digest().equals(HASH)) throw new Error('metadata delivered whose SHA1 is not the info hash')
    if (session.seeding && served > MAX_SERVED) throw new Error(`${served} pieces served, more than maxServedPieces ${MAX_SERVED}`)
    for (const err of errors) if (!isZentorrentError(err)) throw new Error(`the exchange emitted a non-typed error: ${String(err)}`)
  }
  if (wire.destroyed && wire.errored !== null && !isZentorrentError(wire.errored)) throw new Error(`the wire was destroyed with a non-typed error: ${String(wire.errored)}`)
  const end = delivered.length > 0 ? 'metadata' : wire.destroyed ? (wire.errored as { code?: string } | null)?.code ?? 'destroyed' : 'alive'
  for (const key of [end, ...(served > 0 ? ['served'] : [])]) wireOutcomes.set(key, (wireOutcomes.get(key) ?? 0) + 1)
  exchange.destroy()
  wire.destroy()
}

t.test('an exchange on a Wire and a hostile peer: typed errors only, verified metadata only, bounded serving', async (t) => {
  await fuzz(t, 'metadata-wire', wireSessions, wireCodec, 500, runWire)
  t.comment(JSON.stringify(Object.fromEntries(wireOutcomes)))
  t.ok((wireOutcomes.get('metadata') ?? 0) > 0 && (wireOutcomes.get('served') ?? 0) > 0, 'sessions fetch the metadata and serve it')
})
