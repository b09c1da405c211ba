/**
 * BEP 10 extensions, composed: each extension (ut_pex now, ut_metadata next) contributes its name to our
 * handshake's `m` dictionary, and optionally other keys (ut_metadata's `metadata_size`), and receives the
 * messages sent to its id. The session builds one `Extensions` per torrent from the extensions that torrent uses
 * and, for each wire, calls `attach(wire)` and then `wire.extendedHandshake(extensions.handshake({ p: port }))`.
 *
 * Ids (BEP 10): the ids in *our* `m` are the ones the peer uses when it sends to us — the Wire reports them as
 * `'extended'` (id, payload). The ids in the *peer's* `m` are the ones we use when we send to it; `send` looks them
 * up in `wire.peerExtended`, which the Wire updates whenever the peer sends a new handshake (an id of 0 there
 * disables the extension). Our ids are fixed per name for the life of the torrent: by default in the order given,
 * starting at 1 (ut_pex first gives 1, as libtorrent uses; ut_metadata second gives 2, also libtorrent's).
 */
import { ZentorrentError } from '../errors.js'
import type { ExtendedHandshake } from '../wire/messages.js'
import type { Wire } from '../wire/wire.js'

export interface Extension {
  /** The BEP 10 name, e.g. `ut_pex`. */
  readonly name: string
  /** Our id for it (1..255); default: its position in the list, from 1. */
  readonly localId?: number
  /** Keys besides `m` this extension adds to our handshake. */
  handshakeFields?: () => Record<string, unknown>
  /** The peer's extended handshake arrived (or changed). `peerId` is the id it wants for this extension, 0 if none. */
  onHandshake?: (wire: Wire, peerId: number, dict: ExtendedHandshake) => void
  /** A message the peer sent to our id for this extension. */
  onMessage: (wire: Wire, payload: Buffer) => void
  /** The wire closed (after `attach`). */
  onClose?: (wire: Wire) => void
}

export class Extensions {
  readonly #byId = new Map<number, Extension>()
  readonly #ids = new Map<string, number>()
  readonly #list: readonly Extension[]

  constructor (extensions: ReadonlyArray<Extension | null | undefined>) {
    this.#list = extensions.filter((e): e is Extension => e !== null && e !== undefined)
    this.#list.forEach((ext, i) => {
      const id = ext.localId ?? i + 1
      if (!Number.isInteger(id) || id < 1 || id > 255) throw new ZentorrentError('BAD_ARGUMENT', `extension ${ext.name}: id ${id} is outside 1..255`)
      if (this.#byId.has(id) || this.#ids.has(ext.name)) throw new ZentorrentError('BAD_ARGUMENT', `extension ${ext.name} (id ${id}) is given twice`)
      this.#byId.set(id, ext)
      this.#ids.set(ext.name, id)
    })
  }

  /** Our id for `name`, or 0 when we do not offer it. */
  localId (name: string): number {
    return this.#ids.get(name) ?? 0
  }

  /** The dictionary for `wire.extendedHandshake`: `base` plus every extension's fields, `m` composed. */
  handshake (base: ExtendedHandshake = {}): ExtendedHandshake {
    const out: ExtendedHandshake = { ...base }
    const m: Record<string, number> = { ...base.m }
    for (const ext of this.#list) {
      Object.assign(out, ext.handshakeFields?.())
      m[ext.name] = this.#ids.get(ext.name)!
    }
    out.m = m
    return out
  }

  /**
   * Route `wire`'s extended messages to the extensions. Call it as soon as the wire exists (in the swarm's 'wire'
   * event, synchronously): a handshake that arrived already is delivered at once. Returns a function that detaches.
   */
  attach (wire: Wire): () => void {
    const onHandshake = (dict: ExtendedHandshake): void => {
      for (const ext of this.#list) ext.onHandshake?.(wire, dict.m?.[ext.name] ?? 0, dict)
    }
    const onExtended = (id: number, payload: Buffer): void => {
      this.#byId.get(id)?.onMessage(wire, payload) // an id we never offered: ignored (BEP 10)
    }
    const onClose = (): void => {
      detach()
      for (const ext of this.#list) ext.onClose?.(wire)
    }
    const detach = (): void => {
      wire.off('extended-handshake', onHandshake)
      wire.off('extended', onExtended)
      wire.off('close', onClose)
    }
    wire.on('extended-handshake', onHandshake)
    wire.on('extended', onExtended)
    wire.once('close', onClose)
    if (wire.peerExtended !== null) onHandshake(wire.peerExtended)
    return detach
  }
}

/** The id the peer wants for `name` (0: it does not support it, or not yet known). */
export function peerExtensionId (wire: Wire, name: string): number {
  return wire.peerExtended?.m?.[name] ?? 0
}

/** Send `payload` to the peer's `name` extension; false (nothing sent) when the peer does not support it. */
export function sendExtension (wire: Wire, name: string, payload: Buffer): boolean {
  const id = peerExtensionId(wire, name)
  if (id === 0 || wire.destroyed) return false
  wire.extended(id, payload)
  return true
}
