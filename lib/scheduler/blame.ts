/**
 * Blame: who is banned for data that failed its hash check. What libtorrent does (its smart-ban plugin and its
 * piece re-fetch), so one lying peer never gets an honest one banned:
 *
 * - a piece whose every block came from one peer and fails: that peer lied; banned at once;
 * - a piece whose blocks came from several peers and fails: nobody is blamed yet. The ledger keeps a digest of each
 *   peer's blocks of the failed attempt and re-fetches the piece from one peer alone (lib/ledger.ts "exclusive").
 *   If that fetch fails too, its peer was the sole contributor and is banned; when it verifies, the ledger compares
 *   the good blocks with the recorded ones and names the peers whose blocks differed ('liars'): banned.
 * - a banned peer's blocks are dropped from every piece still assembling (they would fail that piece and, as
 *   before, get the honest peer that completed it blamed).
 * Bans are decided here and carried out by the caller ('ban' callback): the scheduler drops the wire, the swarm
 * refuses the address and the peer id.
 */
import type { LedgerChange, PieceLedger } from '../ledger.js'

export interface BanReason {
  readonly id: string
  /** The piece whose data convicted it. */
  readonly index: number
  readonly reason: 'sole-contributor' | 'block-mismatch'
}

export class Blame {
  readonly #ledger: PieceLedger
  readonly #ban: (reason: BanReason) => void
  readonly #banned: Set<string> = new Set()
  readonly #unsubscribe: () => void

  constructor (ledger: PieceLedger, ban: (reason: BanReason) => void) {
    this.#ledger = ledger
    this.#ban = ban
    this.#unsubscribe = ledger.onChange((change) => this.#onChange(change))
  }

  isBanned (id: string): boolean { return this.#banned.has(id) }

  close (): void { this.#unsubscribe() }

  #onChange (change: LedgerChange): void {
    if (change.type === 'invalid' && change.contributors.length === 1) this.#convict(change.contributors[0]!, change.index, 'sole-contributor')
    if (change.type === 'liars') for (const id of change.peers) this.#convict(id, change.index, 'block-mismatch')
  }

  #convict (id: string, index: number, reason: BanReason['reason']): void {
    if (this.#banned.has(id)) return
    this.#banned.add(id)
    // its blocks leave every assembly before anything else can complete with them
    for (const open of [...this.#ledger.openPieces()]) {
      if (this.#ledger.deliverers(open).includes(id)) this.#ledger.resetPiece(open)
    }
    this.#ban({ id, index, reason })
  }
}
