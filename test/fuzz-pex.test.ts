/**
 * Fuzzing peer exchange, BEP 11 (lib/discovery/pex.ts): the ut_pex codec fed random bytes, generated messages
 * (added / added.f / added6 / added6.f / dropped / dropped6 of every type, partial contacts, flag strings of any
 * length, huge lists, JavaScript-special keys such as `__proto__`) and mutations of them; and the manager fed
 * such messages over a real Wire (bytes through the Wire's parser, the fake clock moved between them).
 *
 * - decodePex returns within a deadline, with BAD_MESSAGE or a result within the limits it was given, every
 *   contact an IP literal with a port 0..65535 and a flag byte, and each one the bytes of the message say.
 * - The manager hands `onPeer` only dialable addresses with a port in 1..65535 (local ones only from a local
 *   sender), at most `maxReceived` from one message, `maxPerHost` of one host in it and `maxPeersPerWire` over
 *   the wire's life; it reads one message per `minReceiveInterval`; its counters add up; the Wire is never
 *   destroyed by anything but a typed error.
 */
import t from 'tap'
import { isIP } from 'node:net'
import { decodePex, encodePex, Pex, PEX_DEFAULTS, type DecodedPex, type PexPeer } from '../lib/discovery/pex.js'
import { isZentorrentError } from '../lib/errors.js'
import { isLocalHost, isUndialable, parseIPv6 } from '../lib/peers/address.js'
import { LOCAL_EXTENSION_IDS } from '../lib/wire/extensions.js'
import { encodeHandshake } from '../lib/wire/handshake.js'
import { encodeExtendedHandshake, encodeMessageToBuffer } from '../lib/wire/messages.js'
import { Wire } from '../lib/wire/wire.js'
import { FakeClock } from './helpers/fake-clock.js'
import { bytesCodec, expectTyped, fc, fuzz, noHang, type Codec } from './helpers/fuzz.js'
import { bvalue, encodeModel, mutate, mutations, type BModel } from './helpers/fuzz-bencode.js'

const PEX_KEYS = ['added', 'added.f', 'added6', 'added6.f', 'dropped', 'dropped6'] as const
type PexKey = typeof PEX_KEYS[number]
/** Keys a JavaScript decoder gives a meaning of its own (a prototype, a method). */
const HOSTILE_KEYS = ['__proto__', 'toString', 'valueOf', 'constructor', 'hasOwnProperty', 'length']
const SIZE = { 4: 6, 6: 18 } as const

// ---- generators -------------------------------------------------------------------------------------------

const v4 = fc.oneof(
  fc.constantFrom('1.2.3.4', '5.6.7.8', '127.0.0.1', '10.0.0.1', '192.168.1.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '203.0.113.5', '169.254.1.1')
    .map((ip) => Buffer.from(ip.split('.').map(Number))),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b))
)
const v6 = fc.oneof(
  fc.constantFrom('2a00:1450::2', '::1', '::', 'fe80::1', 'fd00::5', 'ff02::1', '2001:db8::1', '::ffff:1.2.3.4', '::ffff:127.0.0.1').map((ip) => parseIPv6(ip)),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b))
)
const port = fc.oneof(fc.constantFrom(0, 1, 6881, 65535), fc.integer({ min: 0, max: 65535 }))
const contact = (host: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> => fc.tuple(host, port).map(([h, p]) => {
  const out = Buffer.alloc(h.length + 2, h)
  out.writeUInt16BE(p, h.length)
  return out
})

/** A compact list: whole contacts, sometimes a partial one after them. */
const compactList = (family: 4 | 6, maxLength: number): fc.Arbitrary<Uint8Array> => fc.tuple(
  fc.array(contact(family === 4 ? v4 : v6), { maxLength }),
  fc.oneof({ weight: 4, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: SIZE[family] - 1 }) })
).map(([contacts, tail]) => new Uint8Array(Buffer.concat([...contacts, Buffer.from(tail)])))

/** A message: each BEP 11 key absent, of its type (flags of the right length or not), or any value; odd keys. */
interface PexInput {
  readonly bytes: Uint8Array
  /** The byte-string values of the BEP 11 keys, when the input was generated without JavaScript-special keys. */
  readonly fields: Partial<Record<PexKey, Uint8Array>> | null
}
const pexInputCodec: Codec<PexInput> = {
  save: (input) => bytesCodec.save(input.bytes),
  load: (json) => ({ bytes: bytesCodec.load(json), fields: null })
}

const bytesModel = (v: Uint8Array): BModel => ({ t: 'bytes', v })
const messageModel = (maxContacts: number): fc.Arbitrary<{ model: BModel, fields: PexInput['fields'] }> => fc.record({
  added: fc.option(fc.oneof({ weight: 4, arbitrary: compactList(4, maxContacts).map(bytesModel) }, { weight: 1, arbitrary: bvalue })),
  added6: fc.option(fc.oneof({ weight: 4, arbitrary: compactList(6, maxContacts).map(bytesModel) }, { weight: 1, arbitrary: bvalue })),
  dropped: fc.option(fc.oneof({ weight: 4, arbitrary: compactList(4, maxContacts).map(bytesModel) }, { weight: 1, arbitrary: bvalue })),
  dropped6: fc.option(fc.oneof({ weight: 4, arbitrary: compactList(6, maxContacts).map(bytesModel) }, { weight: 1, arbitrary: bvalue })),
  // flags: one per contact (filled in below), of another length, or another type
  flags4: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constant('match' as const) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map(bytesModel) }, { weight: 1, arbitrary: bvalue })),
  flags6: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constant('match' as const) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map(bytesModel) }, { weight: 1, arbitrary: bvalue })),
  flagSeed: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  extra: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.constantFrom('e', 'x', 'p')), bvalue), { maxLength: 2 })
}).map((m) => {
  const entries: Array<[string, BModel]> = []
  const fields: Partial<Record<PexKey, Uint8Array>> = {}
  const put = (key: string, value: BModel | null): void => {
    if (value === null) return
    entries.push([key, value])
    if (value.t === 'bytes' && (PEX_KEYS as readonly string[]).includes(key)) fields[key as PexKey] = value.v
  }
  const flagsFor = (list: BModel | null, size: number, choice: typeof m.flags4): BModel | null => {
    if (choice !== 'match') return choice
    const n = list?.t === 'bytes' ? Math.floor(list.v.length / size) : 0
    return bytesModel(new Uint8Array(Array.from({ length: n }, (_, i) => m.flagSeed[i % 64]!)))
  }
  put('added', m.added)
  put('added.f', flagsFor(m.added, 6, m.flags4))
  put('added6', m.added6)
  put('added6.f', flagsFor(m.added6, 18, m.flags6))
  put('dropped', m.dropped)
  put('dropped6', m.dropped6)
  const seen = new Set(entries.map(([k]) => k))
  let hostile = false
  for (const [key, value] of m.extra) {
    if (seen.has(key)) continue
    seen.add(key)
    entries.push([key, value])
    if (HOSTILE_KEYS.includes(key)) hostile = true
  }
  const model: BModel = { t: 'dict', v: entries.map(([k, v]) => [new Uint8Array(Buffer.from(k)), v] as const) }
  return { model, fields: hostile ? null : fields }
})

const generated = fc.tuple(messageModel(12), fc.boolean()).map(([{ model, fields }, sorted]): PexInput => ({ bytes: new Uint8Array(encodeModel(model, sorted)), fields }))
const mutated = fc.tuple(messageModel(6), mutations).map(([{ model }, ops]): PexInput => ({ bytes: mutate(encodeModel(model, true), ops), fields: null }))
/** Lists far past any limit: up to 3000 contacts of each family. */
const huge = fc.record({ n4: fc.nat(3000), n6: fc.nat(3000), d4: fc.nat(3000), seed: fc.integer({ min: 1, max: 255 }) }).map(({ n4, n6, d4, seed }): PexInput => {
  const fill = (n: number, size: number): Uint8Array => new Uint8Array(Buffer.from(Array.from({ length: n * size }, (_, i) => (i * seed + 1) & 0xff)))
  const fields = { added: fill(n4, 6), 'added.f': fill(n4, 1), added6: fill(n6, 18), dropped: fill(d4, 6) }
  const model: BModel = { t: 'dict', v: Object.entries(fields).map(([k, v]) => [new Uint8Array(Buffer.from(k)), bytesModel(v)] as const) }
  return { bytes: new Uint8Array(encodeModel(model, true)), fields }
})
const limits = fc.record({ maxAdded: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constant(PEX_DEFAULTS.maxReceived)), maxDropped: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constant(PEX_DEFAULTS.maxDropped)) })

// ---- the codec's property -----------------------------------------------------------------------------------

/** The contacts `bytes` hold, in order, as (family, address bytes, port). */
function contactsOf (bytes: Uint8Array | undefined, family: 4 | 6): Array<{ address: Buffer, port: number }> {
  const out: Array<{ address: Buffer, port: number }> = []
  const size = SIZE[family]
  const buf = Buffer.from(bytes ?? [])
  for (let at = 0; at + size <= buf.length; at += size) out.push({ address: buf.subarray(at, at + size - 2), port: buf.readUInt16BE(at + size - 2) })
  return out
}

/** Whether `host` spells `address` (16 bytes of an IPv4-mapped IPv6 address may come back as the IPv4 they map). */
function spells (host: string, address: Buffer): boolean {
  if (address.length === 4) return isIP(host) === 4 && host === [...address].join('.')
  if (isIP(host) === 6) return parseIPv6(host).equals(address)
  return isIP(host) === 4 && address.subarray(0, 12).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])) && host === [...address.subarray(12)].join('.')
}

function checkContact (p: { host: string, port: number }, what: string): void {
  if (isIP(p.host) === 0) throw new Error(`${what} host ${JSON.stringify(p.host)} is not an IP literal`)
  if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) throw new Error(`${what} port ${p.port}`)
}

/** What decodePex must say of `fields` (BEP 11, read as the module documents it: IPv4 first, each list cut at its room). */
function expected (fields: Partial<Record<PexKey, Uint8Array>>, lim: { maxAdded: number, maxDropped: number }): { added: Array<{ address: Buffer, port: number, flags: number }>, dropped: Array<{ address: Buffer, port: number }>, excess: number } {
  const added: Array<{ address: Buffer, port: number, flags: number }> = []
  let excess = 0
  for (const [key, family] of [['added', 4], ['added6', 6]] as const) {
    const all = contactsOf(fields[key], family)
    const flags = fields[`${key}.f`]
    const room = Math.max(0, lim.maxAdded - added.length)
    excess += Math.max(0, all.length - room)
    all.slice(0, room).forEach((c, i) => added.push({ ...c, flags: flags !== undefined && flags.length === all.length ? flags[i]! : 0 }))
  }
  const dropped: Array<{ address: Buffer, port: number }> = []
  for (const [key, family] of [['dropped', 4], ['dropped6', 6]] as const) {
    const all = contactsOf(fields[key], family)
    const room = Math.max(0, lim.maxDropped - dropped.length)
    excess += Math.max(0, all.length - room)
    dropped.push(...all.slice(0, room))
  }
  return { added, dropped, excess }
}

function decodeChecked (input: PexInput, lim: { maxAdded: number, maxDropped: number }): void {
  let out: DecodedPex
  try {
    out = noHang(() => decodePex(input.bytes, lim))
  } catch (err) {
    expectTyped(err, ['BAD_MESSAGE'])
    if (input.fields !== null) throw new Error(`a generated dictionary was refused: ${(err as Error).message}`)
    return
  }
  if (out.added.length > lim.maxAdded) throw new Error(`${out.added.length} added, more than the ${lim.maxAdded} allowed`)
  if (out.dropped.length > lim.maxDropped) throw new Error(`${out.dropped.length} dropped, more than the ${lim.maxDropped} allowed`)
  for (const p of out.added) {
    checkContact(p, 'added')
    if (!Number.isInteger(p.flags) || p.flags < 0 || p.flags > 255) throw new Error(`flags ${p.flags}`)
  }
  for (const p of out.dropped) checkContact(p, 'dropped')
  for (const n of [out.excess, out.malformed]) if (!Number.isSafeInteger(n) || n < 0) throw new Error(`a counter of ${n}`)
  if (input.fields === null) return
  const want = expected(input.fields, lim)
  if (out.added.length !== want.added.length || out.dropped.length !== want.dropped.length) {
    throw new Error(`${out.added.length} added and ${out.dropped.length} dropped, the bytes hold ${want.added.length} and ${want.dropped.length}`)
  }
  out.added.forEach((p, i) => {
    const w = want.added[i]!
    if (!spells(p.host, w.address) || p.port !== w.port || p.flags !== w.flags) throw new Error(`added[${i}] is ${p.host}:${p.port}/${p.flags}, the bytes say ${w.address.toString('hex')}:${w.port}/${w.flags}`)
  })
  out.dropped.forEach((p, i) => {
    const w = want.dropped[i]!
    if (!spells(p.host, w.address) || p.port !== w.port) throw new Error(`dropped[${i}] is ${p.host}:${p.port}, the bytes say ${w.address.toString('hex')}:${w.port}`)
  })
  if (out.excess !== want.excess) throw new Error(`excess ${out.excess}, the bytes have ${want.excess} past the limits`)
}

t.test('the codec: random bytes, generated and mutated messages, huge lists — a typed error or what the bytes hold, within the limits', async (t) => {
  const withLimits = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<{ input: T, lim: { maxAdded: number, maxDropped: number } }> => fc.record({ input: a, lim: limits })
  const codecWith = (inner: Codec<PexInput>): Codec<{ input: PexInput, lim: { maxAdded: number, maxDropped: number } }> => ({
    save: ({ input, lim }) => ({ input: inner.save(input), lim }),
    load: (json) => { const j = json as { input: unknown, lim: { maxAdded: number, maxDropped: number } }; return { input: inner.load(j.input), lim: j.lim } }
  })
  const codec = codecWith(pexInputCodec)
  const check = ({ input, lim }: { input: PexInput, lim: { maxAdded: number, maxDropped: number } }): void => { decodeChecked(input, lim) }
  await fuzz(t, 'pex-bytes', withLimits(fc.uint8Array({ maxLength: 200 }).map((bytes): PexInput => ({ bytes, fields: null }))), codec, 1000, check)
  await fuzz(t, 'pex-generated', withLimits(generated), codec, 1000, check)
  await fuzz(t, 'pex-mutated', withLimits(mutated), codec, 1500, check)
  await fuzz(t, 'pex-huge', withLimits(huge), codec, 60, check)
})

t.test('the codec: what encodePex writes, decodePex reads back', async (t) => {
  const peer = fc.oneof(
    fc.tuple(v4, port, fc.integer({ min: 0, max: 255 })).map(([a, p, flags]): PexPeer => ({ host: [...a].join('.'), port: p, flags })),
    fc.tuple(v6, port, fc.integer({ min: 0, max: 255 })).map(([a, p, flags]): PexPeer => ({ host: a.toString('hex').match(/.{4}/g)!.join(':'), port: p, flags }))
  )
  const messages = fc.record({ added: fc.array(peer, { maxLength: 20 }), dropped: fc.array(peer.map(({ host, port }) => ({ host, port })), { maxLength: 20 }) })
  const codec: Codec<{ added: PexPeer[], dropped: Array<{ host: string, port: number }> }> = { save: (m) => m, load: (json) => json as { added: PexPeer[], dropped: Array<{ host: string, port: number }> } }
  await fuzz(t, 'pex-round-trip', messages, codec, 500, (msg) => {
    const out = decodePex(encodePex(msg), { maxAdded: 1000, maxDropped: 1000 })
    // as 16 bytes: an IPv4-mapped IPv6 contact comes back as the IPv4 it maps, in its place in the IPv6 list
    const key = (p: { host: string, port: number }): string => `${parseIPv6(isIP(p.host) === 6 ? p.host : `::ffff:${p.host}`).toString('hex')}/${p.port}`
    // IPv4 contacts come first (their own list), IPv6 after, each in its order
    const byFamily = <T extends { host: string }>(ps: T[]): T[] => [...ps.filter((p) => isIP(p.host) === 4), ...ps.filter((p) => isIP(p.host) === 6)]
    const want = byFamily(msg.added).map((p) => `${key(p)}/${p.flags}`)
    const got = out.added.map((p) => `${key(p)}/${p.flags}`)
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`added ${got.join(' ')} for ${want.join(' ')}`)
    if (out.dropped.length !== msg.dropped.length || out.malformed !== 0 || out.excess !== 0) throw new Error('dropped, malformed or excess differ')
  })
})

// ---- the manager, over a Wire --------------------------------------------------------------------------------

const INFO_HASH = Buffer.alloc(20, 0x5a)
/** Small bounds, so a short run reaches them. */
const BOUNDS = { maxReceived: 6, maxPerHost: 2, maxPeersPerWire: 10, minReceiveInterval: 1000, maxMessageBytes: 2000 }

type Step =
  | { readonly pex: Uint8Array, readonly cuts: readonly number[] }
  | { readonly advance: number }
  /** A BEP 10 handshake's payload (bencoded). */
  | { readonly handshake: Uint8Array }
  | { readonly raw: Uint8Array }

interface Session {
  readonly sender: string
  readonly allowLocal: boolean | 'if-sender-local'
  readonly pexId: number
  readonly steps: readonly Step[]
}

const sessionCodec: Codec<Session> = {
  save: (s) => ({
    ...s,
    steps: s.steps.map((step) => 'pex' in step ? { pex: bytesCodec.save(step.pex), cuts: step.cuts } : 'raw' in step ? { raw: bytesCodec.save(step.raw) } : 'handshake' in step ? { handshake: bytesCodec.save(step.handshake) } : step)
  }),
  load: (json) => {
    const s = json as Omit<Session, 'steps'> & { steps: Array<{ pex: string, cuts: number[] } | { raw: string } | { handshake: string } | { advance: number }> }
    return {
      ...s,
      steps: s.steps.map((step): Step => 'pex' in step ? { pex: bytesCodec.load(step.pex), cuts: step.cuts } : 'raw' in step ? { raw: bytesCodec.load(step.raw) } : 'handshake' in step ? { handshake: bytesCodec.load(step.handshake) } : step)
    }
  }
}

/** A BEP 10 handshake: ut_pex under the session's id (or another, or none), and any other keys. */
const extendedHandshake = (pexId: number): fc.Arbitrary<Uint8Array> => fc.tuple(fc.constantFrom(pexId, pexId, 0, 3), fc.array(fc.tuple(fc.constantFrom('v', 'p', 'reqq', 'x', '__proto__'), bvalue), { maxLength: 2 }))
  .map(([id, extra]): BModel => ({
    t: 'dict',
    v: [[Buffer.from('m'), { t: 'dict', v: [[Buffer.from('ut_pex'), { t: 'int', v: BigInt(id) }]] }], ...extra.filter(([k], i, all) => all.findIndex(([j]) => j === k) === i).map(([k, v]) => [Buffer.from(k), v] as const)]
  })).map((m) => new Uint8Array(encodeModel(m)))

/** Messages the manager takes much of: a few public hosts (so one host comes many times), ports > 0, flags. */
const plausible: fc.Arbitrary<Uint8Array> = fc.array(fc.record({
  host: fc.constantFrom('1.2.3.4', '5.6.7.8', '9.9.9.9', '2a00:1450::2', '2a00:1450::3', '10.0.0.1'),
  port: fc.integer({ min: 1, max: 65535 }),
  flags: fc.integer({ min: 0, max: 255 })
}), { maxLength: 12 }).map((added) => new Uint8Array(encodePex({ added, dropped: [] })))

const sessions: fc.Arbitrary<Session> = fc.record({
  sender: fc.constantFrom('8.8.4.4', '127.0.0.1', '10.9.8.7', '2a00:1450::9', '::1'),
  allowLocal: fc.constantFrom<boolean | 'if-sender-local'>('if-sender-local', 'if-sender-local', true, false),
  pexId: fc.integer({ min: 1, max: 9 })
}).chain((s) => fc.array(fc.oneof(
  { weight: 12, arbitrary: fc.record({ pex: fc.oneof(generated, mutated, huge).map((i) => i.bytes), cuts: fc.array(fc.nat(), { maxLength: 3 }) }) },
  { weight: 10, arbitrary: fc.record({ pex: plausible, cuts: fc.array(fc.nat(), { maxLength: 3 }) }) },
  { weight: 10, arbitrary: fc.record({ advance: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(0, 1, 999, 1000, 1000) }, { weight: 1, arbitrary: fc.nat(130_000) }) }) },
  { weight: 2, arbitrary: fc.record({ handshake: extendedHandshake(s.pexId) }) },
  { weight: 1, arbitrary: fc.record({ raw: fc.uint8Array({ maxLength: 8 }) }) }
), { maxLength: 40 }).map((steps): Session => ({ ...s, steps })))

function extendedMessage (id: number, payload: Uint8Array): Buffer {
  return encodeMessageToBuffer({ type: 'extended', id, payload: Buffer.from(payload) })
}

const outcomes = new Map<string, number>()

function runSession (session: Session): void {
  const clock = new FakeClock()
  const received: Array<{ host: string, port: number, flags: number, at: number }> = []
  const pex = new Pex({ private: false, clock, allowLocal: session.allowLocal, ...BOUNDS, onPeer: (a, flags) => { received.push({ ...a, flags, at: clock.now() }) } })
  const wire = new Wire({ peerId: Buffer.alloc(20, 1), infoHash: INFO_HASH, clock, handshakeTimeout: 1e9, keepAliveInterval: 1e9, timeout: 1e9 })
  wire.on('error', () => {}) // inspected through wire.errored
  const feed = (chunk: Buffer): void => {
    wire._write(chunk, 'buffer' as BufferEncoding, (err) => { if (err !== undefined && err !== null) wire.destroy(err) })
  }
  const drain = (): void => { while (wire.read() !== null) { /* the peer reads everything */ } }
  pex.attach(wire)
  pex.peerConnected(wire, { remote: { host: session.sender, port: 6881 }, listen: { host: session.sender, port: 6881 }, flags: 0 })
  feed(encodeHandshake({ infoHash: INFO_HASH, peerId: Buffer.alloc(20, 2), fast: true, extended: true }))
  feed(extendedMessage(0, encodeExtendedHandshake({ m: { ut_pex: session.pexId } })))
  drain()
  const senderLocal = isLocalHost(session.sender)
  const localOk = session.allowLocal === 'if-sender-local' ? senderLocal : session.allowLocal
  let readAt: number[] = []
  let lastStats = pex.stats()
  for (const step of session.steps) {
    if (wire.destroyed) break
    const before = received.length
    if ('advance' in step) clock.advance(step.advance)
    else if ('raw' in step) feed(Buffer.from(step.raw))
    else if ('handshake' in step) feed(extendedMessage(0, step.handshake))
    else {
      // our ut_pex id is what the peer addresses its messages to
      const bytes = extendedMessage(LOCAL_EXTENSION_IDS.ut_pex, step.pex)
      const points = [...new Set(step.cuts.map((c) => c % bytes.length))].sort((a, b) => a - b)
      let from = 0
      for (const at of [...points, bytes.length]) { if (at > from && !wire.destroyed) feed(bytes.subarray(from, at)); from = Math.max(from, at) }
    }
    drain()
    const stats = pex.stats()
    const read = (stats.messagesReceived - stats.messagesIgnored) - (lastStats.messagesReceived - lastStats.messagesIgnored)
    if (read > 1) throw new Error(`${read} messages read at one instant`)
    if (read === 1) readAt = [...readAt, clock.now()]
    lastStats = stats
    const fresh = received.slice(before)
    if (fresh.length > BOUNDS.maxReceived) throw new Error(`${fresh.length} contacts from one message, more than maxReceived ${BOUNDS.maxReceived}`)
    const perHost = new Map<string, number>()
    for (const p of fresh) {
      if (isIP(p.host) === 0) throw new Error(`onPeer got ${JSON.stringify(p.host)}, not an IP literal`)
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`onPeer got port ${p.port}`)
      if (!Number.isInteger(p.flags) || p.flags < 0 || p.flags > 255) throw new Error(`onPeer got flags ${p.flags}`)
      if (isUndialable(p.host)) throw new Error(`onPeer got the undialable ${p.host}`)
      if (isLocalHost(p.host) && !localOk) throw new Error(`onPeer got the local ${p.host} from ${session.sender} (allowLocal ${String(session.allowLocal)})`)
      perHost.set(p.host, (perHost.get(p.host) ?? 0) + 1)
      if (perHost.get(p.host)! > BOUNDS.maxPerHost) throw new Error(`${perHost.get(p.host)} contacts of ${p.host} from one message`)
    }
    if (received.length > BOUNDS.maxPeersPerWire) throw new Error(`${received.length} contacts from one wire, more than maxPeersPerWire ${BOUNDS.maxPeersPerWire}`)
    for (let i = 1; i < readAt.length; i++) if (readAt[i]! - readAt[i - 1]! < BOUNDS.minReceiveInterval) throw new Error(`messages read ${readAt[i]! - readAt[i - 1]!} ms apart`)
    if (stats.accepted !== received.length) throw new Error(`stats.accepted ${stats.accepted}, onPeer called ${received.length} times`)
    for (const [name, n] of Object.entries(stats)) if (!Number.isSafeInteger(n) || n < 0) throw new Error(`stats.${name} ${n}`)
  }
  if (wire.destroyed && wire.errored !== null && !isZentorrentError(wire.errored)) throw new Error(`the wire was destroyed with a non-typed error: ${String(wire.errored)}`)
  const end = wire.destroyed ? (wire.errored as { code?: string } | null)?.code ?? 'destroyed' : received.length > 0 ? 'contacts' : 'alive'
  outcomes.set(end, (outcomes.get(end) ?? 0) + 1)
  pex.close()
  wire.destroy()
}

t.test('the manager over a Wire: hostile ut_pex messages give onPeer only good addresses, within every bound', async (t) => {
  t.ok(PEX_DEFAULTS.maxReceived > BOUNDS.maxReceived && PEX_DEFAULTS.maxPeersPerWire > BOUNDS.maxPeersPerWire, 'the test bounds are smaller than the defaults')
  await fuzz(t, 'pex-manager', sessions, sessionCodec, 400, (s) => { noHang(() => { runSession(s) }) })
  t.comment(JSON.stringify(Object.fromEntries(outcomes)))
  t.ok((outcomes.get('contacts') ?? 0) > 0, 'sessions reach onPeer')
})
