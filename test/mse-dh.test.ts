import t from 'tap'
import { createDiffieHellman, createHash } from 'node:crypto'
import { BIGINT_EXPONENTIATIONS, deriveKeys, DH_KEY_LENGTH, MSE_PRIME, MseKeyPair, mseHash, req2Hash } from '../lib/wire/mse/dh.js'
import { seededRandomBytes } from './helpers/mse.js'

const P = BigInt('0x' + MSE_PRIME.toString('hex'))

function modPow (base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n
  base %= mod
  while (exp > 0n) {
    if ((exp & 1n) === 1n) result = (result * base) % mod
    base = (base * base) % mod
    exp >>= 1n
  }
  return result
}

function toBuffer (n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(DH_KEY_LENGTH * 2, '0'), 'hex')
}

t.test('the MSE prime is the 768-bit one of the spec', async t => {
  t.equal(MSE_PRIME.length, 96)
  t.equal(P.toString(2).length, 768)
  t.equal(MSE_PRIME.toString('hex').slice(-12), '000000090563', 'the spec\'s prime ends ...0000000000090563')
})

t.test('public keys are G^X mod P in 96 bytes, left-padded', async t => {
  const random = seededRandomBytes(1)
  for (let i = 0; i < 5; i++) {
    const x = random(20)
    const pair = new MseKeyPair(x)
    t.same(pair.publicKey, toBuffer(modPow(2n, BigInt('0x' + x.toString('hex')), P)), `key ${i} agrees with a BigInt modPow`)
  }
  const small = new MseKeyPair(Buffer.from([3]))
  t.equal(small.publicKey.length, 96, 'a small public key (2^3) is still 96 bytes')
  t.equal(small.publicKey[95], 8)
  t.equal(small.publicKey.subarray(0, 95).every((b) => b === 0), true)
})

t.test('both sides compute the same 96-byte secret; small secrets are left-padded too', async t => {
  const random = seededRandomBytes(2)
  const xa = random(20)
  const a = new MseKeyPair(xa)
  const b = new MseKeyPair(random(20))
  const s = a.sharedSecret(b.publicKey)
  t.same(s, b.sharedSecret(a.publicKey))
  t.equal(s.length, 96)
  t.same(s, toBuffer(modPow(BigInt('0x' + b.publicKey.toString('hex')), BigInt('0x' + xa.toString('hex')), P)), 'S = Yb^Xa mod P')
  // Y = 2 and X = 3 give S = 8: one significant byte, 95 zeros before it
  const tiny = new MseKeyPair(Buffer.from([3])).sharedSecret(toBuffer(2n))
  t.equal(tiny.length, 96)
  t.equal(tiny[95], 8)
})

t.test('a public key outside 2..P-2, or of the wrong length, is MSE_BAD_KEY', async t => {
  const pair = new MseKeyPair(Buffer.alloc(20, 5))
  for (const [name, y] of [['0', toBuffer(0n)], ['1', toBuffer(1n)], ['P-1', toBuffer(P - 1n)], ['P', toBuffer(P)], ['2^768-1', Buffer.alloc(96, 0xff)]] as const) {
    t.throws(() => pair.sharedSecret(y), { code: 'MSE_BAD_KEY' }, name)
  }
  t.throws(() => pair.sharedSecret(Buffer.alloc(95, 1)), { code: 'MSE_BAD_KEY' }, '95 bytes')
  t.doesNotThrow(() => pair.sharedSecret(toBuffer(2n)), '2 is allowed')
  t.doesNotThrow(() => pair.sharedSecret(toBuffer(P - 2n)), 'P-2 is allowed')
  t.throws(() => new MseKeyPair(Buffer.alloc(0)), { code: 'BAD_ARGUMENT' })
})

t.test('HASH and the keys are SHA1 of the labelled concatenations', async t => {
  const s = seededRandomBytes(3)(96)
  const skey = seededRandomBytes(4)(20)
  const sha1 = (...parts: Buffer[]): Buffer => { const h = createHash('sha1'); for (const p of parts) h.update(p); return h.digest() }
  t.same(mseHash('req1', s), sha1(Buffer.from('req1'), s))
  t.same(req2Hash(skey), sha1(Buffer.from('req2'), skey))
  const { keyA, keyB } = deriveKeys(s, skey)
  t.same(keyA, sha1(Buffer.from('keyA'), s, skey))
  t.same(keyB, sha1(Buffer.from('keyB'), s, skey))
  t.not(keyA.toString('hex'), keyB.toString('hex'))
})

t.test('key pairs and secrets agree with OpenSSL on both sides of the switch from BigInt to OpenSSL', async t => {
  const openssl = createDiffieHellman(MSE_PRIME, 2)
  const random = seededRandomBytes(9)
  const pairs = BIGINT_EXPONENTIATIONS // two exponentiations each: the switch happens half-way, whatever ran before
  let agreed = 0
  for (let i = 0; i < pairs; i++) {
    const x = random(20)
    const peer = random(20)
    openssl.setPrivateKey(peer)
    openssl.generateKeys()
    const peerPublic = openssl.getPublicKey()
    const pair = new MseKeyPair(x)
    const secret = pair.sharedSecret(Buffer.concat([Buffer.alloc(DH_KEY_LENGTH - peerPublic.length), peerPublic]))
    openssl.setPrivateKey(x)
    openssl.generateKeys()
    const ours = openssl.getPublicKey()
    const expectedSecret = openssl.computeSecret(peerPublic)
    const pad = (b: Buffer): Buffer => Buffer.concat([Buffer.alloc(DH_KEY_LENGTH - b.length), b])
    if (pair.publicKey.equals(pad(ours)) && secret.equals(pad(expectedSecret))) agreed++
  }
  t.equal(agreed, pairs, 'every public key and secret as OpenSSL computes it')
})

t.test('a private key of zero is refused on either path (it would make every secret 1)', async t => {
  t.throws(() => new MseKeyPair(Buffer.alloc(20)), { code: 'BAD_ARGUMENT' })
  t.throws(() => new MseKeyPair(Buffer.alloc(1)), { code: 'BAD_ARGUMENT' })
})
