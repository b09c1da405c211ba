import t from 'tap'
import { FakeClock } from './helpers/fake-clock.js'
import { createHash } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'
import type { Wire } from '../lib/wire/index.js'
import {
  deriveKeys,
  EncryptedStream,
  MseKeyPair,
  mseHash,
  mseInitiate,
  mseRespond,
  createRc4,
  SkeyIndex,
  type MseConnection,
  type MseMethod
} from '../lib/wire/mse/index.js'
import { bounded, seededRandomBytes, SPLITS } from './helpers/mse.js'
import { chunkedPair, tcpPair } from './helpers/sockets.js'
import { downloadWire, serveWire } from './helpers/wire-peers.js'

const INFO_HASH = createHash('sha1').update('negotiate').digest()
const PIECE_LENGTH = 32768
const DATA = seededRandomBytes(77)(2 * PIECE_LENGTH)

function serve (conn: MseConnection): Wire {
  return serveWire(conn.stream, conn.infoHash, { data: DATA, pieceLength: PIECE_LENGTH })
}

async function download (stream: Duplex): Promise<Buffer> {
  return await downloadWire(stream, INFO_HASH, DATA.length, PIECE_LENGTH)
}

for (const [name, makeSplit] of Object.entries(SPLITS)) {
  for (const method of ['rc4', 'plaintext'] as MseMethod[]) {
    t.test(`${method}: a Wire downloads through mseInitiate ↔ mseRespond, bytes arriving ${name}`, async t => {
      const [a, b] = chunkedPair(makeSplit(17))
      t.teardown(() => { a.destroy(); b.destroy() })
      const [initiated, responded] = await bounded(Promise.all([
        mseInitiate(a, { infoHash: INFO_HASH, methods: [method] }),
        mseRespond(b, { findInfoHash: new SkeyIndex([INFO_HASH]).find })
      ]), 20_000, 'handshake')
      t.equal(initiated.method, method)
      t.equal(responded.method, method)
      t.same(responded.infoHash, INFO_HASH)
      t.equal(initiated.stream instanceof EncryptedStream, method === 'rc4', 'rc4 gives an EncryptedStream, plaintext the socket itself')
      const server = serve(responded)
      t.teardown(() => { server.destroy() })
      t.same(await bounded(download(initiated.stream), 20_000, 'download'), DATA, 'every byte arrived intact')
    })
  }
}

t.test('over TCP: the bytes on the wire are encrypted (rc4) or the BitTorrent handshake in clear (plaintext)', async t => {
  for (const method of ['rc4', 'plaintext'] as MseMethod[]) {
    const [a, b] = await tcpPair(t)
    const seen: Buffer[] = []
    b.on('data', (c: Buffer) => { seen.push(Buffer.from(c)) })
    const [initiated, responded] = await bounded(Promise.all([
      mseInitiate(a, { infoHash: INFO_HASH, methods: [method] }),
      mseRespond(b, { findInfoHash: new SkeyIndex([INFO_HASH]).find })
    ]), 10_000, 'handshake')
    const server = serve(responded)
    t.same(await bounded(download(initiated.stream), 10_000, 'download'), DATA)
    server.destroy()
    const all = Buffer.concat(seen)
    t.equal(all.indexOf('BitTorrent protocol') >= 0, method === 'plaintext', `${method}: the protocol string is ${method === 'plaintext' ? '' : 'not '}visible`)
    t.equal(all.indexOf(INFO_HASH) >= 0, method === 'plaintext', `${method}: the info hash is ${method === 'plaintext' ? '' : 'not '}visible`)
  }
})

t.test('an initial payload given by the initiator comes out of the responder\'s stream first', async t => {
  for (const method of ['rc4', 'plaintext'] as MseMethod[]) {
    const [a, b] = await tcpPair(t)
    const ia = Buffer.from('first bytes in IA')
    const [initiated, responded] = await bounded(Promise.all([
      mseInitiate(a, { infoHash: INFO_HASH, methods: [method], initialPayload: ia }),
      mseRespond(b, { findInfoHash: new SkeyIndex([INFO_HASH]).find })
    ]), 10_000, 'handshake')
    initiated.stream.write(' then the stream')
    const got: Buffer[] = []
    responded.stream.resume() // a plaintext stream is the socket, left paused (pump resumes it)
    await bounded(new Promise<void>((resolve) => {
      responded.stream.on('data', (c: Buffer) => {
        got.push(c)
        if (Buffer.concat(got).length >= ia.length + 16) resolve()
      })
    }), 5000, 'payload')
    t.equal(Buffer.concat(got).toString(), 'first bytes in IA then the stream', method)
    initiated.stream.destroy()
    responded.stream.destroy()
  }
})

// ---- hostile peers over TCP ----------------------------------------------------------------------------------

interface HostileCase {
  name: string
  /** Which side we run; the test plays the other with `peer`. */
  role: 'initiator' | 'responder'
  /** The hostile peer: given its socket, send what it sends. */
  peer: (socket: Duplex) => void
  code: ErrorCode
  timeoutMs?: number
  methods?: MseMethod[]
}

function afterFirst (socket: Duplex, bytes: number, then: (got: Buffer) => void): void {
  const got: Buffer[] = []
  let done = false
  socket.on('data', (c: Buffer) => {
    got.push(c)
    if (!done && Buffer.concat(got).length >= bytes) { done = true; then(Buffer.concat(got)) }
  })
}

/** A responder that answers honestly up to step 4, then tampers with it. */
function badResponder (tamper: { select?: number }) {
  return (socket: Duplex): void => {
    afterFirst(socket, 96, (ya) => {
      const keys = new MseKeyPair(Buffer.alloc(20, 7))
      const { keyB } = deriveKeys(keys.sharedSecret(ya.subarray(0, 96)), INFO_HASH)
      const step4 = Buffer.alloc(14)
      step4.writeUInt32BE(tamper.select ?? 2, 8)
      socket.write(Buffer.concat([keys.publicKey, createRc4(keyB, { discard: 1024 }).update(step4)]))
    })
  }
}

const CASES: HostileCase[] = [
  {
    name: 'garbage instead of a DH key (and then a flood)',
    role: 'responder',
    peer: (s) => { const junk = seededRandomBytes(5)(64 * 1024); for (let i = 0; i < 16; i++) s.write(junk) },
    code: 'MSE_NO_SYNC'
  },
  {
    name: 'a DH key over P',
    role: 'responder',
    peer: (s) => { s.write(Buffer.alloc(96, 0xff)) },
    code: 'MSE_BAD_KEY'
  },
  {
    name: 'garbage instead of the responder\'s key and VC',
    role: 'initiator',
    peer: (s) => { afterFirst(s, 96, () => { s.write(seededRandomBytes(6)(4096)) }) },
    code: 'MSE_NO_SYNC'
  },
  {
    name: 'padding over the limit before req1',
    role: 'responder',
    peer: (s) => {
      const keys = new MseKeyPair(Buffer.alloc(20, 9))
      s.write(keys.publicKey)
      afterFirst(s, 96, (yb) => { s.write(Buffer.concat([Buffer.alloc(513), mseHash('req1', keys.sharedSecret(yb.subarray(0, 96)))])) })
    },
    code: 'MSE_NO_SYNC'
  },
  { name: 'a crypto_select we did not offer', role: 'initiator', peer: badResponder({ select: 1 }), code: 'MSE_BAD_SELECT', methods: ['rc4'] },
  {
    name: 'an unknown SKEY',
    role: 'responder',
    peer: (s) => {
      const keys = new MseKeyPair(Buffer.alloc(20, 9))
      s.write(keys.publicKey)
      afterFirst(s, 96, (yb) => {
        const secret = keys.sharedSecret(yb.subarray(0, 96))
        const req3 = mseHash('req3', secret)
        s.write(Buffer.concat([mseHash('req1', secret), Buffer.from(mseHash('req2', Buffer.alloc(20, 1)).map((v, i) => v ^ req3[i]!))]))
      })
    },
    code: 'UNKNOWN_INFO_HASH'
  },
  { name: 'a stall after the key (responder)', role: 'responder', peer: (s) => { s.write(new MseKeyPair(Buffer.alloc(20, 3)).publicKey) }, code: 'MSE_TIMEOUT', timeoutMs: 300 },
  { name: 'a stall after the key (initiator)', role: 'initiator', peer: (s) => { afterFirst(s, 96, () => { s.write(new MseKeyPair(Buffer.alloc(20, 3)).publicKey) }) }, code: 'MSE_TIMEOUT', timeoutMs: 300 },
  { name: 'silence', role: 'responder', peer: () => {}, code: 'MSE_TIMEOUT', timeoutMs: 300 },
  { name: 'a plain peer that hangs up on our key', role: 'initiator', peer: (s) => { afterFirst(s, 68, () => { s.destroy() }) }, code: 'MSE_REFUSED' },
  { name: 'a peer that hangs up after its key', role: 'initiator', peer: (s) => { afterFirst(s, 96, () => { s.end(new MseKeyPair(Buffer.alloc(20, 3)).publicKey) }) }, code: 'MSE_REFUSED' },
  { name: 'an initiator that hangs up mid-handshake', role: 'responder', peer: (s) => { s.end(Buffer.alloc(50, 1)) }, code: 'MSE_CLOSED' }
]

for (const c of CASES) {
  t.test(`hostile: ${c.name} → ${c.code}, within a bound, socket closed`, async t => {
    const [ours, theirs] = await tcpPair(t)
    theirs.on('error', () => {})
    c.peer(theirs)
    const started = Date.now()
    const timeoutMs = c.timeoutMs ?? 5000
    const attempt = c.role === 'initiator'
      ? mseInitiate(ours, { infoHash: INFO_HASH, timeoutMs, ...(c.methods !== undefined ? { methods: c.methods } : {}) })
      : mseRespond(ours, { findInfoHash: new SkeyIndex([INFO_HASH]).find, timeoutMs })
    const err = await bounded(attempt.then(() => null, (e: unknown) => e), timeoutMs + 2000, c.name)
    t.ok(isZentorrentError(err, c.code), c.code, { got: err instanceof Error ? `${(err as { code?: string }).code ?? ''}: ${err.message}` : err })
    const elapsed = Date.now() - started
    t.ok(elapsed < timeoutMs + 1000, `ended after ${elapsed} ms`)
    t.ok(ours.destroyed, 'our socket is destroyed')
    t.ok(ours.bytesRead < 96 + 512 + 20 + 64 * 1024 * 2, `read ${ours.bytesRead} bytes before giving up (bounded, not the whole flood)`)
  })
}

t.test('timeouts run on the clock given (a fake clock)', async t => {
  const [ours] = await tcpPair(t)
  const clock = new FakeClock()
  const attempt = mseRespond(ours, { findInfoHash: () => null, timeoutMs: 1_000_000, clock }).then(() => null, (e: unknown) => e)
  t.equal(clock.pending, 1, 'a timer was armed')
  clock.advance(1_000_000)
  t.ok(isZentorrentError(await attempt, 'MSE_TIMEOUT'))
})
