/**
 * The encryption policy a user picks (`--encryption prefer|require|disable`), and what it means for the
 * methods we offer or accept in an MSE handshake:
 *
 *   prefer   outgoing: MSE first, offering RC4 and plaintext; a plain BitTorrent connection when the peer
 *            refuses MSE (a second dial, see dial.ts). Incoming: plain and MSE, selecting plaintext when the peer
 *            offers both (RC4 when it offers only RC4). libtorrent's default behaviour (`pe_enabled`, `pe_both`,
 *            `prefer_rc4` false), which qBittorrent keeps: the MSE handshake hides the protocol, and the payload
 *            is not encrypted twice over when neither side insists. A swarm of zentorrent peers selecting RC4
 *            spent ~30 % more CPU per leecher (bench/swarm.ts) for nothing the handshake did not already give.
 *   require  MSE only, RC4 only, both ways: a plain incoming connection is dropped (MSE_REQUIRED).
 *   disable  plain BitTorrent only: an MSE incoming connection is dropped (MSE_DISABLED).
 */
import type { MseMethod } from './handshake.js'

export type EncryptionPolicy = 'prefer' | 'require' | 'disable'

export const ENCRYPTION_POLICIES: readonly EncryptionPolicy[] = ['prefer', 'require', 'disable']

export const ENCRYPTION_DEFAULTS = { policy: 'prefer' as EncryptionPolicy } as const

/** The MSE methods a policy accepts, most preferred first (none for `disable`). */
export function policyMethods (policy: EncryptionPolicy): readonly MseMethod[] {
  switch (policy) {
    case 'prefer': return ['plaintext', 'rc4']
    case 'require': return ['rc4']
    case 'disable': return []
  }
}
