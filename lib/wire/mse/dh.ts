/**
 * The Diffie-Hellman exchange and key derivation of Message Stream Encryption (pure except for the DH maths,
 * which Node's OpenSSL does; no RC4 here).
 *
 *   P   the 768-bit MSE prime below, G = 2; Ya = G^Xa mod P and Yb = G^Xb mod P travel as 96 bytes big-endian
 *   S   the shared secret Yb^Xa = Ya^Xb mod P, also 96 bytes big-endian (left-padded with zeros)
 *   HASH(...) = SHA1 of the concatenation
 *   keyA = HASH('keyA', S, SKEY) encrypts initiator → responder; keyB = HASH('keyB', S, SKEY) the other way
 *   req1 = HASH('req1', S) marks the end of PadA; HASH('req2', SKEY) xor HASH('req3', S) names the torrent
 *
 * SKEY is the torrent's 20-byte info hash. The private exponents are 160 bits (`PRIVATE_KEY_LENGTH`), as the
 * spec says current implementations use. A peer's public key outside 2..P-2 is refused (MSE_BAD_KEY): 0, 1
 * and P-1 would make S guessable, and P or more is not a residue at all.
 *
 * The exponentiation: `createDiffieHellman(P, 2)` checks the prime when it is made, ~22 ms of CPU here (58 ms on
 * a slower machine), in the middle of the first connection; after that a key pair and a secret cost ~0.2 ms. A
 * BigInt square-and-multiply costs ~0.3 ms per exponentiation and nothing up front. So the first
 * `BIGINT_EXPONENTIATIONS` exponentiations (public keys and secrets: a client's first connections, which the
 * first request waits for) use BigInt, and only a process that keeps making MSE connections pays for the OpenSSL
 * object, once. That object is a pure modular-exponentiation engine: every use sets the private key it needs and
 * finishes synchronously, so no connection sees another's key. (Neither path is constant-time; MSE obfuscates,
 * and its keys are thrown away after one handshake.)
 */
import { createDiffieHellman, createHash, type DiffieHellman } from 'node:crypto'
import { ZentorrentError } from '../../errors.js'

export const MSE_PRIME = Buffer.from(
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B30' +
  '2B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563', 'hex')
export const MSE_GENERATOR = 2
/** Bytes of a public key or shared secret on the wire. */
export const DH_KEY_LENGTH = 96
/** Bytes of a private exponent (160 bits). */
export const PRIVATE_KEY_LENGTH = 20

const PRIME = BigInt('0x' + MSE_PRIME.toString('hex'))

/** SHA1 of the parts in order; strings as latin1 (the spec's labels are ASCII). */
export function mseHash (...parts: Array<string | Uint8Array>): Buffer {
  const h = createHash('sha1')
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'latin1') : p)
  return h.digest()
}

/** HASH('req2', SKEY): what a responder indexes its info hashes by to find the torrent of an encrypted connection. */
export function req2Hash (infoHash: Uint8Array): Buffer {
  return mseHash('req2', infoHash)
}

export interface MseKeys {
  /** RC4 key for bytes the initiator sends. */
  keyA: Buffer
  /** RC4 key for bytes the responder sends. */
  keyB: Buffer
}

export function deriveKeys (secret: Uint8Array, infoHash: Uint8Array): MseKeys {
  return { keyA: mseHash('keyA', secret, infoHash), keyB: mseHash('keyB', secret, infoHash) }
}

function leftPad (b: Buffer, length: number): Buffer {
  if (b.length === length) return b
  const out = Buffer.alloc(length)
  b.copy(out, length - b.length)
  return out
}

/** Exponentiations done with BigInt before the OpenSSL object is made (see above): ~16 handshakes' worth. */
export const BIGINT_EXPONENTIATIONS = 32

let exponentiations = 0
let group: DiffieHellman | undefined

/** The process's DH object for P and G (see above). */
function mseGroup (): DiffieHellman {
  group ??= createDiffieHellman(MSE_PRIME, MSE_GENERATOR)
  return group
}

/** Whether this exponentiation goes to the OpenSSL object (see above); counts it. */
function viaOpenSsl (): boolean {
  return ++exponentiations > BIGINT_EXPONENTIATIONS
}

/** base^exponent mod P by square-and-multiply, the exponent big-endian; DH_KEY_LENGTH bytes out. */
function bigModPow (base: bigint, exponent: Uint8Array): Buffer {
  let result = 1n
  for (const byte of exponent) {
    for (let bit = 7; bit >= 0; bit--) {
      result = result * result % PRIME
      if (((byte >> bit) & 1) === 1) result = result * base % PRIME
    }
  }
  return Buffer.from(result.toString(16).padStart(DH_KEY_LENGTH * 2, '0'), 'hex')
}

/** One side's DH key pair for one handshake. */
export class MseKeyPair {
  readonly #privateKey: Buffer
  /** Our public key Y, 96 bytes. */
  readonly publicKey: Buffer

  /** `privateKey`: the exponent X, big-endian (PRIVATE_KEY_LENGTH random bytes; taken as an argument so tests are exact). */
  constructor (privateKey: Uint8Array) {
    if (privateKey.length === 0 || privateKey.length > DH_KEY_LENGTH) {
      throw new ZentorrentError('BAD_ARGUMENT', `DH private key must be 1..${DH_KEY_LENGTH} bytes, got ${privateKey.length}`)
    }
    if (privateKey.every((b) => b === 0)) {
      // X = 0 makes Y = 1 and S = 1 (OpenSSL refuses it; the BigInt path would not): no key exchange at all
      throw new ZentorrentError('BAD_ARGUMENT', 'a DH private key of zero is no key')
    }
    this.#privateKey = Buffer.from(privateKey)
    if (viaOpenSsl()) {
      const dh = mseGroup()
      dh.setPrivateKey(this.#privateKey)
      dh.generateKeys() // with a private key set, generateKeys computes the public key from it (and no new private key)
      this.publicKey = leftPad(dh.getPublicKey(), DH_KEY_LENGTH)
    } else {
      this.publicKey = bigModPow(BigInt(MSE_GENERATOR), this.#privateKey)
    }
  }

  /** S from the peer's 96-byte public key; MSE_BAD_KEY when that key is outside 2..P-2. */
  sharedSecret (peerPublicKey: Buffer): Buffer {
    if (peerPublicKey.length !== DH_KEY_LENGTH) {
      throw new ZentorrentError('MSE_BAD_KEY', `a DH public key is ${DH_KEY_LENGTH} bytes, got ${peerPublicKey.length}`)
    }
    // the key may arrive as a plain Uint8Array view (the handshake's byte queue), whose toString ignores 'hex'
    const y = BigInt('0x' + Buffer.from(peerPublicKey.buffer, peerPublicKey.byteOffset, peerPublicKey.byteLength).toString('hex'))
    if (y < 2n || y > PRIME - 2n) {
      throw new ZentorrentError('MSE_BAD_KEY', 'the peer\'s DH public key is outside 2..P-2: not a key exchange')
    }
    if (!viaOpenSsl()) return bigModPow(y, this.#privateKey)
    const dh = mseGroup()
    dh.setPrivateKey(this.#privateKey)
    return leftPad(dh.computeSecret(peerPublicKey), DH_KEY_LENGTH)
  }
}
