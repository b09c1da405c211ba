/**
 * KRPC (BEP 5) packet checks, pure: every datagram our DHT node receives passes `checkInbound` before the
 * `bittorrent-dht` package sees it, and every one it sends passes `checkOutbound`.
 *
 * Why: the package (and k-rpc / k-rpc-socket under it) trusts the types of what it decodes. Found by reading it and
 * checked against the package alone: an `announce_peer` whose `token` is an integer, a `find_node` whose `target`
 * is one, or a response to our query whose `r.id` is one, throws inside the socket's 'message' handler — an
 * uncaught exception that ends the process (test/discovery-dht-hostile.test.ts sends all three to our node). So
 * inbound packets are held to the shapes BEP 5 defines:
 *
 * - at most `maxPacketBytes`, a bencoded dictionary, `t` a byte string of 1..`maxTransactionBytes`, `y` one of
 *   `q`, `r`, `e`;
 * - queries: only the four BEP 5 methods (`ping`, `find_node`, `get_peers`, `announce_peer`; BEP 44 `get`/`put`
 *   and anything else are dropped), `a` a dictionary whose `id` is 20 bytes, `target` / `info_hash` 20 bytes,
 *   `token` a byte string of at most `maxTokenBytes`, `port` an integer 0..65535, `implied_port` an integer;
 * - responses: `r` a dictionary whose `id` is 20 bytes; `nodes` a byte string (26 bytes a contact: a trailing
 *   partial contact is cut) of at most `maxNodes` contacts — more are cut (BEP 5 replies carry K = 8); `values` a
 *   list of which only 6-byte strings (IPv4 compact peers: the package is IPv4 only) are kept, at most
 *   `maxValues`; `token` a byte string of at most `maxTokenBytes`;
 * - errors: `e` a list of integers and byte strings (BEP 5: [code, message]): k-rpc-socket joins it into a message,
 *   which throws on a dictionary carrying its own `toString` key.
 *
 * The bytes pass lib/bencode-scan.ts before any `bencode.decode` sees them: a negative string length (`l-3:`) sends
 * that decoder (ours, and the package's own) into an endless loop. A `__proto__` key anywhere is refused: decoded,
 * it gives a dictionary inherited fields that a re-encoded packet would lose.
 *
 * A packet that had to be cut is re-encoded; the rest pass byte for byte. Outbound, `checkOutbound` cuts `values`
 * in our own replies to `maxValues` (the package would send every peer announced for a hash, past a datagram's
 * size) and tells the caller the transaction id of each query, so that a response can be matched to a query we
 * sent to that address: unsolicited responses would otherwise add their sender to our routing table.
 */
import bencode from 'bencode'
import { scanBencode } from '../bencode-scan.js'

export interface KrpcLimits {
  maxPacketBytes: number
  maxTransactionBytes: number
  maxTokenBytes: number
  /** Contacts in a reply's `nodes` (BEP 5: K = 8; libtorrent sends up to 8, some clients 16). */
  maxNodes: number
  /** Peers in a reply's `values` (libtorrent's dht_max_peers_reply is 100). */
  maxValues: number
}

export const KRPC_LIMITS: Readonly<KrpcLimits> = Object.freeze({
  maxPacketBytes: 8192,
  maxTransactionBytes: 16,
  maxTokenBytes: 64,
  maxNodes: 16,
  maxValues: 100
})

export const KRPC_METHODS = ['ping', 'find_node', 'get_peers', 'announce_peer'] as const
export type KrpcMethod = typeof KRPC_METHODS[number]

export type InboundVerdict =
  | { readonly ok: true, readonly y: 'q', readonly method: KrpcMethod, readonly t: Buffer, readonly packet: Buffer, readonly trimmed: boolean }
  | { readonly ok: true, readonly y: 'r' | 'e', readonly t: Buffer, readonly packet: Buffer, readonly trimmed: boolean }
  | { readonly ok: false, readonly reason: string }

type Dict = Record<string, unknown>

const NODE_CONTACT = 26
const PEER_CONTACT = 6

function isDict (v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function text (v: unknown): string | null {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1') : null
}

function bytesOfLength (v: unknown, length: number): boolean {
  return v instanceof Uint8Array && v.length === length
}

function isUint (v: unknown, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
}

function toBuffer (u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

/**
 * Whether a dictionary in `value` had a `__proto__` key: the decoder (ours, and the package's) assigns keys, so that
 * key sets the dictionary's prototype and its fields are inherited — read by our checks and the package alike, but
 * gone from a packet we re-encode. No KRPC message has one.
 */
function assignsPrototype (value: unknown): boolean {
  if (Array.isArray(value)) return value.some(assignsPrototype)
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return false
  return Object.getPrototypeOf(value) !== Object.prototype || Object.values(value).some(assignsPrototype)
}

function decode (packet: Buffer): Dict | null {
  try {
    // The scan first: bencode.decode (ours and the package's) loops forever on a negative string length (`l-3:`).
    scanBencode(packet, { uniqueKeys: 'none' })
    const value: unknown = bencode.decode(packet)
    return isDict(value) && !assignsPrototype(value) ? value : null
  } catch {
    return null
  }
}

function reject (reason: string): InboundVerdict {
  return { ok: false, reason }
}

export function checkInbound (packet: Buffer, limits: KrpcLimits = KRPC_LIMITS): InboundVerdict {
  if (packet.length > limits.maxPacketBytes) return reject(`${packet.length} bytes, more than ${limits.maxPacketBytes}`)
  const msg = decode(packet)
  if (msg === null) return reject('not a bencoded dictionary')
  const t = msg.t
  if (!(t instanceof Uint8Array) || t.length < 1 || t.length > limits.maxTransactionBytes) return reject('bad transaction id')
  const y = text(msg.y)
  if (y === 'q') return checkQuery(msg, toBuffer(t), packet, limits)
  if (y === 'r') return checkResponse(msg, toBuffer(t), packet, limits)
  if (y === 'e') return checkError(msg, toBuffer(t), packet)
  return reject('bad message type')
}

function checkQuery (msg: Dict, t: Buffer, packet: Buffer, limits: KrpcLimits): InboundVerdict {
  const method = text(msg.q)
  if (method === null || !(KRPC_METHODS as readonly string[]).includes(method)) return reject(`query ${JSON.stringify(method)} not served`)
  const a = msg.a
  if (!isDict(a) || !bytesOfLength(a.id, 20)) return reject(`${method}: bad arguments`)
  switch (method as KrpcMethod) {
    case 'ping':
      break
    case 'find_node':
      if (!bytesOfLength(a.target, 20)) return reject('find_node: bad target')
      break
    case 'get_peers':
      if (!bytesOfLength(a.info_hash, 20)) return reject('get_peers: bad info_hash')
      break
    case 'announce_peer':
      if (!bytesOfLength(a.info_hash, 20)) return reject('announce_peer: bad info_hash')
      if (!(a.token instanceof Uint8Array) || a.token.length > limits.maxTokenBytes) return reject('announce_peer: bad token')
      if (a.port !== undefined && !isUint(a.port, 65535)) return reject('announce_peer: bad port')
      if (a.implied_port !== undefined && !isUint(a.implied_port, 1)) return reject('announce_peer: bad implied_port')
      if (a.port === undefined && a.implied_port !== 1) return reject('announce_peer: no port')
      break
  }
  return { ok: true, y: 'q', method: method as KrpcMethod, t, packet, trimmed: false }
}

function checkError (msg: Dict, t: Buffer, packet: Buffer): InboundVerdict {
  // k-rpc-socket joins the list into its error message: a dictionary in it (one with its own `toString` key) throws
  if (!Array.isArray(msg.e) || !msg.e.every((v) => typeof v === 'number' || v instanceof Uint8Array)) return reject('error: e is not a list of codes and messages')
  return { ok: true, y: 'e', t, packet, trimmed: false }
}

function checkResponse (msg: Dict, t: Buffer, packet: Buffer, limits: KrpcLimits): InboundVerdict {
  const r = msg.r
  if (!isDict(r) || !bytesOfLength(r.id, 20)) return reject('response: bad r.id')
  if (r.token !== undefined && (!(r.token instanceof Uint8Array) || r.token.length > limits.maxTokenBytes)) return reject('response: bad token')
  let trimmed = false
  if (r.nodes !== undefined) {
    if (!(r.nodes instanceof Uint8Array)) return reject('response: nodes is not a string')
    const whole = Math.min(Math.floor(r.nodes.length / NODE_CONTACT), limits.maxNodes) * NODE_CONTACT
    if (whole !== r.nodes.length) {
      r.nodes = r.nodes.subarray(0, whole)
      trimmed = true
    }
  }
  if (r.values !== undefined) {
    if (!Array.isArray(r.values)) return reject('response: values is not a list')
    const kept = (r.values as unknown[]).filter((v) => bytesOfLength(v, PEER_CONTACT)).slice(0, limits.maxValues)
    if (kept.length !== r.values.length) {
      r.values = kept
      trimmed = true
    }
  }
  if (!trimmed) return { ok: true, y: 'r', t, packet, trimmed }
  return { ok: true, y: 'r', t, packet: toBuffer(bencode.encode(msg)), trimmed }
}

export interface OutboundCheck {
  readonly y: 'q' | 'r' | 'e' | null
  readonly t: Buffer | null
  /** The bytes to send (our reply with `values` cut to `maxValues`, or the packet as it was). */
  readonly packet: Buffer
}

export function checkOutbound (packet: Buffer, limits: KrpcLimits = KRPC_LIMITS): OutboundCheck {
  const msg = decode(packet)
  if (msg === null) return { y: null, t: null, packet }
  const y = text(msg.y)
  const t = msg.t instanceof Uint8Array ? toBuffer(msg.t) : null
  const kind = y === 'q' || y === 'r' || y === 'e' ? y : null
  if (kind === 'r' && isDict(msg.r) && Array.isArray(msg.r.values) && msg.r.values.length > limits.maxValues) {
    msg.r.values = (msg.r.values as unknown[]).slice(0, limits.maxValues)
    return { y: kind, t, packet: toBuffer(bencode.encode(msg)) }
  }
  return { y: kind, t, packet }
}
