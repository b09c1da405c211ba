/**
 * BEP 10 extensions on a Wire: our ids, and one extended handshake composed from every extension's part.
 *
 * BEP 10 lets each side choose the ids it wants to receive each extension under, in the `m` of its handshake; a
 * side sends an extension's messages with the id the *other* side chose, and receives them with its own. So:
 * - Our ids are fixed, one table for every wire (`LOCAL_EXTENSION_IDS`, libtorrent's numbering, which makes
 *   captures easy to read side by side). The Wire emits `'extended' (id, payload)` with our id; each extension
 *   listens to that event and takes only its own id.
 * - The peer's ids come from its handshake (`peerExtensionId`): 0 or absent means it does not speak that
 *   extension (BEP 10: "0 disables"). A later handshake replaces the earlier one (BEP 10 allows re-sending).
 * - The session sends ONE extended handshake per wire, built by `composeExtendedHandshake` from the parts each
 *   extension contributes (ut_metadata gives `m.ut_metadata` and, when known, `metadata_size`; ut_pex its `m`
 *   entry; the Wire adds `v` and `reqq`). Two parts giving one key different values is a programming error
 *   (BAD_ARGUMENT), caught at the first connection rather than seen as a confused peer.
 */
import { ZentorrentError } from '../errors.js'
import type { ExtendedHandshake } from './messages.js'
import type { Wire } from './wire.js'

/** The ids we receive each extension under (the `m` we advertise). */
export const LOCAL_EXTENSION_IDS = {
  ut_pex: 1,
  ut_metadata: 2
} as const

export type ExtensionName = keyof typeof LOCAL_EXTENSION_IDS

/** One extension's part of our extended handshake: its `m` entries and any top-level keys it needs. */
export type HandshakePart = ExtendedHandshake

/**
 * Merge the parts into one handshake dictionary: the `m` entries of all, and every other key once. Throws
 * BAD_ARGUMENT when two parts give one name two ids, one id two names, or one key two values.
 */
export function composeExtendedHandshake (parts: readonly HandshakePart[]): ExtendedHandshake {
  const m: Record<string, number> = {}
  const owner = new Map<number, string>()
  const out: ExtendedHandshake = {}
  for (const part of parts) {
    for (const [name, id] of Object.entries(part.m ?? {})) {
      if (m[name] !== undefined && m[name] !== id) throw new ZentorrentError('BAD_ARGUMENT', `extension ${name} is given two ids (${m[name]} and ${id})`)
      const other = owner.get(id)
      if (id !== 0 && other !== undefined && other !== name) throw new ZentorrentError('BAD_ARGUMENT', `extension id ${id} is given to both ${other} and ${name}`)
      m[name] = id
      if (id !== 0) owner.set(id, name)
    }
    for (const [key, value] of Object.entries(part)) {
      if (key === 'm' || value === undefined) continue
      if (out[key] !== undefined && !sameValue(out[key], value)) throw new ZentorrentError('BAD_ARGUMENT', `extended handshake key ${key} is given two values`)
      out[key] = value
    }
  }
  out.m = m
  return out
}

function sameValue (a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b)
  return a === b
}

/** The id the peer receives `name` under, or null when it does not speak it (no handshake yet, absent, or 0). */
export function peerExtensionId (wire: Pick<Wire, 'peerExtended'>, name: string): number | null {
  const id = wire.peerExtended?.m?.[name]
  return id === undefined || id === 0 ? null : id
}
