/**
 * Fuzzing the MSE handshake (lib/wire/mse/): both state machines against a model of the spec, and the socket
 * driver under the fake clock. Beyond test/mse-handshake.test.ts's table: fast-check picks every field.
 *
 * - The responder fed what an initiator that knows the DH secret sends, with any field wrong: a key outside 2..P-2,
 *   PadA of 0..600 bytes, a wrong req1, an SKEY of another torrent, a VC that does not decrypt to zero, any
 *   crypto_provide, PadC of any announced length, IA of any length, payload behind — in any chunking. The model
 *   of the spec says what happens and at which byte: the machine fails with that code exactly when the deciding
 *   byte arrives (so the 512-byte padding limits and the sync-marker windows are where the spec puts them), or
 *   completes there with the method, torrent, IA and rest the bytes say, or keeps waiting if the bytes stop first.
 * - The initiator fed what a responder sends, likewise (PadB, the encrypted VC, crypto_select, PadD).
 * - Both fed random bytes: a typed error by the end of the sync window at the latest.
 * - Memory: across all of it, what a machine keeps between two chunks is at most the field it waits for (the
 *   sync window, PadC, or the IA the peer announced) — a peer cannot make it buffer more.
 * - mseRespond / mseInitiate on a stream, fed any of those byte streams and then silence or an end: the promise
 *   settles — a connection, or a typed error (MSE_TIMEOUT once the fake clock passes timeoutMs) — and a failed
 *   socket is destroyed.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { Duplex } from 'node:stream'
import { isZentorrentError } from '../lib/errors.js'
import { ByteQueue } from '../lib/wire/mse/byte-queue.js'
import {
  createRc4, CRYPTO_PLAINTEXT, CRYPTO_RC4, deriveKeys, DH_KEY_LENGTH, MAX_PADDING, mseHash, mseInitiate, MseInitiator, MseKeyPair,
  mseRespond, MseResponder, MSE_PRIME, RC4_DISCARD, SkeyIndex, type HandshakeResult, type MseMethod
} from '../lib/wire/mse/index.js'
import { FakeClock } from './helpers/fake-clock.js'
import { fc, fuzz, noHang, type Codec } from './helpers/fuzz.js'
import { chunked } from './helpers/fuzz-wire.js'
import { seededRandomBytes } from './helpers/mse.js'

const INFO_HASH = createHash('sha1').update('a torrent').digest()
const OTHER_HASH = createHash('sha1').update('another torrent').digest()
const VC_LENGTH = 8
const SYNC_REQ1 = MAX_PADDING + 20 // the responder looks for HASH('req1', S) this far past Ya
const SYNC_VC = MAX_PADDING + VC_LENGTH // the initiator looks for ENCRYPT(VC) this far past Yb
const BITS: Record<MseMethod, number> = { rc4: CRYPTO_RC4, plaintext: CRYPTO_PLAINTEXT }

// ---- what a machine keeps between chunks ------------------------------------------------------------------

/** The most a ByteQueue held when a chunk arrived (what its machine kept from earlier chunks). */
let kept = 0
const push = ByteQueue.prototype.push
ByteQueue.prototype.push = function (this: ByteQueue, chunk: Buffer): void {
  kept = Math.max(kept, this.length)
  push.call(this, chunk)
}
t.teardown(() => { ByteQueue.prototype.push = push })

// ---- keys ---------------------------------------------------------------------------------------------------

type KeyKind = 'valid' | 'zero' | 'one' | 'p-1' | 'p' | 'ones'
const keyKind = fc.oneof({ weight: 12, arbitrary: fc.constant<KeyKind>('valid') }, { weight: 1, arbitrary: fc.constantFrom<KeyKind>('zero', 'one', 'p-1', 'p', 'ones') })
function badKey (kind: Exclude<KeyKind, 'valid'>): Buffer {
  const k = Buffer.alloc(DH_KEY_LENGTH)
  if (kind === 'one') k[95] = 1
  if (kind === 'p') MSE_PRIME.copy(k)
  if (kind === 'p-1') { MSE_PRIME.copy(k); k[95] = k[95]! - 1 }
  if (kind === 'ones') k.fill(0xff)
  return k
}

const padLength = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 64 }) }, { weight: 2, arbitrary: fc.constantFrom(MAX_PADDING - 1, MAX_PADDING, MAX_PADDING + 1) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 600 }) })
const padField = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 32 }) }, { weight: 2, arbitrary: fc.constantFrom(MAX_PADDING, MAX_PADDING + 1, 0xffff) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) })
const methodLists = fc.constantFrom<MseMethod[]>(['rc4', 'plaintext'], ['plaintext', 'rc4'], ['rc4'], ['plaintext'])
const cuts = fc.oneof({ weight: 3, arbitrary: fc.array(fc.nat(), { maxLength: 12 }) }, { weight: 1, arbitrary: fc.constant('bytes' as const) })

function pieces (bytes: Buffer, how: readonly number[] | 'bytes'): Buffer[] {
  return how === 'bytes' ? [...bytes].map((b) => Buffer.from([b])) : chunked(bytes, how)
}

/** What the model of the spec says: an error code or completion at byte `at` of the stream, or waiting. */
type Verdict = { kind: 'error', code: string, at: number } | { kind: 'done', at: number } | { kind: 'waiting' }
/** How cases ended, per property: to see the generators reach every verdict. */
const tallies = new Map<string, Map<string, number>>()
function tally (what: string, key: string): void {
  const m = tallies.get(what) ?? new Map<string, number>()
  tallies.set(what, m)
  m.set(key, (m.get(key) ?? 0) + 1)
}
const keyOf = (v: Verdict): string => v.kind === 'error' ? v.code : v.kind

const decide = (v: Verdict, length: number): Verdict => v.kind !== 'waiting' && v.at > length ? { kind: 'waiting' } : v

// ---- the responder, against an initiator that knows the secret --------------------------------------------

interface InitiatorSide {
  readonly seed: number
  readonly responderMethods: readonly MseMethod[]
  readonly key: KeyKind
  readonly attackerKey: Uint8Array
  readonly padA: number
  readonly req1Wrong: boolean
  readonly otherTorrent: boolean
  readonly vcFlip: boolean
  readonly provide: number
  readonly padC: number
  readonly ia: number
  readonly trailing: Uint8Array
  /** Stop after this many bytes (null: the whole stream). */
  readonly cutAt: number | null
  readonly cuts: readonly number[] | 'bytes'
}

const initiatorSides: fc.Arbitrary<InitiatorSide> = fc.record({
  seed: fc.nat(),
  responderMethods: methodLists,
  key: keyKind,
  attackerKey: fc.uint8Array({ minLength: 20, maxLength: 20 }).filter((k) => k.some((b) => b !== 0)),
  padA: padLength,
  req1Wrong: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  otherTorrent: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  vcFlip: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  provide: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 2, 3) }, { weight: 1, arbitrary: fc.constantFrom(0, 4, 0xfffffffc) }, { weight: 1, arbitrary: fc.nat() }),
  padC: padField,
  ia: fc.oneof({ weight: 16, arbitrary: fc.integer({ min: 0, max: 100 }) }, { weight: 1, arbitrary: fc.constant(68) }, { weight: 1, arbitrary: fc.constant(0xffff) }),
  trailing: fc.uint8Array({ maxLength: 40 }),
  cutAt: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
  cuts
})

/** The initiator's bytes (Ya, PadA, req1, req2^req3, ENCRYPT(VC, provide, len PadC, PadC, len IA, IA), payload) and the model's verdict. */
function initiatorBytes (s: InitiatorSide, yb: Buffer): { bytes: Buffer, verdict: Verdict, ia: Buffer } {
  const attacker = new MseKeyPair(s.attackerKey)
  const ya = s.key === 'valid' ? attacker.publicKey : badKey(s.key)
  const secret = attacker.sharedSecret(yb.subarray(0, DH_KEY_LENGTH))
  const skey = s.otherTorrent ? OTHER_HASH : INFO_HASH
  const enc = createRc4(deriveKeys(secret, skey).keyA, { discard: RC4_DISCARD })
  const padALength = Math.min(s.padA, 600)
  const fields = Buffer.alloc(VC_LENGTH + 6)
  if (s.vcFlip) fields[3] = 0x40
  fields.writeUInt32BE(s.provide >>> 0, VC_LENGTH)
  fields.writeUInt16BE(s.padC, VC_LENGTH + 4)
  const padCBytes = Math.min(s.padC, 600)
  const iaLength = Buffer.alloc(2)
  iaLength.writeUInt16BE(s.ia)
  const ia = Buffer.alloc(s.ia, 0x13)
  const req3 = mseHash('req3', secret)
  const bytes = Buffer.concat([
    ya, Buffer.alloc(padALength, 0x55),
    s.req1Wrong ? Buffer.alloc(20, 0x77) : mseHash('req1', secret),
    Buffer.from(mseHash('req2', skey).map((v, i) => v ^ req3[i]!)),
    enc.update(fields), enc.update(Buffer.alloc(padCBytes, 0x66)), enc.update(iaLength), enc.update(ia),
    Buffer.from(s.trailing)
  ])
  // the model: each field is judged when its last byte arrives
  let verdict: Verdict
  const afterSkey = DH_KEY_LENGTH + padALength + 40
  const method = s.responderMethods.find((m) => (s.provide & BITS[m]) !== 0)
  if (s.key !== 'valid') verdict = { kind: 'error', code: 'MSE_BAD_KEY', at: DH_KEY_LENGTH }
  else if (s.req1Wrong || padALength > MAX_PADDING) verdict = { kind: 'error', code: 'MSE_NO_SYNC', at: DH_KEY_LENGTH + SYNC_REQ1 }
  else if (s.otherTorrent) verdict = { kind: 'error', code: 'UNKNOWN_INFO_HASH', at: afterSkey }
  else if (s.vcFlip) verdict = { kind: 'error', code: 'MSE_BAD_VC', at: afterSkey + 14 }
  else if (method === undefined) verdict = { kind: 'error', code: 'MSE_NO_METHOD', at: afterSkey + 14 }
  else if (s.padC > MAX_PADDING) verdict = { kind: 'error', code: 'MSE_BAD_PADDING', at: afterSkey + 14 }
  else verdict = { kind: 'done', at: afterSkey + 14 + s.padC + 2 + s.ia }
  const sent = s.cutAt === null ? bytes : bytes.subarray(0, s.cutAt % (bytes.length + 1))
  return { bytes: sent, verdict: decide(verdict, sent.length), ia }
}

function responderFor (s: { seed: number, responderMethods: readonly MseMethod[] }): MseResponder {
  return new MseResponder({ findInfoHash: new SkeyIndex([INFO_HASH]).find, methods: s.responderMethods, random: seededRandomBytes(s.seed) })
}

/** Feed `chunks`; the code and byte count where it threw, or where it completed, or neither. */
function feed (machine: { receive: (b: Buffer) => Buffer | null, readonly result: HandshakeResult | null }, chunks: readonly Buffer[]): { outcome: Verdict, out: Buffer[], answered: number } {
  const out: Buffer[] = []
  let fed = 0
  for (const chunk of chunks) {
    const before = fed
    fed += chunk.length
    try {
      const o = machine.receive(chunk)
      if (o !== null) out.push(o)
    } catch (err) {
      if (!isZentorrentError(err)) throw new Error(`threw a non-typed error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
      // what a failing receive would have sent is not sent: only the bytes before that chunk were answered
      return { outcome: { kind: 'error', code: err.code, at: fed }, out, answered: before }
    }
    if (machine.result !== null) return { outcome: { kind: 'done', at: fed }, out, answered: fed }
  }
  return { outcome: { kind: 'waiting' }, out, answered: fed }
}

/** The machine decided in the chunk that holds the deciding byte, as the model says. */
function sameVerdict (got: Verdict, want: Verdict, chunks: readonly Buffer[]): void {
  const describe = (v: Verdict): string => v.kind === 'waiting' ? 'waiting' : `${v.kind === 'error' ? v.code : 'done'} at byte ${v.at}`
  if (got.kind !== want.kind || (got.kind === 'error' && want.kind === 'error' && got.code !== want.code)) throw new Error(`${describe(got)}; the spec says ${describe(want)}`)
  if (got.kind === 'waiting' || want.kind === 'waiting') return
  // `got.at` is the end of the chunk it decided in: the deciding byte is in that chunk
  let start = 0
  for (const c of chunks) { if (start + c.length >= got.at) break; start += c.length }
  if (!(want.at > start && want.at <= got.at)) throw new Error(`${describe(got)} (chunk from byte ${start}); the spec says ${describe(want)}`)
}

const sideCodec = <T>(): Codec<T> => ({
  save: (s) => JSON.parse(JSON.stringify(s, (_k, v: unknown) => v instanceof Uint8Array ? { bytes: Buffer.from(v).toString('base64') } : v)) as unknown,
  load: (json) => JSON.parse(JSON.stringify(json), (_k, v: unknown) => typeof v === 'object' && v !== null && 'bytes' in v ? new Uint8Array(Buffer.from((v as { bytes: string }).bytes, 'base64')) : v) as T
})

function responderCase (s: InitiatorSide): void {
  const twin = responderFor(s)
  const yb = twin.receive(Buffer.alloc(DH_KEY_LENGTH, 0x02)) // our Yb depends only on the seed
  const { bytes, verdict, ia } = initiatorBytes(s, yb!)
  const chunks = pieces(bytes, s.cuts)
  const machine = responderFor(s)
  kept = 0
  const { outcome, out, answered } = noHang(() => feed(machine, chunks))
  sameVerdict(outcome, verdict, chunks)
  tally('responder', keyOf(verdict))
  const bound = Math.max(SYNC_REQ1, MAX_PADDING + 2, s.ia) - 1
  if (kept > bound) throw new Error(`kept ${kept} bytes between chunks, more than the ${bound} of the field it waited for`)
  // what it sent: Yb and PadB (≤ 512) once Ya was in; step 4 at the end
  const sent = Buffer.concat(out)
  if (answered >= DH_KEY_LENGTH && s.key === 'valid' && (sent.length < DH_KEY_LENGTH || !sent.subarray(0, DH_KEY_LENGTH).equals(yb!.subarray(0, DH_KEY_LENGTH)))) throw new Error('no Yb after Ya')
  if (outcome.kind !== 'done') {
    if (sent.length > DH_KEY_LENGTH + MAX_PADDING) throw new Error(`sent ${sent.length} bytes before the handshake completed`)
    return
  }
  const result = machine.result!
  const method = s.responderMethods.find((m) => (s.provide & BITS[m]) !== 0)!
  if (result.method !== method) throw new Error(`selected ${result.method}; the first of ours the peer provides is ${method}`)
  if (!result.infoHash.equals(INFO_HASH)) throw new Error('another torrent')
  if (!result.initialPayload.equals(ia)) throw new Error('IA differs')
  // rest: the bytes after the handshake that came in its last chunk
  if (!result.rest.equals(bytes.subarray(verdict.kind === 'done' ? verdict.at : 0, outcome.at))) throw new Error('rest is not the bytes after the handshake')
  if ((result.encrypt === null) !== (method === 'plaintext')) throw new Error('RC4 streams for the wrong method')
  // step 4 decrypts (keyB) to VC, crypto_select = the method, len(PadD) = 0
  const secret = new MseKeyPair(s.attackerKey).sharedSecret(yb!.subarray(0, DH_KEY_LENGTH))
  const step4 = createRc4(deriveKeys(secret, INFO_HASH).keyB, { discard: RC4_DISCARD }).update(sent.subarray(sent.length - 14))
  if (!step4.equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, BITS[method], 0, 0]))) throw new Error(`step 4 decrypts to ${step4.toString('hex')}`)
}

t.test('the responder and an initiator that knows the secret, any field wrong: the spec\'s verdict at the spec\'s byte', async (t) => {
  await fuzz(t, 'mse-responder', initiatorSides, sideCodec<InitiatorSide>(), 400, responderCase)
  const seen = tallies.get('responder') ?? new Map<string, number>()
  t.comment(JSON.stringify(Object.fromEntries(seen)))
  t.ok(['done', 'waiting', 'MSE_BAD_KEY', 'MSE_NO_SYNC', 'UNKNOWN_INFO_HASH', 'MSE_BAD_VC', 'MSE_NO_METHOD', 'MSE_BAD_PADDING'].every((k) => seen.has(k)), 'every verdict reached')
})

// ---- the initiator, against a responder that knows the secret ---------------------------------------------

interface ResponderSide {
  readonly seed: number
  readonly initiatorMethods: readonly MseMethod[]
  readonly key: KeyKind
  readonly attackerKey: Uint8Array
  readonly padB: number
  readonly vcFlip: boolean
  readonly select: number
  readonly padD: number
  readonly trailing: Uint8Array
  readonly cutAt: number | null
  readonly cuts: readonly number[] | 'bytes'
}

const responderSides: fc.Arbitrary<ResponderSide> = fc.record({
  seed: fc.nat(),
  initiatorMethods: methodLists,
  key: keyKind,
  attackerKey: fc.uint8Array({ minLength: 20, maxLength: 20 }).filter((k) => k.some((b) => b !== 0)),
  padB: padLength,
  vcFlip: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  select: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 2) }, { weight: 2, arbitrary: fc.constantFrom(0, 3, 4, 0x10) }, { weight: 1, arbitrary: fc.nat() }),
  padD: padField,
  trailing: fc.uint8Array({ maxLength: 40 }),
  cutAt: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
  cuts
})

function initiatorCase (s: ResponderSide): void {
  const machine = new MseInitiator({ infoHash: INFO_HASH, methods: s.initiatorMethods, random: seededRandomBytes(s.seed) })
  const ya = machine.start()
  if (ya.length < DH_KEY_LENGTH || ya.length > DH_KEY_LENGTH + MAX_PADDING) throw new Error(`Ya and PadA of ${ya.length} bytes`)
  const attacker = new MseKeyPair(s.attackerKey)
  const secret = attacker.sharedSecret(ya.subarray(0, DH_KEY_LENGTH))
  const enc = createRc4(deriveKeys(secret, INFO_HASH).keyB, { discard: RC4_DISCARD })
  const padBLength = Math.min(s.padB, 600)
  const vc = Buffer.alloc(VC_LENGTH)
  if (s.vcFlip) vc[0] = 1
  const fields = Buffer.alloc(6)
  fields.writeUInt32BE(s.select >>> 0, 0)
  fields.writeUInt16BE(s.padD, 4)
  const full = Buffer.concat([
    s.key === 'valid' ? attacker.publicKey : badKey(s.key), Buffer.alloc(padBLength, 0xaa),
    enc.update(vc), enc.update(fields), enc.update(Buffer.alloc(Math.min(s.padD, 600), 0x33)), Buffer.from(s.trailing)
  ])
  const provided = s.initiatorMethods.reduce((bits, m) => bits | BITS[m], 0)
  const selectOk = (s.select === CRYPTO_RC4 || s.select === CRYPTO_PLAINTEXT) && (s.select & provided) !== 0
  const afterVc = DH_KEY_LENGTH + padBLength + VC_LENGTH
  let verdict: Verdict
  if (s.key !== 'valid') verdict = { kind: 'error', code: 'MSE_BAD_KEY', at: DH_KEY_LENGTH }
  else if (s.vcFlip || padBLength > MAX_PADDING) verdict = { kind: 'error', code: 'MSE_NO_SYNC', at: DH_KEY_LENGTH + SYNC_VC }
  else if (!selectOk) verdict = { kind: 'error', code: 'MSE_BAD_SELECT', at: afterVc + 6 }
  else if (s.padD > MAX_PADDING) verdict = { kind: 'error', code: 'MSE_BAD_PADDING', at: afterVc + 6 }
  else verdict = { kind: 'done', at: afterVc + 6 + s.padD }
  const bytes = s.cutAt === null ? full : full.subarray(0, s.cutAt % (full.length + 1))
  verdict = decide(verdict, bytes.length)
  const chunks = pieces(bytes, s.cuts)
  kept = 0
  const { outcome, out, answered } = noHang(() => feed(machine, chunks))
  sameVerdict(outcome, verdict, chunks)
  tally('initiator', keyOf(verdict))
  if (kept > SYNC_REQ1 - 1) throw new Error(`kept ${kept} bytes between chunks, more than the sync window`)
  // step 3 once Yb was in: req1, req2 xor req3, ENCRYPT(VC, provide, len PadC = 0, len IA = 0)
  const sent = Buffer.concat(out)
  if (answered >= DH_KEY_LENGTH && s.key === 'valid' && (sent.length !== 56 || !sent.subarray(0, 20).equals(mseHash('req1', secret)))) throw new Error(`step 3 is ${sent.length} bytes`)
  if (outcome.kind !== 'done') return
  const result = machine.result!
  const method: MseMethod = s.select === CRYPTO_RC4 ? 'rc4' : 'plaintext'
  if (result.method !== method) throw new Error(`method ${result.method}, the peer selected ${method}`)
  if (!result.rest.equals(bytes.subarray(verdict.kind === 'done' ? verdict.at : 0, outcome.at))) throw new Error('rest is not the bytes after the handshake')
}

t.test('the initiator and a responder that knows the secret, any field wrong: the spec\'s verdict at the spec\'s byte', async (t) => {
  await fuzz(t, 'mse-initiator', responderSides, sideCodec<ResponderSide>(), 400, initiatorCase)
  const seen = tallies.get('initiator') ?? new Map<string, number>()
  t.comment(JSON.stringify(Object.fromEntries(seen)))
  t.ok(['done', 'waiting', 'MSE_BAD_KEY', 'MSE_NO_SYNC', 'MSE_BAD_SELECT', 'MSE_BAD_PADDING'].every((k) => seen.has(k)), 'every verdict reached')
})

// ---- random bytes -----------------------------------------------------------------------------------------

t.test('random bytes, any chunking: a typed error by the end of the sync window, holding no more than it', async (t) => {
  const randoms = fc.record({ seed: fc.nat(), bytes: fc.uint8Array({ minLength: 0, maxLength: 900 }), cuts, initiator: fc.boolean() })
  await fuzz(t, 'mse-random', randoms, sideCodec<{ seed: number, bytes: Uint8Array, cuts: readonly number[] | 'bytes', initiator: boolean }>(), 300, ({ seed, bytes, cuts, initiator }) => {
    const machine = initiator ? new MseInitiator({ infoHash: INFO_HASH, random: seededRandomBytes(seed) }) : responderFor({ seed, responderMethods: ['rc4', 'plaintext'] })
    if (machine instanceof MseInitiator) machine.start()
    kept = 0
    const { outcome } = noHang(() => feed(machine, pieces(Buffer.from(bytes), cuts)))
    const window = DH_KEY_LENGTH + (initiator ? SYNC_VC : SYNC_REQ1)
    if (outcome.kind === 'done') throw new Error('random bytes completed a handshake')
    if (outcome.kind === 'waiting' && bytes.length >= window) throw new Error(`still waiting after ${bytes.length} random bytes`)
    if (outcome.kind === 'error' && !['MSE_BAD_KEY', 'MSE_NO_SYNC'].includes(outcome.code)) throw new Error(`random bytes gave ${outcome.code}`)
    if (kept > SYNC_REQ1 - 1) throw new Error(`kept ${kept} bytes between chunks`)
  })
})

// ---- on a stream, under the fake clock ----------------------------------------------------------------------

/** A socket stand-in: the test pushes the peer's bytes in and reads what was written. */
function fakeSocket (): { socket: Duplex, written: Buffer[] } {
  const written: Buffer[] = []
  const socket = new Duplex({
    read () {},
    write (chunk: Buffer, _enc, cb) { written.push(chunk); cb() }
  })
  return { socket, written }
}

interface StreamCase {
  readonly responder: boolean
  readonly side: InitiatorSide | ResponderSide
  readonly then: 'silence' | 'end' | 'error'
}

const TIMEOUT = 10_000

async function streamCase (c: StreamCase): Promise<void> {
  const clock = new FakeClock()
  const { socket } = fakeSocket()
  let bytes: Buffer
  let connection: Promise<unknown>
  if (c.responder) {
    const s = c.side as InitiatorSide
    const yb = responderFor(s).receive(Buffer.alloc(DH_KEY_LENGTH, 0x02))!
    bytes = initiatorBytes(s, yb).bytes
    connection = mseRespond(socket, { findInfoHash: new SkeyIndex([INFO_HASH]).find, methods: s.responderMethods, random: seededRandomBytes(s.seed), clock, timeoutMs: TIMEOUT })
  } else {
    const s = c.side as ResponderSide
    // the initiator's Ya comes from its seed: a twin tells the attacker what it will be
    const twin = new MseInitiator({ infoHash: INFO_HASH, methods: s.initiatorMethods, random: seededRandomBytes(s.seed) })
    const ya = twin.start()
    const attacker = new MseKeyPair(s.attackerKey)
    const secret = attacker.sharedSecret(ya.subarray(0, DH_KEY_LENGTH))
    const enc = createRc4(deriveKeys(secret, INFO_HASH).keyB, { discard: RC4_DISCARD })
    const fields = Buffer.alloc(6)
    fields.writeUInt32BE(s.select >>> 0, 0)
    fields.writeUInt16BE(s.padD, 4)
    bytes = Buffer.concat([attacker.publicKey, Buffer.alloc(Math.min(s.padB, 600)), enc.update(Buffer.alloc(VC_LENGTH, s.vcFlip ? 1 : 0)), enc.update(fields), enc.update(Buffer.alloc(Math.min(s.padD, 600))), Buffer.from(s.trailing)])
    if (s.cutAt !== null) bytes = bytes.subarray(0, s.cutAt % (bytes.length + 1))
    connection = mseInitiate(socket, { infoHash: INFO_HASH, methods: s.initiatorMethods, random: seededRandomBytes(s.seed), clock, timeoutMs: TIMEOUT })
  }
  let advanced = false
  let settled: { ok: true } | { ok: false, err: unknown, late: boolean } | null = null
  connection.then(() => { settled = { ok: true } }, (err: unknown) => { settled = { ok: false, err, late: advanced } })
  const tick = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve)) }
  // byte by byte through the handshake's fields; a long IA or payload after them in one piece (time is bounded)
  const chunks = c.side.cuts === 'bytes' ? [...pieces(bytes.subarray(0, 1200), 'bytes'), ...(bytes.length > 1200 ? [bytes.subarray(1200)] : [])] : pieces(bytes, c.side.cuts)
  for (const chunk of chunks) {
    if (settled !== null || socket.destroyed) break
    socket.push(chunk)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await tick()
  if (settled === null) {
    if (c.then === 'end') socket.push(null)
    else if (c.then === 'error') socket.destroy(new Error('ECONNRESET'))
    await tick()
  }
  if (settled === null) {
    clock.advance(TIMEOUT - 1)
    await tick()
    if (settled !== null && isZentorrentError((settled as { err?: unknown }).err, 'MSE_TIMEOUT')) throw new Error('timed out before timeoutMs')
    advanced = true
    clock.advance(1)
    await tick()
  }
  const end = settled as { ok: true } | { ok: false, err: unknown, late: boolean } | null
  if (end === null) throw new Error(`unsettled ${TIMEOUT} ms after the last byte (${c.then})`)
  tally('stream', end.ok ? 'connected' : isZentorrentError(end.err) ? end.err.code : 'untyped')
  if (!end.ok) {
    if (!isZentorrentError(end.err)) throw new Error(`rejected with a non-typed error: ${String(end.err)}`)
    if (!socket.destroyed) throw new Error(`failed with ${end.err.code} but left the socket open`)
    if (end.err.code === 'MSE_TIMEOUT' && !end.late) throw new Error('MSE_TIMEOUT before timeoutMs had passed')
    if (end.late && end.err.code !== 'MSE_TIMEOUT') throw new Error(`${end.err.code} when the clock passed timeoutMs`)
  }
  if (clock.pending !== 0) throw new Error(`${clock.pending} timers left behind`)
  socket.destroy()
}

t.test('mseRespond / mseInitiate on a stream: settles with a connection or a typed error, the socket closed on failure, no timer left', async (t) => {
  const cases = fc.oneof(
    fc.record({ responder: fc.constant(true), side: initiatorSides as fc.Arbitrary<InitiatorSide | ResponderSide>, then: fc.constantFrom('silence' as const, 'end' as const, 'error' as const) }),
    fc.record({ responder: fc.constant(false), side: responderSides as fc.Arbitrary<InitiatorSide | ResponderSide>, then: fc.constantFrom('silence' as const, 'end' as const, 'error' as const) })
  )
  await fuzz(t, 'mse-stream', cases, sideCodec<StreamCase>(), 120, streamCase)
  const seen = tallies.get('stream') ?? new Map<string, number>()
  t.comment(JSON.stringify(Object.fromEntries(seen)))
  t.ok(['connected', 'MSE_TIMEOUT', 'MSE_CLOSED', 'MSE_REFUSED'].every((k) => seen.has(k)), 'connections, timeouts and closes reached')
})
