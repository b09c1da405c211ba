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
import type { PeerAddress } from './peer-address.js'
import { generatePeerId } from './wire/handshake.js'
import { every, systemClock, type Cancel } from './clock.js'

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
}

/** `left` announced while a magnet's size is unknown (one block). */
const UNKNOWN_LEFT = 16384

export const CLIENT_DEFAULTS = {
  wantPeers: 10,
  /** How often the peer count is checked against `wantPeers`. */
  peerCheckInterval: 5_000
} as const

export interface RunningTorrent {
  readonly torrent: Torrent
  readonly port: number
  readonly announcer: Announcer | null
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
  const peers = [...(input?.peers ?? []), ...(opts.peers ?? [])]
  const peerId = opts.peerId ?? generatePeerId()
  const clock = opts.clock ?? systemClock
  let listener: Listener | null = null
  let port = 0
  if (opts.listen !== false) {
    listener = new Listener({ peerId })
    const listen = opts.listen ?? { host: '0.0.0.0', ports: DEFAULT_PORTS }
    port = await listener.listen(listen.host, listen.ports)
  }
  const torrent = new Torrent(meta ?? { infoHash, ...(input?.kind === 'magnet' && input.name !== undefined ? { name: input.name } : {}) }, { ...opts, peerId, port })
  listener?.register(infoHash, torrent)

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
    announcer.on('peer', (peer) => torrent.addPeer({ host: peer.host, port: peer.port }))
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

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    stopPeerCheck?.()
    await Promise.all([
      announcer?.stop(),
      torrent.destroy(),
      listener?.close()
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
    for (const peer of peers) torrent.addPeer(peer)
  }
  torrent.once('done', () => announcer?.complete())
  return { torrent, port, announcer, stop }
}
