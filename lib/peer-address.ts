/**
 * A peer's address, as trackers, the DHT, PEX, the user and incoming connections name it, and the key we file it
 * under (`host:port`, `[v6]:port`). One declaration for every module that handles peers.
 */
export interface PeerAddress {
  readonly host: string
  readonly port: number
}

/** `host:port`, or `[host]:port` for IPv6; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is keyed as IPv4. */
export function addressKey (address: PeerAddress): string {
  const host = address.host.startsWith('::ffff:') && address.host.includes('.') ? address.host.slice(7) : address.host
  return host.includes(':') ? `[${host}]:${address.port}` : `${host}:${address.port}`
}

/** The host part of a key made by `addressKey`. */
export function hostOfKey (key: string): string {
  return key.startsWith('[') ? key.slice(1, key.indexOf(']')) : key.slice(0, key.lastIndexOf(':'))
}
