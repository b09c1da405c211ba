/** Message Stream Encryption (MSE/PE, the Vuze spec libtorrent, aria2 and Transmission speak) beneath the Wire. */
export { acceptPeer, type AcceptedPeer, type AcceptOptions } from './accept.js'
export { classifyHead, DETECT_DEFAULTS, detectProtocol, type DetectOptions, type IncomingProtocol } from './detect.js'
export { deriveKeys, DH_KEY_LENGTH, MSE_GENERATOR, MSE_PRIME, MseKeyPair, mseHash, req2Hash, type MseKeys } from './dh.js'
export { dialPeer, type DialOptions, type PeerStream } from './dial.js'
export {
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
  HANDSHAKE_DEFAULTS,
  MAX_PADDING,
  MseInitiator,
  MseResponder,
  RC4_DISCARD,
  type HandshakeOptions,
  type HandshakeResult,
  type InitiatorOptions,
  type MseMethod,
  type ResponderOptions
} from './handshake.js'
export { mseInitiate, mseRespond, NEGOTIATE_DEFAULTS, type MseConnection, type MseInitiateOptions, type MseRespondOptions, type NegotiateOptions } from './negotiate.js'
export { ENCRYPTION_DEFAULTS, ENCRYPTION_POLICIES, policyMethods, type EncryptionPolicy } from './policy.js'
export { createRc4, JsRc4, nativeRc4Available, RC4_DEFAULTS, RC4_ENV, rc4Implementation, type Rc4, type Rc4Implementation, type Rc4Options } from './rc4.js'
export { SkeyIndex } from './skey-index.js'
export { EncryptedStream } from './stream.js'
