import t from 'tap'
import { createHash } from 'node:crypto'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'
import {
  deriveKeys,
  MAX_PADDING,
  MSE_PRIME,
  MseInitiator,
  MseKeyPair,
  mseHash,
  MseResponder,
  createRc4,
  SkeyIndex,
  type MseMethod,
  type Rc4
} from '../lib/wire/mse/index.js'
import { handshakeInMemory, seededRandomBytes, SPLITS } from './helpers/mse.js'

const INFO_HASH = createHash('sha1').update('a torrent').digest()
const OTHER_HASH = createHash('sha1').update('another torrent').digest()

function pair (opts: { seed: number, initiator?: MseMethod[], responder?: MseMethod[], ia?: Buffer }): { a: MseInitiator, b: MseResponder } {
  const a = new MseInitiator({
    infoHash: INFO_HASH,
    methods: opts.initiator ?? ['rc4', 'plaintext'],
    random: seededRandomBytes(opts.seed),
    ...(opts.ia !== undefined ? { initialPayload: opts.ia } : {})
  })
  const b = new MseResponder({
    findInfoHash: new SkeyIndex([OTHER_HASH, INFO_HASH]).find,
    methods: opts.responder ?? ['rc4', 'plaintext'],
    random: seededRandomBytes(opts.seed + 1000)
  })
  return { a, b }
}

/** Both directions carry `text` after the handshake: what one side encrypts the other decrypts. */
function roundTrip (from: Rc4 | null, to: Rc4 | null, text: string): string {
  const sent = from === null ? Buffer.from(text) : from.update(Buffer.from(text))
  if (from !== null) t.not(sent.toString(), text, 'the payload is not sent in clear')
  return (to === null ? sent : to.update(sent)).toString()
}

for (const [name, makeSplit] of Object.entries(SPLITS)) {
  for (const [initiator, responder, expected] of [
    [['rc4', 'plaintext'], ['rc4', 'plaintext'], 'rc4'],
    [['rc4', 'plaintext'], ['plaintext', 'rc4'], 'plaintext'],
    [['plaintext'], ['rc4', 'plaintext'], 'plaintext'],
    [['rc4'], ['plaintext', 'rc4'], 'rc4']
  ] as Array<[MseMethod[], MseMethod[], MseMethod]>) {
    t.test(`handshake fed ${name}: initiator offers ${initiator.join('+')}, responder prefers ${responder.join('>')} → ${expected}`, async t => {
      const { a, b } = pair({ seed: 7, initiator, responder })
      const { initiator: ra, responder: rb } = handshakeInMemory(a, b, makeSplit(3))
      t.equal(ra.method, expected)
      t.equal(rb.method, expected)
      t.same(rb.infoHash, INFO_HASH, 'the responder found the torrent from req2 xor req3')
      t.equal(ra.rest.length, 0)
      t.equal(rb.rest.length, 0)
      t.equal(rb.initialPayload.length, 0, 'no IA by default')
      t.equal(ra.encrypt === null, expected === 'plaintext')
      t.equal(roundTrip(ra.encrypt, rb.decrypt, 'A to B: BitTorrent handshake'), 'A to B: BitTorrent handshake')
      t.equal(roundTrip(rb.encrypt, ra.decrypt, 'B to A: bitfield'), 'B to A: bitfield')
    })
  }
}

t.test('an initial payload (IA) reaches the responder decrypted, whatever the method', async t => {
  for (const method of ['rc4', 'plaintext'] as const) {
    for (const [name, makeSplit] of Object.entries(SPLITS)) {
      const ia = Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.alloc(48, 1)])
      const { a, b } = pair({ seed: 11, initiator: [method], ia })
      const { responder: rb, sentByA } = handshakeInMemory(a, b, makeSplit(5))
      t.same(rb.initialPayload, ia, `${method}, fed ${name}: IA is the initiator's BitTorrent handshake`)
      t.equal(sentByA.indexOf(ia), -1, 'IA went encrypted')
    }
  }
})

t.test('a transcript replayed with payload behind it gives the same answer and leaves the payload as rest', async t => {
  for (const method of ['rc4', 'plaintext'] as const) {
    const first = pair({ seed: 21, initiator: [method] })
    const run = handshakeInMemory(first.a, first.b, SPLITS.whole!(0))
    // payload each side sends right behind its last handshake bytes (the other side reads it in the same chunk)
    const fromA = Buffer.from('initiator payload: 68-byte handshake and more')
    const fromB = Buffer.from('responder payload')
    const wireA = run.initiator.encrypt?.update(fromA) ?? fromA
    const wireB = run.responder.encrypt?.update(fromB) ?? fromB
    for (const [name, makeSplit] of Object.entries(SPLITS)) {
      // the responder again (same randomness), given A's whole transcript and payload
      const again = pair({ seed: 21, initiator: [method] })
      const outB: Buffer[] = []
      const laterB: Buffer[] = [] // what a transport reads after the handshake is done
      for (const part of makeSplit(9)(Buffer.concat([run.sentByA, wireA]))) {
        if (again.b.result !== null) { laterB.push(part); continue }
        const out = again.b.receive(part)
        if (out !== null) outB.push(out)
      }
      const rb = again.b.result
      t.ok(rb !== null, `${method}, fed ${name}: the responder completed`)
      t.same(Buffer.concat(outB), run.sentByB, 'it sent exactly the same bytes')
      const payloadB = Buffer.concat([rb!.rest, ...laterB])
      t.same(rb!.decrypt?.update(payloadB) ?? payloadB, fromA, 'the payload behind the handshake is its rest (and what follows)')
      if (name === 'whole') t.equal(rb!.rest.length, fromA.length, 'fed whole, all of the payload is rest')

      // the initiator again, given B's whole transcript and payload
      const outA: Buffer[] = [again.a.start()]
      const laterA: Buffer[] = []
      for (const part of makeSplit(10)(Buffer.concat([run.sentByB, wireB]))) {
        if (again.a.result !== null) { laterA.push(part); continue }
        const out = again.a.receive(part)
        if (out !== null) outA.push(out)
      }
      const ra = again.a.result
      t.ok(ra !== null, `${method}, fed ${name}: the initiator completed`)
      t.same(Buffer.concat(outA), run.sentByA, 'it sent exactly the same bytes')
      const payloadA = Buffer.concat([ra!.rest, ...laterA])
      t.same(ra!.decrypt?.update(payloadA) ?? payloadA, fromB, 'the responder\'s payload is the initiator\'s rest (and what follows)')
      if (name === 'whole') t.equal(ra!.rest.length, fromB.length)
    }
  }
})

t.test('the wire format: req1, req2 xor req3, and ENCRYPT(VC, crypto_provide, len(PadC), len(IA)) where the spec puts them', async t => {
  const random = seededRandomBytes(31)
  const a = new MseInitiator({ infoHash: INFO_HASH, methods: ['rc4', 'plaintext'], random, maxPadding: 0 })
  const ya = a.start()
  t.equal(ya.length, 96, 'no padding when maxPadding is 0')
  const peer = new MseKeyPair(Buffer.alloc(20, 0x42))
  const step3 = a.receive(peer.publicKey)
  t.ok(step3 !== null)
  const s = peer.sharedSecret(ya)
  t.same(step3!.subarray(0, 20), mseHash('req1', s))
  const req3 = mseHash('req3', s)
  const req2 = mseHash('req2', INFO_HASH)
  t.same(Buffer.from(step3!.subarray(20, 40).map((x, i) => x ^ req3[i]!)), req2)
  const { keyA } = deriveKeys(s, INFO_HASH)
  t.same(keyA, createHash('sha1').update('keyA').update(s).update(INFO_HASH).digest())
  const clear = createRc4(keyA, { discard: 1024 }).update(step3!.subarray(40))
  t.same(clear, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0]), 'VC, provide = rc4|plaintext, no PadC, no IA')
  t.equal(step3!.length, 56)
})

// ---- hostile input ------------------------------------------------------------------------------------------

const P = MSE_PRIME
const pMinus1 = Buffer.from(P); pMinus1[95] = pMinus1[95]! - 1

/** A well-behaved peer's keys, to build valid-looking messages that go wrong later. */
function honestResponderBytes (ourYa: Buffer, tamper: { select?: number, padD?: number, vcFlip?: boolean, padB?: number }): Buffer {
  const keys = new MseKeyPair(Buffer.alloc(20, 7))
  const s = keys.sharedSecret(ourYa.subarray(0, 96))
  const { keyB } = deriveKeys(s, INFO_HASH)
  const enc = createRc4(keyB, { discard: 1024 })
  const step4 = Buffer.alloc(14)
  if (tamper.vcFlip === true) step4[0] = 1
  step4.writeUInt32BE(tamper.select ?? 2, 8)
  step4.writeUInt16BE(tamper.padD ?? 0, 12)
  return Buffer.concat([keys.publicKey, Buffer.alloc(tamper.padB ?? 0, 0xaa), enc.update(step4), Buffer.alloc(600)])
}

function honestInitiatorBytes (tamper: { provide?: number, padC?: number, vcFlip?: boolean, padA?: number, infoHash?: Buffer }, theirYb: Buffer | null): Buffer {
  const keys = new MseKeyPair(Buffer.alloc(20, 9))
  if (theirYb === null) return keys.publicKey
  const s = keys.sharedSecret(theirYb.subarray(0, 96))
  const skey = tamper.infoHash ?? INFO_HASH
  const { keyA } = deriveKeys(s, skey)
  const enc = createRc4(keyA, { discard: 1024 })
  // VC, crypto_provide, len(PadC), PadC (only when within the limit: a longer one is refused at its length), len(IA) = 0
  const padC = tamper.padC ?? 0
  const fields = Buffer.alloc(8 + 4 + 2 + (padC <= MAX_PADDING ? padC : 0) + 2)
  if (tamper.vcFlip === true) fields[7] = 0x80
  fields.writeUInt32BE(tamper.provide ?? 2, 8)
  fields.writeUInt16BE(padC, 12)
  const req3 = mseHash('req3', s)
  const x = Buffer.from(mseHash('req2', skey).map((v, i) => v ^ req3[i]!))
  return Buffer.concat([Buffer.alloc(tamper.padA ?? 0, 0x55), mseHash('req1', s), x, enc.update(fields), Buffer.alloc(700)])
}

t.test('hostile handshakes end with their code, within bounded memory', async t => {
  const garbage = seededRandomBytes(99)(4096)
  const cases: Array<{ name: string, run: () => void, code: ErrorCode }> = [
    { name: 'responder: a DH key of zeros', code: 'MSE_BAD_KEY', run: () => { pair({ seed: 1 }).b.receive(Buffer.alloc(96)) } },
    { name: 'responder: a DH key of one', code: 'MSE_BAD_KEY', run: () => { const k = Buffer.alloc(96); k[95] = 1; pair({ seed: 1 }).b.receive(k) } },
    { name: 'responder: a DH key of P-1', code: 'MSE_BAD_KEY', run: () => { pair({ seed: 1 }).b.receive(pMinus1) } },
    { name: 'responder: a DH key of all ones (over P)', code: 'MSE_BAD_KEY', run: () => { pair({ seed: 1 }).b.receive(Buffer.alloc(96, 0xff)) } },
    { name: 'initiator: a DH key equal to P', code: 'MSE_BAD_KEY', run: () => { const { a } = pair({ seed: 1 }); a.start(); a.receive(P) } },
    { name: 'responder: random garbage, req1 never matches', code: 'MSE_NO_SYNC', run: () => { pair({ seed: 1 }).b.receive(garbage) } },
    {
      name: 'responder: garbage byte by byte (gives up at the window, not later)',
      code: 'MSE_NO_SYNC',
      run: () => {
        const { b } = pair({ seed: 1 })
        for (let i = 0; i < garbage.length; i++) {
          b.receive(garbage.subarray(i, i + 1))
          if (i > 96 + MAX_PADDING + 20) throw new Error(`still parsing at byte ${i}`)
        }
      }
    },
    { name: 'initiator: random garbage, the VC never matches', code: 'MSE_NO_SYNC', run: () => { const { a } = pair({ seed: 1 }); a.start(); a.receive(garbage) } },
    {
      name: 'responder: PadA of 513 bytes (over the limit)',
      code: 'MSE_NO_SYNC',
      run: () => {
        const { b } = pair({ seed: 2 })
        const yb = b.receive(honestInitiatorBytes({}, null))
        b.receive(honestInitiatorBytes({ padA: MAX_PADDING + 1 }, yb))
      }
    },
    {
      name: 'initiator: PadB of 513 bytes (over the limit)',
      code: 'MSE_NO_SYNC',
      run: () => { const { a } = pair({ seed: 2 }); const ya = a.start(); a.receive(honestResponderBytes(ya, { padB: MAX_PADDING + 1 })) }
    },
    {
      name: 'responder: PadA of exactly 512 bytes is fine, then PadC over 512',
      code: 'MSE_BAD_PADDING',
      run: () => {
        const { b } = pair({ seed: 2 })
        const yb = b.receive(honestInitiatorBytes({}, null))
        b.receive(honestInitiatorBytes({ padA: MAX_PADDING, padC: 513 }, yb))
      }
    },
    {
      name: 'initiator: PadD over 512',
      code: 'MSE_BAD_PADDING',
      run: () => { const { a } = pair({ seed: 2 }); const ya = a.start(); a.receive(honestResponderBytes(ya, { padD: 0xffff })) }
    },
    {
      name: 'initiator: crypto_select of a method we did not offer',
      code: 'MSE_BAD_SELECT',
      run: () => {
        const a = new MseInitiator({ infoHash: INFO_HASH, methods: ['rc4'], random: seededRandomBytes(3) })
        const ya = a.start()
        a.receive(honestResponderBytes(ya, { select: 1 }))
      }
    },
    {
      name: 'initiator: crypto_select with two bits',
      code: 'MSE_BAD_SELECT',
      run: () => { const { a } = pair({ seed: 3 }); const ya = a.start(); a.receive(honestResponderBytes(ya, { select: 3 })) }
    },
    {
      name: 'initiator: crypto_select of an unknown method',
      code: 'MSE_BAD_SELECT',
      run: () => { const { a } = pair({ seed: 3 }); const ya = a.start(); a.receive(honestResponderBytes(ya, { select: 0x10 })) }
    },
    {
      name: 'responder: a crypto_provide with nothing we accept',
      code: 'MSE_NO_METHOD',
      run: () => {
        const b = new MseResponder({ findInfoHash: new SkeyIndex([INFO_HASH]).find, methods: ['rc4'], random: seededRandomBytes(4) })
        const yb = b.receive(honestInitiatorBytes({}, null))
        b.receive(honestInitiatorBytes({ provide: 1 }, yb))
      }
    },
    {
      name: 'responder: an SKEY that is none of our torrents',
      code: 'UNKNOWN_INFO_HASH',
      run: () => {
        const { b } = pair({ seed: 5 })
        const yb = b.receive(honestInitiatorBytes({}, null))
        b.receive(honestInitiatorBytes({ infoHash: Buffer.alloc(20, 3) }, yb))
      }
    },
    {
      name: 'responder: a VC that decrypts to non-zero',
      code: 'MSE_BAD_VC',
      run: () => {
        const { b } = pair({ seed: 6 })
        const yb = b.receive(honestInitiatorBytes({}, null))
        b.receive(honestInitiatorBytes({ vcFlip: true }, yb))
      }
    }
  ]
  for (const c of cases) {
    const started = process.hrtime.bigint()
    let caught: unknown = null
    try { c.run() } catch (err) { caught = err }
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.ok(isZentorrentError(caught, c.code), `${c.name}: ${c.code}`, { got: caught instanceof Error ? `${(caught as { code?: string }).code ?? ''} ${caught.message}` : caught })
    t.ok(ms < 1000, `${c.name}: decided in ${ms.toFixed(1)} ms`)
  }
})

t.test('the honest versions of the hostile peers complete (the table fails for the reason it names)', async t => {
  const { a } = pair({ seed: 2 })
  const ya = a.start()
  a.receive(honestResponderBytes(ya, { padB: MAX_PADDING }))
  t.equal(a.result?.method, 'rc4', 'PadB of exactly 512 bytes is accepted')
  const { b } = pair({ seed: 2 })
  const yb = b.receive(honestInitiatorBytes({}, null))
  b.receive(honestInitiatorBytes({ padA: MAX_PADDING, padC: 512 }, yb))
  t.equal(b.result?.method, 'rc4', 'PadA and PadC of exactly 512 bytes are accepted')
  t.same(b.result?.infoHash, INFO_HASH)
})

t.test('bad options are refused up front', async t => {
  t.throws(() => new MseInitiator({ infoHash: Buffer.alloc(19), methods: ['rc4'] }), { code: 'BAD_ARGUMENT' })
  t.throws(() => new MseInitiator({ infoHash: INFO_HASH, methods: [] }), { code: 'BAD_ARGUMENT' })
  t.throws(() => new MseInitiator({ infoHash: INFO_HASH, maxPadding: 513 }), { code: 'BAD_ARGUMENT' })
  t.throws(() => new MseInitiator({ infoHash: INFO_HASH, initialPayload: Buffer.alloc(65536) }), { code: 'BAD_ARGUMENT' })
  const a = new MseInitiator({ infoHash: INFO_HASH })
  t.throws(() => a.receive(Buffer.alloc(1)), { code: 'BAD_ARGUMENT' }, 'receive before start')
  const { a: a2, b: b2 } = pair({ seed: 40 })
  handshakeInMemory(a2, b2, SPLITS.whole!(0))
  t.throws(() => a2.receive(Buffer.alloc(1)), { code: 'BAD_ARGUMENT' }, 'receive after the end (the rest belongs to the transport)')
  t.throws(() => b2.receive(Buffer.alloc(1)), { code: 'BAD_ARGUMENT' })
})
