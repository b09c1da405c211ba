/**
 * An outgoing peer connection under an encryption policy (policy.ts): TCP, then MSE or not, ready for
 * `pump(stream, wire, stream)` with an initiator Wire.
 *
 *   disable  TCP only.
 *   require  TCP, then mseInitiate offering RC4; any failure is the caller's error.
 *   prefer   TCP, then mseInitiate offering RC4 and plaintext; when the peer refuses (MSE_REFUSED: it hung up
 *            during our handshake) a second TCP connection, plain. Other failures (a bad key, no sync, a
 *            timeout) are not a refusal and are passed on: the peer spoke MSE badly or not at all.
 */
import type { Duplex } from 'node:stream'
import { isZentorrentError } from '../../errors.js'
import { CONNECT_DEFAULTS, dialTcp } from '../tcp.js'
import type { MseMethod } from './handshake.js'
import { mseInitiate, type MseInitiateOptions } from './negotiate.js'
import { ENCRYPTION_DEFAULTS, policyMethods, type EncryptionPolicy } from './policy.js'

export interface DialOptions extends Omit<MseInitiateOptions, 'methods'> {
  /** Default prefer. */
  policy?: EncryptionPolicy
  /** Methods to offer; default the policy's (policyMethods). */
  methods?: readonly MseMethod[]
  /** TCP connect bound per attempt (CONNECT_TIMEOUT). Default 10 s. */
  connectTimeout?: number
}

export interface PeerStream {
  /** Bytes to and from the peer's Wire. */
  stream: Duplex
  /** The MSE payload method, or null for a plain BitTorrent connection. */
  method: MseMethod | null
  /** True when a `prefer` dial fell back to plain after the peer refused MSE. */
  fellBack: boolean
}

export async function dialPeer (host: string, port: number, opts: DialOptions): Promise<PeerStream> {
  const policy = opts.policy ?? ENCRYPTION_DEFAULTS.policy
  const connectTimeout = opts.connectTimeout ?? CONNECT_DEFAULTS.connectTimeout
  const socket = await dialTcp(host, port, connectTimeout)
  if (policy === 'disable') return { stream: socket, method: null, fellBack: false }
  try {
    const mse = await mseInitiate(socket, { ...opts, methods: opts.methods ?? policyMethods(policy) })
    return { stream: mse.stream, method: mse.method, fellBack: false }
  } catch (err) {
    if (policy !== 'prefer' || !isZentorrentError(err, 'MSE_REFUSED')) throw err
  }
  return { stream: await dialTcp(host, port, connectTimeout), method: null, fellBack: true }
}
