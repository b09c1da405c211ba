/**
 * An incoming peer connection under an encryption policy (policy.ts): plain or MSE told apart by the first
 * bytes (detect.ts), then MSE answered with `mseRespond`; ready for `pump(stream, wire, stream)` with a
 * responder Wire.
 *
 *   plain connection  accepted unless the policy is `require` (MSE_REQUIRED)
 *   MSE connection    answered unless the policy is `disable` (MSE_DISABLED); the torrent is found through
 *                     `findInfoHash` (a SkeyIndex's `find`), UNKNOWN_INFO_HASH when it is none of ours
 *
 * On failure the socket is destroyed. After an MSE handshake the Wire's BitTorrent handshake must name the same
 * torrent (`infoHash` here): the caller checks it on the Wire's 'handshake' event before `accept`.
 */
import type { Duplex } from 'node:stream'
import { ZentorrentError } from '../../errors.js'
import { detectProtocol } from './detect.js'
import type { MseMethod } from './handshake.js'
import { mseRespond, type MseRespondOptions } from './negotiate.js'
import { ENCRYPTION_DEFAULTS, policyMethods, type EncryptionPolicy } from './policy.js'

export interface AcceptOptions extends Omit<MseRespondOptions, 'methods'> {
  /** Default prefer. */
  policy?: EncryptionPolicy
  /** Methods to accept, most preferred first; default the policy's (policyMethods). */
  methods?: readonly MseMethod[]
}

export interface AcceptedPeer {
  stream: Duplex
  /** The MSE payload method, or null for a plain BitTorrent connection. */
  method: MseMethod | null
  /** The torrent an MSE connection is for; null for a plain one (its Wire handshake says). */
  infoHash: Buffer | null
}

export async function acceptPeer (socket: Duplex, opts: AcceptOptions): Promise<AcceptedPeer> {
  const policy = opts.policy ?? ENCRYPTION_DEFAULTS.policy
  const kind = await detectProtocol(socket, opts)
  if (kind === 'plain') {
    if (policy === 'require') {
      socket.destroy()
      throw new ZentorrentError('MSE_REQUIRED', 'a plain BitTorrent connection arrived, but encryption is required')
    }
    return { stream: socket, method: null, infoHash: null }
  }
  if (policy === 'disable') {
    socket.destroy()
    throw new ZentorrentError('MSE_DISABLED', 'an encrypted (MSE) connection arrived, but encryption is disabled')
  }
  const mse = await mseRespond(socket, { ...opts, methods: opts.methods ?? policyMethods(policy) })
  return { stream: mse.stream, method: mse.method, infoHash: mse.infoHash }
}
