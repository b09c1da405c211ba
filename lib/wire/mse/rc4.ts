/**
 * RC4, the stream cipher of Message Stream Encryption: OpenSSL's when the running Node has it, else our own.
 *
 * Node 20 links OpenSSL 3, which moved RC4 to the "legacy" provider: `createCipheriv('rc4', …)` throws
 * ERR_OSSL_EVP_UNSUPPORTED unless Node was started with `--openssl-legacy-provider`. `rc4Implementation()`
 * probes once per process (the answer cannot change while the process runs) and says which one `createRc4`
 * uses; `ZENTORRENT_RC4=js` in the environment, or `{ implementation: 'js' }`, forces ours (for tests and
 * benches).
 *
 * Our RC4 (`JsRc4`) is the textbook PRGA with the state in an Int32Array and the loop unrolled sixteen bytes at
 * a time; it XORs into the destination without allocating per call beyond the output buffer of `update`
 * (`updateInPlace` allocates nothing). Measured on one core of the development machine (16 KiB chunks): the
 * plain loop with a Uint8Array state ran ~180-190 MiB/s, an Int32Array state unrolled by 4 ~285, by 8 ~335,
 * by 16 ~355, OpenSSL ~365. `bench/rc4.ts` measures both.
 *
 * `discard` drops the first bytes of the keystream; MSE uses 1024 (RC4-drop1024) to skip RC4's biased start.
 */
import { createCipheriv, type Cipher } from 'node:crypto'
import { ZentorrentError } from '../../errors.js'

export type Rc4Implementation = 'native' | 'js'

export interface Rc4 {
  readonly implementation: Rc4Implementation
  /** `src` XOR the next `src.length` keystream bytes, in a new buffer; `src` is left as it was. */
  update: (src: Buffer) => Buffer
  /**
   * `buf` XOR the next keystream bytes, written over `buf` where the implementation can (ours does; OpenSSL's
   * returns a new buffer). Use the returned buffer, and pass only a buffer nobody else reads.
   */
  updateInPlace: (buf: Buffer) => Buffer
}

export interface Rc4Options {
  /** Default: `rc4Implementation()`. 'native' throws BAD_ARGUMENT where OpenSSL's RC4 is unavailable. */
  implementation?: Rc4Implementation
  /** Keystream bytes to drop before the first `update`. Default 0 (plain RC4, as the test vectors use). */
  discard?: number
}

export const RC4_DEFAULTS = { discard: 0 } as const

/** Environment variable that forces our RC4 when set to `js`. */
export const RC4_ENV = 'ZENTORRENT_RC4'

let nativeProbe: boolean | undefined

/** Whether this process's OpenSSL does RC4 (probed on the first call only). */
export function nativeRc4Available (): boolean {
  if (nativeProbe === undefined) {
    try {
      createCipheriv('rc4', Buffer.alloc(16), null)
      nativeProbe = true
    } catch {
      nativeProbe = false
    }
  }
  return nativeProbe
}

/** The RC4 `createRc4` uses by default: native when available and not forced off by `ZENTORRENT_RC4=js`. */
export function rc4Implementation (): Rc4Implementation {
  if (process.env[RC4_ENV] === 'js') return 'js'
  return nativeRc4Available() ? 'native' : 'js'
}

export function createRc4 (key: Uint8Array, opts: Rc4Options = {}): Rc4 {
  const implementation = opts.implementation ?? rc4Implementation()
  const rc4: Rc4 = implementation === 'native' ? new NativeRc4(key) : new JsRc4(key)
  const discard = opts.discard ?? RC4_DEFAULTS.discard
  if (discard > 0) rc4.updateInPlace(Buffer.alloc(discard))
  return rc4
}

class NativeRc4 implements Rc4 {
  readonly implementation = 'native'
  readonly #cipher: Cipher

  constructor (key: Uint8Array) {
    if (!nativeRc4Available()) {
      throw new ZentorrentError('BAD_ARGUMENT', 'OpenSSL RC4 is unavailable in this Node (start it with --openssl-legacy-provider)')
    }
    this.#cipher = createCipheriv('rc4', key, null)
  }

  update (src: Buffer): Buffer {
    return this.#cipher.update(src)
  }

  updateInPlace (buf: Buffer): Buffer {
    return this.#cipher.update(buf)
  }
}

export class JsRc4 implements Rc4 {
  readonly implementation = 'js'
  /** The permutation S; Int32Array elements index faster than Uint8Array's in V8 (measured, see above). */
  readonly #s = new Int32Array(256)
  #i = 0
  #j = 0

  constructor (key: Uint8Array) {
    if (key.length === 0 || key.length > 256) throw new ZentorrentError('BAD_ARGUMENT', `RC4 key must be 1..256 bytes, got ${key.length}`)
    const s = this.#s
    for (let i = 0; i < 256; i++) s[i] = i
    // key-scheduling algorithm (KSA)
    for (let i = 0, j = 0; i < 256; i++) {
      const si = s[i]
      j = (j + si + key[i % key.length]) & 255
      s[i] = s[j]
      s[j] = si
    }
  }

  update (src: Buffer): Buffer {
    const dst = Buffer.allocUnsafe(src.length)
    this.#xor(src, dst)
    return dst
  }

  updateInPlace (buf: Buffer): Buffer {
    this.#xor(buf, buf)
    return buf
  }

  /** dst[k] = src[k] ^ keystream (PRGA); dst may be src. */
  #xor (src: Buffer, dst: Buffer): void {
    const s = this.#s
    let i = this.#i
    let j = this.#j
    let si = 0
    let sj = 0
    const n = src.length
    const whole = n - (n & 15)
    let k = 0
    for (; k < whole; k += 16) {
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k] = src[k] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 1] = src[k + 1] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 2] = src[k + 2] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 3] = src[k + 3] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 4] = src[k + 4] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 5] = src[k + 5] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 6] = src[k + 6] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 7] = src[k + 7] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 8] = src[k + 8] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 9] = src[k + 9] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 10] = src[k + 10] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 11] = src[k + 11] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 12] = src[k + 12] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 13] = src[k + 13] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 14] = src[k + 14] ^ s[(si + sj) & 255]
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k + 15] = src[k + 15] ^ s[(si + sj) & 255]
    }
    for (; k < n; k++) {
      i = (i + 1) & 255; si = s[i]; j = (j + si) & 255; sj = s[j]; s[i] = sj; s[j] = si; dst[k] = src[k] ^ s[(si + sj) & 255]
    }
    this.#i = i
    this.#j = j
  }
}
