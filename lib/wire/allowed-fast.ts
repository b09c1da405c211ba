/**
 * BEP 6 "Allowed Fast" set: the pieces a peer may request from us even while choked, so a newcomer with nothing
 * to trade gets its first pieces quickly. The set is the canonical one of BEP 6, computed from the peer's IPv4
 * address (/24, so peers behind one NAT share it) and the info hash, so every client derives the same set:
 *
 *   x = (ip & 0xffffff00) ++ infohash;  repeat { x = SHA1(x); each of its five 4-byte words y → y mod pieces }
 *
 * until k distinct pieces are chosen. IPv6 peers get none (BEP 6 defines the set for IPv4 only).
 */
import { createHash } from 'node:crypto'
import { isIPv4 } from 'node:net'

/** Pieces granted per peer (BEP 6 suggests a small k; libtorrent grants 10). */
export const ALLOWED_FAST_COUNT = 10

export function allowedFastSet (ip: string, infoHash: Buffer, pieceCount: number, k: number = ALLOWED_FAST_COUNT): number[] {
  const address = ip.startsWith('::ffff:') ? ip.slice(7) : ip
  if (!isIPv4(address) || pieceCount <= 0) return []
  const want = Math.min(k, pieceCount)
  const octets = address.split('.').map(Number)
  let x = Buffer.concat([Buffer.from([octets[0]!, octets[1]!, octets[2]!, 0]), infoHash])
  const chosen: number[] = []
  while (chosen.length < want) {
    x = createHash('sha1').update(x).digest()
    for (let i = 0; i < 5 && chosen.length < want; i++) {
      const index = x.readUInt32BE(i * 4) % pieceCount
      if (!chosen.includes(index)) chosen.push(index)
    }
  }
  return chosen
}
