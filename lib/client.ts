/**
 * Running a torrent: a Session plus its peer sources — the listener for incoming peers, the trackers
 * (lib/tracker/announcer.ts) and peers the user names. The CLI's download, seed and demo commands, and a user's
 * script, use this; each part can also be used alone.
 */
import { Session, type SessionOptions } from './session.js'
import { Listener, DEFAULT_PORTS } from './listener.js'
import { Announcer } from './tracker/announcer.js'
import type { Metainfo } from './metainfo.js'
import type { PeerAddress } from './swarm.js'
import { generatePeerId } from './wire/handshake.js'

export interface TorrentOptions extends SessionOptions {
  /** Ask the torrent's trackers for peers (default true). */
  trackers?: boolean
  /** Peers to connect to directly. */
  peers?: readonly PeerAddress[]
  /** Accept incoming peers on this host (default '127.0.0.1'... see below) and ports; false: do not listen. */
  listen?: { host: string, ports: readonly number[] } | false
  /** Addresses that are ours, so trackers' lists do not make us dial ourselves. */
  ownAddresses?: readonly string[]
  /** Tracker request timeouts etc. (tests shorten them). */
  announcer?: { retryDelayMs?: number, intervalFloorMs?: number }
  /** Called with the session before it starts (e.g. to show its 'checking' progress). */
  onSession?: (session: Session) => void
  /** While downloading with fewer peers than this, ask the trackers again (at their `min interval`). */
  wantPeers?: number
}

export const CLIENT_DEFAULTS = {
  wantPeers: 10,
  /** How often the peer count is checked against `wantPeers`. */
  peerCheckInterval: 5_000
} as const

export interface RunningTorrent {
  readonly session: Session
  readonly port: number
  readonly announcer: Announcer | null
  stop: () => Promise<void>
}

export async function startTorrent (meta: Metainfo, opts: TorrentOptions): Promise<RunningTorrent> {
  const peerId = opts.peerId ?? generatePeerId()
  let listener: Listener | null = null
  let port = 0
  if (opts.listen !== false) {
    listener = new Listener({ peerId })
    const listen = opts.listen ?? { host: '0.0.0.0', ports: DEFAULT_PORTS }
    port = await listener.listen(listen.host, listen.ports)
  }
  const session = new Session(meta, { ...opts, peerId, port })
  listener?.register(meta.infoHash, session)

  let announcer: Announcer | null = null
  const tiers = meta.announce.filter((tier) => tier.length > 0)
  if (opts.trackers !== false && tiers.length > 0) {
    announcer = new Announcer({
      tiers,
      infoHash: meta.infoHash,
      peerId,
      port: port === 0 ? 6881 : port,
      getStats: () => {
        const stats = session.stats()
        return { uploaded: stats.uploaded, downloaded: stats.downloaded, left: stats.bytesWanted - stats.bytesHave }
      },
      ...(opts.ownAddresses !== undefined ? { ownAddresses: opts.ownAddresses } : {}),
      ...opts.announcer
    })
    announcer.on('peer', (peer) => session.addPeer({ host: peer.host, port: peer.port }))
  }

  // A torrent that joined early learnt of few peers; the regular schedule (the tracker's interval, at least a
  // minute) is too slow to find the ones that came since. libtorrent likewise re-announces when it lacks peers.
  const wantPeers = opts.wantPeers ?? CLIENT_DEFAULTS.wantPeers
  const peerCheck = announcer === null
    ? null
    : setInterval(() => {
      const stats = session.stats()
      if (!stats.done && stats.peersConnected < wantPeers) announcer?.announce()
    }, CLIENT_DEFAULTS.peerCheckInterval)
  peerCheck?.unref()

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    if (peerCheck !== null) clearInterval(peerCheck)
    await Promise.all([
      announcer?.stop(),
      session.close(),
      listener?.close()
    ])
  }

  opts.onSession?.(session)
  try {
    await session.start()
  } catch (err) {
    await stop()
    throw err
  }
  if (!session.done || opts.seed === true) {
    announcer?.start()
    for (const peer of opts.peers ?? []) session.addPeer(peer)
  }
  session.once('done', () => announcer?.complete())
  return { session, port, announcer, stop }
}
