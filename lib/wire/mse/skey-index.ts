/**
 * The info hashes a responder serves, indexed by HASH('req2', infoHash): an encrypted connection names its
 * torrent only through that hash (handshake.ts), so a listener keeps one of these next to its torrent
 * registry and passes `index.find` as `findInfoHash`. O(1) per lookup; one entry per registered torrent.
 */
import { req2Hash } from './dh.js'

export class SkeyIndex {
  readonly #byReq2 = new Map<string, Buffer>()

  constructor (infoHashes: Iterable<Buffer> = []) {
    for (const h of infoHashes) this.add(h)
  }

  get size (): number {
    return this.#byReq2.size
  }

  add (infoHash: Buffer): void {
    this.#byReq2.set(req2Hash(infoHash).toString('hex'), infoHash)
  }

  delete (infoHash: Buffer): void {
    this.#byReq2.delete(req2Hash(infoHash).toString('hex'))
  }

  /** The info hash whose HASH('req2', ·) is `req2`, or null. */
  readonly find = (req2: Buffer): Buffer | null => this.#byReq2.get(req2.toString('hex')) ?? null
}
