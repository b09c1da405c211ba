import t from 'tap'
import { createHash } from 'node:crypto'
import { isZentorrentError } from '../lib/errors.js'
import { encodeHandshake, generatePeerId } from '../lib/wire/index.js'
import { classifyHead, detectProtocol, MseKeyPair } from '../lib/wire/mse/index.js'
import { seededRandomBytes, SPLITS } from './helpers/mse.js'
import { chunkedPair, tcpPair } from './helpers/sockets.js'
import { HANG_BOUND_MS } from './helpers/bounds.js'

const HANDSHAKE = encodeHandshake({ infoHash: createHash('sha1').update('x').digest(), peerId: generatePeerId() })
const MSE_START = Buffer.concat([new MseKeyPair(seededRandomBytes(1)(20)).publicKey, seededRandomBytes(2)(100)])

t.test('classifyHead decides on the first byte that differs, or on all 20', async t => {
  t.equal(classifyHead(Buffer.alloc(0)), null)
  t.equal(classifyHead(Buffer.from([19])), null)
  t.equal(classifyHead(HANDSHAKE.subarray(0, 19)), null)
  t.equal(classifyHead(HANDSHAKE.subarray(0, 20)), 'plain')
  t.equal(classifyHead(HANDSHAKE), 'plain')
  t.equal(classifyHead(Buffer.from([18])), 'mse')
  t.equal(classifyHead(Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocoX')])), 'mse', 'the 20th byte decides')
  t.equal(classifyHead(MSE_START.subarray(0, 1)), MSE_START[0] === 19 ? null : 'mse')
})

async function readAll (socket: import('node:stream').Duplex, n: number): Promise<Buffer> {
  const got: Buffer[] = []
  let length = 0
  return await new Promise<Buffer>((resolve) => {
    socket.on('data', (c: Buffer) => {
      got.push(c)
      length += c.length
      if (length >= n) resolve(Buffer.concat(got))
    })
  })
}

for (const [name, makeSplit] of Object.entries(SPLITS)) {
  t.test(`fed ${name}: a plain handshake is 'plain', an MSE key 'mse', and every byte is still there to read`, async t => {
    for (const [bytes, kind] of [[HANDSHAKE, 'plain'], [MSE_START, 'mse']] as const) {
      const [a, b] = chunkedPair(makeSplit(4))
      t.teardown(() => { a.destroy(); b.destroy() })
      a.write(bytes)
      t.equal(await detectProtocol(b), kind)
      t.same(await readAll(b, bytes.length), bytes, `${kind}: nothing was lost`)
    }
  })
}

t.test('a peer that closes before 20 bytes is BAD_HANDSHAKE; silence is HANDSHAKE_TIMEOUT', async t => {
  const [a, b] = await tcpPair(t)
  a.end(HANDSHAKE.subarray(0, 10))
  t.ok(isZentorrentError(await detectProtocol(b).catch((e: unknown) => e), 'BAD_HANDSHAKE'))
  t.ok(b.destroyed, 'the socket is destroyed')
  const [, d] = await tcpPair(t)
  const started = Date.now()
  t.ok(isZentorrentError(await detectProtocol(d, { timeoutMs: 200 }).catch((e: unknown) => e), 'HANDSHAKE_TIMEOUT'))
  t.ok(Date.now() - started < HANG_BOUND_MS)
  t.ok(d.destroyed)
})
