/** The peer wire protocol (BEP 3, with BEP 6 Fast and BEP 10 extensions) as streams. */
export { allowedFastSet, ALLOWED_FAST_COUNT } from './allowed-fast.js'
export { BitField } from './bitfield.js'
export { connect, CONNECT_DEFAULTS, type ConnectOptions } from './connect.js'
export { createFraming, FrameDecoder, FRAMING_DEFAULTS, type Frame, type FrameCallback, type FramingOptions, type HandshakeFrame } from './framing.js'
export { decodeHandshake, encodeHandshake, generatePeerId, HANDSHAKE_LENGTH, PEER_ID_PREFIX, PROTOCOL, type Handshake, type HandshakeInput } from './handshake.js'
export {
  decodeExtendedHandshake,
  decodeMessage,
  encodeExtendedHandshake,
  encodeMessage,
  encodeMessageToBuffer,
  MessageId,
  type BlockRequest,
  type ExtendedHandshake,
  type Message,
  type MessageType
} from './messages.js'
export { composeExtendedHandshake, LOCAL_EXTENSION_IDS, peerExtensionId, type ExtensionName, type HandshakePart } from './extensions.js'
export { RateMeter } from './rate.js'
export { COALESCE_BYTES, RequestList, Wire, WIRE_DEFAULTS, type TorrentShape, type WireEvents, type WireOptions } from './wire.js'
