/**
 * Fuzzing the KRPC checks (lib/discovery/krpc.ts) and what they protect: the `bittorrent-dht` package under our Dht.
 *
 * - checkInbound, fed random bytes, generated KRPC messages (every field absent, of its BEP 5 type or of any type;
 *   `nodes` strings of any length, `values` lists of anything, tokens and ids of every size, JavaScript-special
 *   keys such as `__proto__` and `toString`) and mutations of them: returns within a deadline, never throws; what
 *   it passes, decoded by the package's own bencode decoder, has the shapes BEP 5 defines within KRPC_LIMITS, and
 *   passes again unchanged (a packet it re-encoded must say what it checked).
 * - checkOutbound: never throws; our replies carry at most maxValues peers.
 * - A real Dht (a fake UDP socket in place of dgram, the fake clock) fed such datagrams as queries, and as answers
 *   to the queries the package really sent (their transaction ids): nothing throws out of the socket's 'message'
 *   handler (an uncaught exception there ends the process), every 'peer' is a dialable IPv4 literal with a port
 *   in 1..65535, at most maxPeersPerLookup a round, and our answers to one sender keep to maxQueriesPerSecond.
 */
import t from 'tap'
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import type { Socket as DgramSocket } from 'node:dgram'
import { Dht, NO_PUBLIC_DHT_ENV } from '../lib/discovery/dht.js'
import { isUndialable } from '../lib/peers/address.js'
import { checkInbound, checkOutbound, KRPC_LIMITS, KRPC_METHODS } from '../lib/discovery/krpc.js'
import { FakeClock } from './helpers/fake-clock.js'
import { bytesCodec, fc, fuzz, noHang, type Codec } from './helpers/fuzz.js'
import { bvalue, decodeModel, encodeModel, mutate, mutations, type BModel, type Mutation } from './helpers/fuzz-bencode.js'

/** The decoder the package itself runs on what we pass it (k-rpc-socket's own bencode, not ours). */
const packageRequire = createRequire(createRequire(import.meta.url).resolve('k-rpc-socket'))
const packageBencode = packageRequire('bencode') as { decode: (buf: Buffer) => unknown, encode: (v: unknown) => Buffer }

const HOSTILE_KEYS = ['__proto__', 'toString', 'valueOf', 'constructor', 'hasOwnProperty', 'length']

// ---- generators -------------------------------------------------------------------------------------------

const text = (s: string): BModel => ({ t: 'bytes', v: new Uint8Array(Buffer.from(s, 'latin1')) })
const raw = (b: Uint8Array): BModel => ({ t: 'bytes', v: b })
const int = (n: number | bigint): BModel => ({ t: 'int', v: BigInt(n) })
const dict = (entries: ReadonlyArray<readonly [string, BModel]>): BModel => {
  const seen = new Set<string>()
  return { t: 'dict', v: entries.filter(([k]) => !seen.has(k) && seen.add(k) !== undefined).map(([k, v]) => [new Uint8Array(Buffer.from(k, 'latin1')), v] as const) }
}
const list = (items: readonly BModel[]): BModel => ({ t: 'list', v: items })

/** Mostly right, sometimes wrong: `good` with weight 5, a near miss with 1, any value with 1. */
const mostly = (good: fc.Arbitrary<BModel>, near: fc.Arbitrary<BModel>): fc.Arbitrary<BModel> =>
  fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: near }, { weight: 1, arbitrary: bvalue })
const bytesOf = (length: number): fc.Arbitrary<BModel> => fc.uint8Array({ minLength: length, maxLength: length }).map(raw)
const id20 = mostly(bytesOf(20), fc.oneof(bytesOf(19), bytesOf(21), bytesOf(0), fc.integer().map(int)))
const token = mostly(fc.uint8Array({ maxLength: 8 }).map(raw), fc.oneof(bytesOf(64), bytesOf(65), fc.integer().map(int)))
const port = mostly(fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(6881)).map(int), fc.oneof(fc.constantFrom(-1, 0, 65536, 70000).map(int), fc.constant(text('6881'))))
const hostileEntries: fc.Arbitrary<Array<readonly [string, BModel]>> = fc.array(fc.tuple(
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...HOSTILE_KEYS) }, { weight: 2, arbitrary: fc.constantFrom('v', 'ip', 'ro', 'x') }),
  bvalue
), { maxLength: 2 })

/** A contact list of `n` entries of `size` bytes: local hosts (the guard lets only those through), any port. */
const compact = (size: 26 | 6, max: number, min = 0): fc.Arbitrary<Uint8Array> => fc.tuple(
  fc.array(fc.tuple(fc.uint8Array({ minLength: size - 6, maxLength: size - 6 }), fc.constantFrom(1, 2, 3), fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constant(6881))), { minLength: min, maxLength: max }),
  fc.oneof({ weight: 5, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: size - 1 }) })
).map(([contacts, tail]) => new Uint8Array(Buffer.concat([...contacts.map(([idPart, host, p]) => {
  const out = Buffer.alloc(size)
  Buffer.from(idPart).copy(out)
  out.set([127, 0, 0, host], size - 6)
  out.writeUInt16BE(p, size - 2)
  return out
}), Buffer.from(tail)])))

const nodes = mostly(
  fc.oneof(compact(26, 8), fc.integer({ min: 14, max: 40 }).chain((n) => compact(26, n, n))).map(raw),
  fc.oneof(compact(26, 2).map((b) => list([raw(b)])), fc.nat().map(int))
)
/** A compact peer (BEP 5 `values`): local, public, and undialable hosts (0.0.0.0, multicast, broadcast), any port. */
const peerContact = fc.tuple(
  fc.constantFrom('127.0.0.1', '127.0.0.2', '10.0.0.7', '1.2.3.4', '5.6.7.8', '0.0.0.0', '224.0.0.1', '255.255.255.255'),
  fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1, max: 40 }))
).map(([host, p]) => {
  const out = Buffer.alloc(6)
  out.set(host.split('.').map(Number))
  out.writeUInt16BE(p, 4)
  return raw(new Uint8Array(out))
})
const values = mostly(
  fc.array(peerContact, { maxLength: 20 }).map(list),
  fc.oneof(
    fc.array(fc.oneof(compact(6, 1).map(raw), bytesOf(18), bytesOf(3), fc.nat().map(int), bvalue), { maxLength: 12 }).map(list),
    fc.integer({ min: 90, max: 160 }).map((n) => list(Array.from({ length: n }, (_, i) => raw(new Uint8Array([127, 0, 0, 1, i >> 8, (i & 255) | 1]))))),
    bytesOf(6)
  )
)

const optional = (key: string, value: fc.Arbitrary<BModel>, freq = 4): fc.Arbitrary<Array<readonly [string, BModel]>> =>
  fc.option(value, { freq }).map((v) => v === null ? [] : [[key, v] as const])

const queryArgs = fc.tuple(optional('id', id20, 20), optional('target', id20), optional('info_hash', id20, 2), optional('token', token, 2), optional('port', port, 2),
  optional('implied_port', mostly(fc.constantFrom(0, 1).map(int), fc.constantFrom(-1, 2).map(int))), hostileEntries)
  .map((parts) => dict(parts.flat()))
const replyBody = fc.tuple(optional('id', id20, 20), optional('nodes', nodes, 2), optional('values', values, 2), optional('token', token, 2), hostileEntries)
  .map((parts) => dict(parts.flat()))
/** An error's `e`: BEP 5's [code, message], or lists of anything (a dictionary with its own `toString` among them). */
const errorBody = mostly(
  fc.tuple(fc.integer({ min: 200, max: 204 }), fc.string({ maxLength: 12 })).map(([code, msg]) => list([int(code), text(msg)])),
  fc.array(fc.oneof(bvalue, fc.constantFrom('toString', 'valueOf').map((k) => dict([[k, text('x')]]))), { maxLength: 3 }).map(list)
)

/** A KRPC message without its `t` (set by the caller: random, or the transaction id of a query we sent). */
type Kind = 'q' | 'r' | 'e'
const body = (kind: Kind): fc.Arbitrary<Array<readonly [string, BModel]>> => fc.tuple(
  fc.oneof({ weight: 8, arbitrary: fc.constant(text(kind)) }, { weight: 1, arbitrary: fc.constantFrom('z', '', 'qq').map(text) }, { weight: 1, arbitrary: bvalue }).map((y) => [['y', y] as const]),
  kind === 'q'
    ? fc.tuple(optional('q', mostly(fc.constantFrom(...KRPC_METHODS).map(text), fc.constantFrom('get', 'put', 'vote', 'PING').map(text)), 20), optional('a', mostly(queryArgs, fc.constant(text('x'))), 20)).map(([q, a]) => [...q, ...a])
    : kind === 'r'
      ? optional('r', mostly(replyBody, fc.constant(list([]))), 20)
      : optional('e', errorBody, 20),
  hostileEntries
).map((parts) => parts.flat())

/** `__proto__` whose value is itself a message: a decoder that assigns keys gives the outer dict its fields. */
const prototypeMessage = fc.constantFrom<Kind>('q', 'r', 'e').chain((kind) => body(kind)).map((inner) => [['__proto__', dict(inner)] as const])

const messageEntries: fc.Arbitrary<Array<readonly [string, BModel]>> = fc.tuple(
  fc.constantFrom<Kind>('q', 'r', 'e').chain(body),
  fc.oneof({ weight: 8, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: prototypeMessage })
).map(([a, b]) => [...a, ...b])

const tValue = mostly(fc.uint8Array({ minLength: 1, maxLength: 4 }).map(raw), fc.oneof(bytesOf(0), bytesOf(16), bytesOf(17), fc.integer().map(int)))

/** Encode with `t` first or last (the order of keys is the sender's), sorted or not. */
function encodeMessage (entries: ReadonlyArray<readonly [string, BModel]>, t: BModel | null, sorted: boolean): Buffer {
  return encodeModel(dict(t === null ? entries : [['t', t], ...entries]), sorted)
}

const generated = fc.tuple(messageEntries, fc.option(tValue, { freq: 20 }), fc.boolean()).map(([entries, t, sorted]) => new Uint8Array(encodeMessage(entries, t, sorted)))
const mutatedPackets = fc.tuple(generated, mutations).map(([bytes, ops]) => mutate(bytes, ops))

// ---- checkInbound and checkOutbound -----------------------------------------------------------------------------

type Decoded = Record<string, unknown>
const isBuffer = (v: unknown, min = 0, max = Infinity): boolean => Buffer.isBuffer(v) && v.length >= min && v.length <= max
const isObject = (v: unknown): v is Decoded => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v)
const isUint = (v: unknown, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max

const verdicts = new Map<string, number>()

/** Why the message, as the package decodes it, breaks a BEP 5 shape checkInbound promised; null when it does not. */
function shapeProblem (m: Decoded, y: Kind, method: string | undefined): string | null {
  const L = KRPC_LIMITS
  if (!isBuffer(m.t, 1, L.maxTransactionBytes)) return 't'
  if (!isBuffer(m.y) || String(m.y) !== y) return 'y'
  if (y === 'q') {
    if (!isBuffer(m.q) || String(m.q) !== method) return 'q'
    const a = m.a
    if (!isObject(a) || !isBuffer(a.id, 20, 20)) return 'a.id'
    if (method === 'find_node' && !isBuffer(a.target, 20, 20)) return 'a.target'
    if ((method === 'get_peers' || method === 'announce_peer') && !isBuffer(a.info_hash, 20, 20)) return 'a.info_hash'
    if (method === 'announce_peer') {
      if (!isBuffer(a.token, 0, L.maxTokenBytes)) return 'a.token'
      if (a.port !== undefined && !isUint(a.port, 65535)) return 'a.port'
      if (a.implied_port !== undefined && !isUint(a.implied_port, 1)) return 'a.implied_port'
      if (a.port === undefined && a.implied_port !== 1) return 'no port'
    }
  } else if (y === 'r') {
    const r = m.r
    if (!isObject(r) || !isBuffer(r.id, 20, 20)) return 'r.id'
    if (r.token !== undefined && !isBuffer(r.token, 0, L.maxTokenBytes)) return 'r.token'
    if (r.nodes !== undefined && !(isBuffer(r.nodes, 0, L.maxNodes * 26) && (r.nodes as Buffer).length % 26 === 0)) return 'r.nodes'
    if (r.values !== undefined && !(Array.isArray(r.values) && r.values.length <= L.maxValues && r.values.every((v) => isBuffer(v, 6, 6)))) return 'r.values'
  } else {
    // what k-rpc-socket does with an error reply to a query of ours
    try {
      if (Array.isArray(m.e)) String(m.e.join(' '))
    } catch (err) {
      return `e (the package's e.join throws: ${(err as Error).message})`
    }
  }
  return null
}

function inbound (packet: Uint8Array): void {
  const buf = Buffer.from(packet)
  const verdict = noHang(() => checkInbound(buf))
  if (!verdict.ok) {
    if (typeof verdict.reason !== 'string' || verdict.reason === '') throw new Error('a refusal without a reason')
    verdicts.set('refused', (verdicts.get('refused') ?? 0) + 1)
    return
  }
  verdicts.set(`${verdict.y}${verdict.trimmed ? ' trimmed' : ''}`, (verdicts.get(`${verdict.y}${verdict.trimmed ? ' trimmed' : ''}`) ?? 0) + 1)
  if (!verdict.trimmed && verdict.packet !== buf) throw new Error('an untrimmed packet was not passed as it came')
  let decoded: unknown
  try {
    decoded = noHang(() => packageBencode.decode(verdict.packet))
  } catch (err) {
    throw new Error(`passed a packet the package cannot decode: ${(err as Error).message}`)
  }
  if (!isObject(decoded)) throw new Error('passed a packet that is not a dictionary to the package')
  const problem = shapeProblem(decoded, verdict.y, verdict.y === 'q' ? verdict.method : undefined)
  if (problem !== null) throw new Error(`passed a ${verdict.y} whose ${problem} breaks its BEP 5 shape, as the package decodes it`)
  if (!verdict.t.equals(decoded.t as Buffer)) throw new Error('the verdict\'s t is not the packet\'s')
  const again = checkInbound(verdict.packet)
  if (!again.ok || again.trimmed || again.y !== verdict.y) throw new Error(`what it passed does not pass again unchanged (${again.ok ? `trimmed ${String(again.trimmed)}` : again.reason})`)
}

t.test('checkInbound: random bytes, generated and mutated messages — refused, or passed in the shapes BEP 5 defines', async (t) => {
  await fuzz(t, 'krpc-bytes', fc.uint8Array({ maxLength: 200 }), bytesCodec, 1000, inbound)
  await fuzz(t, 'krpc-generated', generated, bytesCodec, 2000, inbound)
  await fuzz(t, 'krpc-mutated', mutatedPackets, bytesCodec, 2000, inbound)
  t.comment(JSON.stringify(Object.fromEntries(verdicts)))
  t.ok(['q', 'r', 'e', 'r trimmed', 'refused'].every((k) => (verdicts.get(k) ?? 0) > 0), 'the generators reach every verdict')
})

t.test('checkOutbound: never throws; our replies carry at most maxValues peers', async (t) => {
  await fuzz(t, 'krpc-outbound', fc.oneof(generated, mutatedPackets), bytesCodec, 1000, (packet) => {
    const out = noHang(() => checkOutbound(Buffer.from(packet)))
    if (out.y === 'r') {
      const r = (packageBencode.decode(out.packet) as Decoded).r
      if (isObject(r) && Array.isArray(r.values) && r.values.length > KRPC_LIMITS.maxValues) throw new Error(`a reply with ${r.values.length} values`)
    }
  })
})

// ---- the package behind our checks ------------------------------------------------------------------------

/** A dgram socket that sends nothing anywhere: the test reads what the package sends and writes what it receives. */
class FakeUdp extends EventEmitter {
  readonly sent: Array<{ host: string, port: number, packet: Buffer }> = []
  send (buf: Buffer, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void): void {
    this.sent.push({ host, port, packet: Buffer.from(buf.subarray(offset, offset + length)) })
    if (cb !== undefined) process.nextTick(cb, null)
  }

  bind (_port?: number, _host?: string, cb?: () => void): void {
    process.nextTick(() => { this.emit('listening'); cb?.() })
  }

  address (): { address: string, family: string, port: number } { return { address: '127.0.0.1', family: 'IPv4', port: 7000 } }
  close (): void { process.nextTick(() => this.emit('close')) }
}

type DhtStep =
  /** A datagram from 127.0.0.`from`. */
  | { readonly datagram: Uint8Array, readonly from: number }
  /** An answer to the `which`-th query the package sent (its t and address), then cut by `ops`. */
  | { readonly answer: ReadonlyArray<readonly [string, BModel]>, readonly which: number, readonly ops: readonly Mutation[] }
  | { readonly addNode: number }
  | { readonly join: number }
  | { readonly advance: number }

const BOUNDS = { maxPeersPerLookup: 5, maxQueriesPerSecond: 4 }
const infoHashOf = (n: number): Buffer => Buffer.alloc(20, n + 1)

/** Honest-looking answers (right id, local nodes and peers, a token) and everything else `body('r'|'e')` makes. */
const answers: fc.Arbitrary<Array<readonly [string, BModel]>> = fc.oneof(
  // the id of the node the tests add (k-rpc checks a reply's id against the node it asked)
  { weight: 3, arbitrary: fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.constant(raw(new Uint8Array(20).fill(7))) }, { weight: 1, arbitrary: bytesOf(20) }), compact(26, 4), fc.array(peerContact, { maxLength: 20 }), fc.uint8Array({ minLength: 1, maxLength: 8 }))
    .map(([id, ns, vs, tok]) => [['y', text('r')], ['r', dict([['id', id], ['nodes', raw(ns)], ['values', list(vs)], ['token', raw(tok)]])]] as const) },
  { weight: 3, arbitrary: body('r') },
  { weight: 1, arbitrary: body('e') },
  { weight: 1, arbitrary: messageEntries }
).map((entries) => [...entries])

/** A node that answers its ping, a torrent joined, its get_peers answered: where hostile answers do most harm. */
const honestStart: fc.Arbitrary<DhtStep[]> = fc.tuple(answers, answers).map(([pong, peersReply]) => [
  { addNode: 1 },
  { answer: [['y', text('r')], ['r', dict([['id', raw(new Uint8Array(20).fill(7))]])]], which: 0, ops: [] },
  { join: 0 },
  { answer: pong, which: 0, ops: [] },
  { answer: peersReply, which: 0, ops: [] }
])

const dhtSteps: fc.Arbitrary<DhtStep[]> = fc.tuple(fc.oneof(fc.constant([]), honestStart), fc.array(fc.oneof(
  { weight: 3, arbitrary: fc.record({ datagram: fc.oneof(generated, mutatedPackets), from: fc.constantFrom(1, 2, 3) }) },
  { weight: 5, arbitrary: fc.record({ answer: answers, which: fc.oneof(fc.constant(0), fc.nat()), ops: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: mutations }) }) },
  { weight: 1, arbitrary: fc.record({ addNode: fc.constantFrom(1, 2, 3) }) },
  { weight: 1, arbitrary: fc.record({ join: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ advance: fc.constantFrom(0, 500, 1000, 60_000) }) }
), { maxLength: 30 })).map(([start, rest]) => [...start, ...rest])

const dhtCodec: Codec<DhtStep[]> = {
  save: (steps) => steps.map((s) => 'datagram' in s ? { datagram: bytesCodec.save(s.datagram), from: s.from }
    : 'answer' in s ? { answer: s.answer.map(([k, v]) => [k, bytesCodec.save(encodeModel(v))]), which: s.which, ops: s.ops } : s),
  load: (json) => (json as Array<Record<string, unknown>>).map((s): DhtStep => 'datagram' in s
    ? { datagram: bytesCodec.load(s.datagram), from: s.from as number }
    : 'answer' in s
      ? { answer: (s.answer as Array<[string, unknown]>).map(([k, v]) => [k, decodeModel(bytesCodec.load(v))] as const), which: s.which as number, ops: s.ops as Mutation[] }
      : s as DhtStep)
}

const dhtOutcomes = new Map<string, number>()

async function runDht (steps: readonly DhtStep[]): Promise<void> {
  const clock = new FakeClock()
  const udp = new FakeUdp()
  const dht = new Dht({
    host: '127.0.0.1', statePath: null, env: { [NO_PUBLIC_DHT_ENV]: '1' }, bootstrap: [], clock,
    nodeId: Buffer.alloc(20, 0x42), createSocket: () => udp as unknown as DgramSocket, ...BOUNDS
  })
  const peers: Array<{ host: string, port: number, infoHash: string }> = []
  dht.on('peer', (address, infoHash) => { peers.push({ ...address, infoHash: infoHash.toString('hex') }) })
  dht.on('warning', () => {})
  const tick = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve)) }
  try {
    await dht.start()
    let answered = 0
    for (const step of steps) {
      const sentBefore = udp.sent.length
      try {
        if ('datagram' in step) {
          udp.emit('message', Buffer.from(step.datagram), { address: `127.0.0.${step.from}`, family: 'IPv4', port: 6881, size: step.datagram.length })
        } else if ('answer' in step) {
          const queries = udp.sent.filter((s) => { try { return String((packageBencode.decode(s.packet) as Decoded).y) === 'q' } catch { return false } })
          // `which` counts back from the latest query
          const query = queries[queries.length - 1 - (step.which % Math.max(1, queries.length))]
          if (query === undefined) continue
          const tid = (packageBencode.decode(query.packet) as Decoded).t as Buffer
          const packet = mutate(encodeMessage(step.answer, raw(tid), false), step.ops)
          udp.emit('message', Buffer.from(packet), { address: query.host, family: 'IPv4', port: query.port, size: packet.length })
          answered++
        } else if ('addNode' in step) {
          dht.addNode({ host: `127.0.0.${step.addNode}`, port: 6881 })
        } else if ('join' in step) {
          dht.join({ infoHash: infoHashOf(step.join), port: 6881, private: false }).refresh()
        } else {
          clock.advance(step.advance)
        }
      } catch (err) {
        throw new Error(`the package threw out of the socket's handler: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
      }
      await tick()
      for (const s of udp.sent.slice(sentBefore)) {
        if (!s.host.startsWith('127.')) throw new Error(`a datagram to ${s.host} under the guard`)
        if (s.packet.length > 4 * KRPC_LIMITS.maxPacketBytes) throw new Error(`a datagram of ${s.packet.length} bytes`)
      }
    }
    for (const p of peers) {
      if (isIP(p.host) !== 4) throw new Error(`a peer ${JSON.stringify(p.host)} that is not an IPv4 literal`)
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`a peer port ${p.port}`)
      if (isUndialable(p.host)) throw new Error(`the undialable peer ${p.host}`)
    }
    // one round per info hash here (the clock never reaches announceInterval): at most maxPeersPerLookup each
    const perHash = new Map<string, number>()
    for (const p of peers) perHash.set(p.infoHash, (perHash.get(p.infoHash) ?? 0) + 1)
    for (const [hash, n] of perHash) if (n > BOUNDS.maxPeersPerLookup) throw new Error(`${n} peers for ${hash} in one round`)
    const stats = dht.stats()
    for (const [name, n] of Object.entries(stats)) if (!Number.isSafeInteger(n) || n < 0) throw new Error(`stats.${name} ${n}`)
    const end = peers.length > 0 ? 'peers' : dht.nodeCount > 0 ? 'nodes' : answered > 0 ? 'answered' : 'quiet'
    dhtOutcomes.set(end, (dhtOutcomes.get(end) ?? 0) + 1)
  } finally {
    await dht.close()
  }
}

t.test('a real Dht behind the checks: hostile queries and hostile answers to its own queries throw nothing, peers well-formed and bounded', async (t) => {
  await fuzz(t, 'krpc-dht', dhtSteps, dhtCodec, 200, runDht)
  t.comment(JSON.stringify(Object.fromEntries(dhtOutcomes)))
  t.ok((dhtOutcomes.get('peers') ?? 0) > 0, 'sessions reach peers from get_peers answers')
})

t.test('a query flood from one sender: answered at most maxQueriesPerSecond a fake second', async (t) => {
  const floods = fc.record({ n: fc.integer({ min: 1, max: 20 }), method: fc.constantFrom(...KRPC_METHODS.slice(0, 3)) })
  await fuzz(t, 'krpc-flood', floods, { save: (x) => x, load: (j) => j as { n: number, method: typeof KRPC_METHODS[number] } }, 30, async ({ n, method }) => {
    const udp = new FakeUdp()
    const dht = new Dht({ host: '127.0.0.1', statePath: null, env: { [NO_PUBLIC_DHT_ENV]: '1' }, bootstrap: [], clock: new FakeClock(), createSocket: () => udp as unknown as DgramSocket, ...BOUNDS })
    try {
      await dht.start()
      for (let i = 0; i < n; i++) {
        const a = dict([['id', raw(new Uint8Array(20).fill(i + 1))], ['target', raw(new Uint8Array(20))], ['info_hash', raw(new Uint8Array(20))]])
        const packet = encodeMessage([['y', text('q')], ['q', text(method)], ['a', a]], raw(new Uint8Array([i, 1])), true)
        udp.emit('message', packet, { address: '127.0.0.9', family: 'IPv4', port: 6881, size: packet.length })
      }
      await new Promise((resolve) => setImmediate(resolve))
      const replies = udp.sent.filter((s) => s.host === '127.0.0.9').length
      if (replies !== Math.min(n, BOUNDS.maxQueriesPerSecond)) throw new Error(`${replies} replies to ${n} queries in one second`)
    } finally {
      await dht.close()
    }
  })
})
