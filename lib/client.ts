/**
 * Running a torrent: a Torrent (lib/torrent.ts) plus its peer sources — the listener for incoming peers, the
 * trackers (lib/tracker/announcer.ts) and peers the user names. The CLI's download, seed and demo commands, and a
 * user's script, use this; each part can also be used alone.
 */
import { Torrent, type TorrentOptions } from './torrent.js'
import type { TorrentInput } from './torrent-input.js'
import { Listener, DEFAULT_PORTS } from './listener.js'
import { Announcer } from './tracker/announcer.js'
import type { Metainfo } from './metainfo.js'
import type { PeerAddress } from './peers/address.js'
import { generatePeerId } from './wire/handshake.js'
import { every, systemClock, type Cancel } from './clock.js'
import { Dht, type DhtTorrent } from './discovery/dht.js'
import { Lsd } from './discovery/lsd.js'
import { isZentorrentError } from './errors.js'
import { BLOCK_LENGTH } from './geometry.js'

export interface StartOptions extends TorrentOptions {
  /** Ask the torrent's trackers for peers (default true). */
  trackers?: boolean
  /** Peers to connect to directly. */
  peers?: readonly PeerAddress[]
  /** Accept incoming peers on this host and ports (default 0.0.0.0, 6881–6889 then any); false: do not listen. */
  listen?: { host: string, ports: readonly number[] } | false
  /** Addresses that are ours, so trackers' lists do not make us dial ourselves. */
  ownAddresses?: readonly string[]
  /** Tracker request timeouts etc. (tests shorten them). */
  announcer?: { retryDelayMs?: number, intervalFloorMs?: number }
  /** Called with the torrent before it starts (e.g. to show its 'checking' progress). */
  onTorrent?: (torrent: Torrent) => void
  /** While downloading with fewer peers than this, ask the trackers again (at their `min interval`). */
  wantPeers?: number
  /** Keep asking trackers for peers after the download completes (seeding). */
  seed?: boolean
  /** Listen only on the ports given (a busy one is an error), not on any free port after them. */
  strictPort?: boolean
  /** The Mainline DHT (BEP 5): false for none; bootstrap nodes and the state file. Never for private torrents. */
  dht?: false | { bootstrap?: ReadonlyArray<string | PeerAddress>, statePath?: string | null, port?: number }
  /** Local service discovery (BEP 14), off unless asked for: multicast leaves the machine. */
  lsd?: boolean
  /** How often a torrent with no peer and none to try asks every source again (ms). */
  starvingCheck?: number
}

/** `left` announced while a magnet's size is unknown (one block). */
const UNKNOWN_LEFT = BLOCK_LENGTH

export const CLIENT_DEFAULTS = {
  wantPeers: 10,
  /** How often the peer count is checked against `wantPeers`. */
  peerCheckInterval: 5_000,
  starvingCheck: 5_000
} as const

export interface RunningTorrent {
  readonly torrent: Torrent
  readonly port: number
  readonly announcer: Announcer | null
  readonly dht: Dht | null
  readonly lsd: Lsd | null
  /** What went wrong while starting that did not stop the torrent (a refused or failed DHT, LSD …). */
  readonly warnings: readonly Error[]
  stop: () => Promise<void>
}

/**
 * Start a torrent from its metainfo, or from any input `resolveTorrentInput` understood (a .torrent path or URL, a
 * magnet link, an info hash): a magnet starts without metadata and fetches it from the peers (BEP 9). Trackers are
 * the input's tiers (a magnet's `tr`, then the metadata's), peers the input's (`x.pe`) and `opts.peers`.
 */
export async function startTorrent (source: Metainfo | TorrentInput, opts: StartOptions): Promise<RunningTorrent> {
  const input: TorrentInput | null = 'kind' in source ? source : null
  const meta: Metainfo | null = input === null ? source as Metainfo : input.kind === 'metainfo' ? input.meta : null
  const infoHash = meta?.infoHash ?? (input as TorrentInput & { kind: 'magnet' }).infoHash
  const tiersGiven = meta?.announce ?? input?.trackers ?? []
  const peerId = opts.peerId ?? generatePeerId()
  const clock = opts.clock ?? systemClock
  // private torrents (BEP 27) use their trackers only; a magnet's privacy is known once its metadata is
  const isPrivate = (): boolean => meta?.private ?? (torrentRef?.hasMetadata === true && torrentRef.meta.private)
  let torrentRef: Torrent | null = null
  // the DHT's guard (ZENTORRENT_NO_PUBLIC_DHT) refuses before any socket exists: checked before listening
  let dhtOptions = opts.dht === false || meta?.private === true
    ? null
    : { clock, ...(opts.dht?.bootstrap !== undefined ? { bootstrap: opts.dht.bootstrap } : {}), ...(opts.dht?.statePath !== undefined ? { statePath: opts.dht.statePath } : {}) }
  // Under ZENTORRENT_NO_PUBLIC_DHT=1 the public routers are refused: without local nodes named, no DHT at all
  // (said as a warning once the torrent exists); nothing has been opened or sent when this is decided.
  let dhtRefused: Error | null = null
  try {
    if (dhtOptions !== null) new Dht(dhtOptions) // eslint-disable-line no-new -- the guard runs in the constructor
  } catch (err) {
    if (!isZentorrentError(err, 'DHT_PUBLIC_REFUSED')) throw err
    dhtRefused = err
    dhtOptions = null
  }
  let listener: Listener | null = null
  let port = 0
  if (opts.listen !== false) {
    listener = new Listener({ peerId, clock, dht: dhtOptions !== null, ...(opts.encryption !== undefined ? { encryption: opts.encryption } : {}) })
    const listen = opts.listen ?? { host: '0.0.0.0', ports: DEFAULT_PORTS }
    port = await listener.listen(listen.host, listen.ports, { strict: opts.strictPort === true })
  }
  // one UDP port for the DHT, the number of our TCP port (as clients do); a peer learns it from our `port` message
  const dhtPort = (opts.dht === false ? undefined : opts.dht?.port) ?? port
  const dht = dhtOptions === null ? null : new Dht({ ...dhtOptions, port: dhtPort })
  const torrent = new Torrent(meta ?? { infoHash, ...(input?.kind === 'magnet' && input.name !== undefined ? { name: input.name } : {}) }, {
    ...opts, peerId, port, ...(dht !== null ? { dhtPort } : {})
  })
  torrentRef = torrent
  listener?.register(infoHash, torrent)
  const warnings: Error[] = dhtRefused !== null ? [dhtRefused] : []

  // DHT and LSD feed the torrent's peer book; a peer's BEP 5 `port` message feeds the DHT
  let dhtTorrent: DhtTorrent | null = null
  if (dht !== null) {
    await dht.start().then(() => {
      dhtTorrent = dht.join({ infoHash, port: port === 0 ? 6881 : port, private: false })
      dhtTorrent.on('peer', (address) => { if (!isPrivate()) torrent.addPeer(address, 'dht') })
      torrent.on('dht-node', (address) => { dht.addNode(address) })
    }, (err: unknown) => { warnings.push(err instanceof Error ? err : new Error(String(err))) })
  }
  const lsd = opts.lsd === true && meta?.private !== true ? new Lsd({ port: port === 0 ? 6881 : port, clock }) : null
  if (lsd !== null) {
    await lsd.start().catch((err: unknown) => { warnings.push(err instanceof Error ? err : new Error(String(err))) })
    lsd.add({ infoHash, private: false })
    lsd.on('peer', (address, hash) => { if (hash.equals(infoHash) && !isPrivate()) torrent.addPeer(address, 'lsd') })
  }
  torrent.on('metadata', (m) => {
    if (!m.private) return
    dhtTorrent?.leave() // the metadata says private: trackers only from now on
    lsd?.remove(infoHash)
  })

  let announcer: Announcer | null = null
  const tiers = tiersGiven.filter((tier) => tier.length > 0)
  if (opts.trackers !== false && tiers.length > 0) {
    announcer = new Announcer({
      tiers,
      infoHash,
      peerId,
      port: port === 0 ? 6881 : port,
      clock,
      getStats: () => {
        const stats = torrent.stats()
        // before a magnet's metadata the size is unknown: a non-zero `left`, so the tracker counts us a leecher
        const left = torrent.hasMetadata ? stats.bytesWanted - stats.bytesHave : UNKNOWN_LEFT
        return { uploaded: stats.uploaded, downloaded: stats.downloaded, left }
      },
      ...(opts.ownAddresses !== undefined ? { ownAddresses: opts.ownAddresses } : {}),
      ...opts.announcer
    })
    announcer.on('peer', (peer) => torrent.addPeer({ host: peer.host, port: peer.port }, 'tracker'))
  }

  // A torrent that joined early learnt of few peers; the regular schedule (the tracker's interval, at least a
  // minute) is too slow to find the ones that came since. libtorrent likewise re-announces when it lacks peers.
  const wantPeers = opts.wantPeers ?? CLIENT_DEFAULTS.wantPeers
  const stopPeerCheck: Cancel | null = announcer === null
    ? null
    : every(clock, CLIENT_DEFAULTS.peerCheckInterval, () => {
      const stats = torrent.stats()
      if (!stats.done && stats.peersConnected < wantPeers) announcer?.announce()
    })
  // no peer connected and none left to try: ask every source again now, not at the next interval
  const stopStarvingCheck = every(clock, opts.starvingCheck ?? CLIENT_DEFAULTS.starvingCheck, () => {
    if (torrent.done && opts.seed !== true) return
    if (torrent.peerStatus()?.starving !== true) return
    announcer?.announce()
    dhtTorrent?.refresh()
    lsd?.refresh(infoHash)
  })

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    stopPeerCheck?.()
    stopStarvingCheck()
    dhtTorrent?.leave()
    await Promise.all([
      announcer?.stop(),
      torrent.destroy(),
      listener?.close(),
      dht?.close(),
      lsd?.close()
    ])
  }

  opts.onTorrent?.(torrent)
  try {
    await torrent.start()
  } catch (err) {
    await stop()
    throw err
  }
  if (!torrent.done || opts.seed === true) {
    announcer?.start()
    for (const peer of input?.peers ?? []) torrent.addPeer(peer, 'magnet')
    for (const peer of opts.peers ?? []) torrent.addPeer(peer, 'manual')
  }
  torrent.once('done', () => announcer?.complete())
  return { torrent, port, announcer, dht, lsd, warnings, stop }
}
