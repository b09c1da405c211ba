/**
 * The Message Stream Encryption handshake as two pure state machines (bytes in, bytes out; no sockets, no
 * timers). Randomness (the DH exponent and the padding) comes from `random`, so tests are exact.
 *
 *   1 A→B  Ya, PadA
 *   2 B→A  Yb, PadB
 *   3 A→B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *          ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   4 B→A  ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
 *   5 A→B  ENCRYPT2(payload)
 *
 * ENCRYPT is RC4 keyed with keyA (A→B) or keyB (B→A), its first 1024 keystream bytes dropped (dh.ts has the
 * keys). ENCRYPT2 continues the same RC4 streams when crypto_select is RC4 (0x02), and is the identity when it
 * is plaintext (0x01). VC is eight zero bytes; lengths are big-endian; PadA/PadB carry 0..512 random bytes,
 * PadC/PadD 0..512 bytes (we send none, the spec's "standard practice"). IA is the initiator's first payload,
 * always RC4-encrypted; we send none by default and the Wire's BitTorrent handshake becomes the first ENCRYPT2
 * bytes, which the spec allows.
 *
 * Synchronisation: the padding hides where the next field starts, so
 * - the responder (B) searches for HASH('req1', S) in the `MAX_PADDING + 20` bytes after Ya;
 * - the initiator (A) searches for ENCRYPT(VC) (the first 8 keyB keystream bytes) in the `MAX_PADDING + 8`
 *   bytes after Yb.
 * Not finding it there is MSE_NO_SYNC. Every field is checked as it completes: a public key outside 2..P-2
 * MSE_BAD_KEY, a decrypted VC that is not zero MSE_BAD_VC, a PadC/PadD length over 512 MSE_BAD_PADDING, a
 * crypto_select that is not exactly one method we provided MSE_BAD_SELECT, a crypto_provide with no method we
 * accept MSE_NO_METHOD, an SKEY that names none of our torrents UNKNOWN_INFO_HASH. `receive` parses everything
 * it is given before returning, so the machine holds at most the bytes of the field it waits for (≤ 532, or
 * one IA of ≤ 64 KiB) plus the last chunk.
 */
import { randomBytes } from 'node:crypto'
import { ZentorrentError } from '../../errors.js'
import { ByteQueue } from './byte-queue.js'
import { deriveKeys, DH_KEY_LENGTH, MseKeyPair, mseHash, PRIVATE_KEY_LENGTH, req2Hash } from './dh.js'
import { createRc4, type Rc4, type Rc4Implementation } from './rc4.js'

export type MseMethod = 'rc4' | 'plaintext'

/** crypto_provide / crypto_select bits. */
export const CRYPTO_PLAINTEXT = 0x01
export const CRYPTO_RC4 = 0x02
const METHOD_BITS: Record<MseMethod, number> = { plaintext: CRYPTO_PLAINTEXT, rc4: CRYPTO_RC4 }

/** The spec's largest PadA/PadB/PadC/PadD. */
export const MAX_PADDING = 512
/** Keystream bytes dropped from each RC4 stream before use. */
export const RC4_DISCARD = 1024
const VC = Buffer.alloc(8)
const HASH_LENGTH = 20
const MAX_INITIAL_PAYLOAD = 0xffff

export const HANDSHAKE_DEFAULTS = {
  /** RC4 first, then MSE with a plaintext payload (an obfuscated handshake only). */
  methods: ['rc4', 'plaintext'] as readonly MseMethod[],
  /** Longest PadA/PadB we send (the spec's maximum). */
  maxPadding: MAX_PADDING
} as const

export interface HandshakeOptions {
  /**
   * Methods we accept, most preferred first: the initiator provides them all, the responder selects the first
   * one the initiator provides. Default rc4, plaintext.
   */
  methods?: readonly MseMethod[]
  /** Random bytes for the DH exponent and padding. Default crypto.randomBytes. */
  random?: (size: number) => Buffer
  /** Longest PadA/PadB we send, 0..512. Default 512. */
  maxPadding?: number
  /** RC4 implementation; default `rc4Implementation()`. */
  rc4?: Rc4Implementation
}

export interface InitiatorOptions extends HandshakeOptions {
  /** SKEY: the info hash of the torrent we want. */
  infoHash: Buffer
  /** IA: bytes sent encrypted in step 3 (at most 65535). Default none. */
  initialPayload?: Buffer
}

export interface ResponderOptions extends HandshakeOptions {
  /** The info hash whose HASH('req2', infoHash) is `req2` (see `req2Hash`), or null if it is none of ours. */
  findInfoHash: (req2: Buffer) => Buffer | null
}

export interface HandshakeResult {
  method: MseMethod
  /** SKEY: the torrent this connection is for. */
  infoHash: Buffer
  /** RC4 for bytes we send from now on; null when plaintext was selected. */
  encrypt: Rc4 | null
  /** RC4 for bytes we receive from now on (starting with `rest`); null when plaintext was selected. */
  decrypt: Rc4 | null
  /** Bytes received after the handshake, as they came off the wire. */
  rest: Buffer
  /** The initiator's IA, decrypted (responder); empty for the initiator. */
  initialPayload: Buffer
}

function methodBits (methods: readonly MseMethod[]): number {
  let bits = 0
  for (const m of methods) bits |= METHOD_BITS[m]
  return bits
}

function methodOfBits (bits: number): MseMethod | undefined {
  if (bits === CRYPTO_RC4) return 'rc4'
  if (bits === CRYPTO_PLAINTEXT) return 'plaintext'
  return undefined
}

function checkOptions (opts: HandshakeOptions): { methods: readonly MseMethod[], random: (size: number) => Buffer, maxPadding: number } {
  const methods = opts.methods ?? HANDSHAKE_DEFAULTS.methods
  if (methods.length === 0) throw new ZentorrentError('BAD_ARGUMENT', 'MSE needs at least one method (rc4, plaintext)')
  const maxPadding = opts.maxPadding ?? HANDSHAKE_DEFAULTS.maxPadding
  if (!Number.isInteger(maxPadding) || maxPadding < 0 || maxPadding > MAX_PADDING) {
    throw new ZentorrentError('BAD_ARGUMENT', `MSE padding must be 0..${MAX_PADDING} bytes, got ${maxPadding}`)
  }
  return { methods, random: opts.random ?? randomBytes, maxPadding }
}

/** Our public key followed by 0..maxPadding random bytes. */
function keyAndPadding (keys: MseKeyPair, random: (size: number) => Buffer, maxPadding: number): Buffer {
  const padLength = random(2).readUInt16BE(0) % (maxPadding + 1)
  return Buffer.concat([keys.publicKey, random(padLength)])
}

function newRc4 (key: Buffer, implementation: Rc4Implementation | undefined): Rc4 {
  return createRc4(key, { discard: RC4_DISCARD, ...(implementation !== undefined ? { implementation } : {}) })
}

function xor (a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

function checkPadding (length: number, which: string): void {
  if (length > MAX_PADDING) throw new ZentorrentError('MSE_BAD_PADDING', `peer announced ${length} bytes of ${which}, more than the ${MAX_PADDING} allowed`)
}

/** The initiator (A): call `start()`, send what it returns, then `receive` every chunk until `result` is set. */
export class MseInitiator {
  readonly #infoHash: Buffer
  readonly #methods: number
  readonly #initialPayload: Buffer
  readonly #random: (size: number) => Buffer
  readonly #maxPadding: number
  readonly #rc4: Rc4Implementation | undefined
  readonly #keys: MseKeyPair
  readonly #queue = new ByteQueue()
  #state: 'start' | 'yb' | 'sync' | 'select' | 'padD' | 'done' = 'start'
  #encrypt: Rc4 | null = null
  #decrypt: Rc4 | null = null
  #syncMark: Buffer | null = null
  #method: MseMethod | null = null
  #padD = 0
  #result: HandshakeResult | null = null

  constructor (opts: InitiatorOptions) {
    const { methods, random, maxPadding } = checkOptions(opts)
    if (opts.infoHash.length !== HASH_LENGTH) throw new ZentorrentError('BAD_ARGUMENT', `info hash must be 20 bytes, got ${opts.infoHash.length}`)
    const ia = opts.initialPayload ?? Buffer.alloc(0)
    if (ia.length > MAX_INITIAL_PAYLOAD) throw new ZentorrentError('BAD_ARGUMENT', `MSE initial payload is at most ${MAX_INITIAL_PAYLOAD} bytes, got ${ia.length}`)
    this.#infoHash = opts.infoHash
    this.#methods = methodBits(methods)
    this.#initialPayload = ia
    this.#random = random
    this.#maxPadding = maxPadding
    this.#rc4 = opts.rc4
    this.#keys = new MseKeyPair(random(PRIVATE_KEY_LENGTH))
  }

  /** Set once the handshake is complete. */
  get result (): HandshakeResult | null {
    return this.#result
  }

  /** Step 1: Ya and PadA. */
  start (): Buffer {
    if (this.#state !== 'start') throw new ZentorrentError('BAD_ARGUMENT', 'start() is called once')
    this.#state = 'yb'
    return keyAndPadding(this.#keys, this.#random, this.#maxPadding)
  }

  /** Parse bytes from the responder; returns bytes to send now (or null). Throws a ZentorrentError on bad input. */
  receive (chunk: Buffer): Buffer | null {
    if (this.#state === 'start') throw new ZentorrentError('BAD_ARGUMENT', 'start() comes before receive()')
    if (this.#state === 'done') throw new ZentorrentError('BAD_ARGUMENT', 'the handshake is over: later bytes are payload')
    const q = this.#queue
    q.push(chunk)
    let out: Buffer | null = null
    for (;;) {
      switch (this.#state) {
        case 'yb': {
          if (q.length < DH_KEY_LENGTH) return out
          const secret = this.#keys.sharedSecret(q.take(DH_KEY_LENGTH))
          const { keyA, keyB } = deriveKeys(secret, this.#infoHash)
          this.#encrypt = newRc4(keyA, this.#rc4)
          this.#decrypt = newRc4(keyB, this.#rc4)
          // ENCRYPT(VC) as the responder will send it; this also moves our keyB stream past the VC
          this.#syncMark = this.#decrypt.update(VC)
          out = this.#step3(secret)
          this.#state = 'sync'
          break
        }
        case 'sync': {
          const window = MAX_PADDING + VC.length
          const at = q.peek(Math.min(q.length, window)).indexOf(this.#syncMark!)
          if (at < 0) {
            if (q.length >= window) throw new ZentorrentError('MSE_NO_SYNC', `no encrypted VC within ${MAX_PADDING} bytes of padding after the peer's key`)
            return out
          }
          q.skip(at + VC.length)
          this.#state = 'select'
          break
        }
        case 'select': {
          if (q.length < 6) return out
          const fields = this.#decrypt!.update(q.take(6))
          const select = fields.readUInt32BE(0)
          const method = methodOfBits(select)
          if (method === undefined || (select & this.#methods) === 0) {
            throw new ZentorrentError('MSE_BAD_SELECT', `peer selected crypto method 0x${select.toString(16)}; we provided 0x${this.#methods.toString(16)}`)
          }
          this.#method = method
          this.#padD = fields.readUInt16BE(4)
          checkPadding(this.#padD, 'PadD')
          this.#state = 'padD'
          break
        }
        case 'padD': {
          if (q.length < this.#padD) return out
          this.#decrypt!.update(q.take(this.#padD))
          this.#state = 'done'
          const rc4 = this.#method === 'rc4'
          this.#result = {
            method: this.#method!,
            infoHash: this.#infoHash,
            encrypt: rc4 ? this.#encrypt : null,
            decrypt: rc4 ? this.#decrypt : null,
            rest: q.takeAll(),
            initialPayload: Buffer.alloc(0)
          }
          return out
        }
        default:
          return out
      }
    }
  }

  #step3 (secret: Buffer): Buffer {
    const clear = Buffer.alloc(VC.length + 4 + 2 + 2)
    clear.writeUInt32BE(this.#methods, VC.length) // VC is zeros already; len(PadC) = 0
    clear.writeUInt16BE(this.#initialPayload.length, VC.length + 6)
    return Buffer.concat([
      mseHash('req1', secret),
      xor(req2Hash(this.#infoHash), mseHash('req3', secret)),
      this.#encrypt!.update(clear),
      this.#encrypt!.update(this.#initialPayload)
    ])
  }
}

/** The responder (B): `receive` every chunk, sending what it returns, until `result` is set. */
export class MseResponder {
  readonly #methods: readonly MseMethod[]
  readonly #findInfoHash: (req2: Buffer) => Buffer | null
  readonly #random: (size: number) => Buffer
  readonly #maxPadding: number
  readonly #rc4: Rc4Implementation | undefined
  readonly #keys: MseKeyPair
  readonly #queue = new ByteQueue()
  #state: 'ya' | 'sync' | 'skey' | 'provide' | 'padC' | 'ia' | 'done' = 'ya'
  #secret: Buffer | null = null
  #req1: Buffer | null = null
  #infoHash: Buffer | null = null
  #encrypt: Rc4 | null = null
  #decrypt: Rc4 | null = null
  #method: MseMethod | null = null
  #padC = 0
  #ia = 0
  #result: HandshakeResult | null = null

  constructor (opts: ResponderOptions) {
    const { methods, random, maxPadding } = checkOptions(opts)
    this.#methods = methods
    this.#findInfoHash = opts.findInfoHash
    this.#random = random
    this.#maxPadding = maxPadding
    this.#rc4 = opts.rc4
    this.#keys = new MseKeyPair(random(PRIVATE_KEY_LENGTH))
  }

  get result (): HandshakeResult | null {
    return this.#result
  }

  /** Parse bytes from the initiator; returns bytes to send now (or null). Throws a ZentorrentError on bad input. */
  receive (chunk: Buffer): Buffer | null {
    if (this.#state === 'done') throw new ZentorrentError('BAD_ARGUMENT', 'the handshake is over: later bytes are payload')
    const q = this.#queue
    q.push(chunk)
    let out: Buffer | null = null
    for (;;) {
      switch (this.#state) {
        case 'ya': {
          if (q.length < DH_KEY_LENGTH) return out
          this.#secret = this.#keys.sharedSecret(q.take(DH_KEY_LENGTH))
          this.#req1 = mseHash('req1', this.#secret)
          out = keyAndPadding(this.#keys, this.#random, this.#maxPadding)
          this.#state = 'sync'
          break
        }
        case 'sync': {
          const window = MAX_PADDING + HASH_LENGTH
          const at = q.peek(Math.min(q.length, window)).indexOf(this.#req1!)
          if (at < 0) {
            if (q.length >= window) throw new ZentorrentError('MSE_NO_SYNC', `no HASH('req1', S) within ${MAX_PADDING} bytes of padding after the peer's key`)
            return out
          }
          q.skip(at + HASH_LENGTH)
          this.#state = 'skey'
          break
        }
        case 'skey': {
          if (q.length < HASH_LENGTH) return out
          const req2 = xor(q.take(HASH_LENGTH), mseHash('req3', this.#secret!))
          const infoHash = this.#findInfoHash(req2)
          if (infoHash === null) throw new ZentorrentError('UNKNOWN_INFO_HASH', 'the encrypted connection is for a torrent we do not have')
          this.#infoHash = infoHash
          const { keyA, keyB } = deriveKeys(this.#secret!, infoHash)
          this.#decrypt = newRc4(keyA, this.#rc4)
          this.#encrypt = newRc4(keyB, this.#rc4)
          this.#state = 'provide'
          break
        }
        case 'provide': {
          if (q.length < VC.length + 6) return out
          const fields = this.#decrypt!.update(q.take(VC.length + 6))
          if (!fields.subarray(0, VC.length).equals(VC)) throw new ZentorrentError('MSE_BAD_VC', 'the decrypted verification constant is not zero: wrong key or not MSE')
          const provide = fields.readUInt32BE(VC.length)
          const method = this.#methods.find((m) => (provide & METHOD_BITS[m]) !== 0)
          if (method === undefined) {
            throw new ZentorrentError('MSE_NO_METHOD', `peer provides crypto methods 0x${provide.toString(16)}, none of which we accept (${this.#methods.join(', ')})`)
          }
          this.#method = method
          this.#padC = fields.readUInt16BE(VC.length + 4)
          checkPadding(this.#padC, 'PadC')
          this.#state = 'padC'
          break
        }
        case 'padC': {
          if (q.length < this.#padC + 2) return out
          this.#ia = this.#decrypt!.update(q.take(this.#padC + 2)).readUInt16BE(this.#padC)
          this.#state = 'ia'
          break
        }
        case 'ia': {
          if (q.length < this.#ia) return out
          const initialPayload = this.#decrypt!.update(q.take(this.#ia))
          const step4 = Buffer.alloc(VC.length + 4 + 2) // VC, crypto_select, len(PadD) = 0
          step4.writeUInt32BE(METHOD_BITS[this.#method!], VC.length)
          const encrypted = this.#encrypt!.update(step4)
          out = out === null ? encrypted : Buffer.concat([out, encrypted])
          this.#state = 'done'
          const rc4 = this.#method === 'rc4'
          this.#result = {
            method: this.#method!,
            infoHash: this.#infoHash!,
            encrypt: rc4 ? this.#encrypt : null,
            decrypt: rc4 ? this.#decrypt : null,
            rest: q.takeAll(),
            initialPayload
          }
          return out
        }
        default:
          return out
      }
    }
  }
}
