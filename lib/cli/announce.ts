/**
 * `zentorrent announce FILE.torrent [--scrape] [--json] [--port N]`: ask every tracker of a torrent (every tier,
 * every URL — unlike a download, which stops at the first answer per BEP 12) and show what each says.
 *
 * Without `--scrape`: an announce with `event=started`, then `stopped` so we do not linger in the swarm (nothing
 * listens on the port we announce). With `--scrape`: a scrape only (BEP 48 / BEP 15), which joins nothing.
 * Trackers are asked a few at a time; results are printed in the torrent's order. Exit 0 if at least one tracker
 * answered. URLs come from the torrent, errors, warnings and (non-compact) peer hosts from the tracker: text output
 * passes them through safeText; `--json` keeps them exact.
 */
import { randomBytes } from 'node:crypto'
import { ZentorrentError, isZentorrentError } from '../errors.js'
import { createTrackerClient } from '../tracker/client.js'
import type { AnnounceResponse, ScrapeEntry } from '../tracker/types.js'
import { generatePeerId } from '../wire/handshake.js'
import { parseCommand } from './args.js'
import { ANNOUNCE_COMMAND } from './commands.js'
import { loadTorrentFile } from './info.js'
import { reportError } from './report.js'
import { safeText } from './safe-text.js'


/** Peers shown per tracker in text output. */
const SHOWN_PEERS = 20
/** Trackers asked at the same time. */
const CONCURRENCY = 8
/** A CLI user waits: 15 s per HTTP exchange; UDP 5 + 10 + 20 s (BEP 15 back-off with a shorter base). */
const CLIENT_OPTIONS = { http: { timeout: 15_000 }, udp: { baseTimeout: 5_000, retries: 2 } }

export interface TrackerResult {
  url: string
  ok: boolean
  peers?: string[]
  seeders?: number
  leechers?: number
  completed?: number
  interval?: number
  minInterval?: number
  warning?: string
  error?: { code: string, message: string }
}

export async function run (argv: string[]): Promise<number> {
  try {
    const parsed = parseCommand(argv, ANNOUNCE_COMMAND)
    if (parsed === null) return 0
    const path = parsed.positionals[0]!
    const port = parsed.values.port

    const meta = await loadTorrentFile(path)
    const urls = [...new Set(meta.announce.flat())]
    if (urls.length === 0) throw new ZentorrentError('NO_TRACKERS', `${path} lists no trackers (a trackerless torrent needs DHT)`)
    const ask = parsed.values.scrape
      ? (url: string) => scrapeOne(url, meta.infoHash)
      : (url: string) => announceOne(url, { infoHash: meta.infoHash, port, left: meta.length })
    const results = await mapLimited(urls, CONCURRENCY, ask)

    if (parsed.values.json) {
      process.stdout.write(JSON.stringify({ infoHash: meta.infoHashHex, trackers: results }) + '\n')
    } else {
      for (const result of results) process.stdout.write(formatResult(result))
    }
    return results.some((r) => r.ok) ? 0 : 1
  } catch (err) {
    return reportError(err)
  }
}

async function announceOne (url: string, torrent: { infoHash: Buffer, port: number, left: number }): Promise<TrackerResult> {
  let client
  try {
    client = createTrackerClient(url, CLIENT_OPTIONS)
  } catch (err) {
    return failed(url, err)
  }
  const request = {
    infoHash: torrent.infoHash,
    peerId: generatePeerId(),
    port: torrent.port,
    uploaded: 0,
    downloaded: 0,
    left: torrent.left,
    key: randomBytes(4).readUInt32BE(0)
  }
  try {
    const reply: AnnounceResponse = await client.announce({ ...request, event: 'started', numwant: 50 })
    // Politeness: leave the swarm we just joined; its outcome does not change what the tracker told us.
    await client.announce({ ...request, event: 'stopped', numwant: 0 }).catch(() => {})
    const result: TrackerResult = {
      url,
      ok: true,
      peers: reply.peers.map((p) => p.family === 6 ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`),
      interval: reply.interval
    }
    if (reply.complete !== undefined) result.seeders = reply.complete
    if (reply.incomplete !== undefined) result.leechers = reply.incomplete
    if (reply.minInterval !== undefined) result.minInterval = reply.minInterval
    if (reply.warning !== undefined) result.warning = reply.warning
    return result
  } catch (err) {
    return failed(url, err)
  } finally {
    client.close()
  }
}

async function scrapeOne (url: string, infoHash: Buffer): Promise<TrackerResult> {
  let client
  try {
    client = createTrackerClient(url, CLIENT_OPTIONS)
  } catch (err) {
    return failed(url, err)
  }
  try {
    const entry: ScrapeEntry | undefined = (await client.scrape([infoHash])).get(infoHash.toString('hex'))
    if (entry === undefined) return failed(url, new ZentorrentError('TRACKER_BAD_REPLY', 'the tracker does not know this torrent'))
    return { url, ok: true, seeders: entry.complete, leechers: entry.incomplete, completed: entry.downloaded }
  } catch (err) {
    return failed(url, err)
  } finally {
    client.close()
  }
}

function failed (url: string, err: unknown): TrackerResult {
  const error = isZentorrentError(err) ? err : new ZentorrentError('TRACKER_UNREACHABLE', err instanceof Error ? err.message : String(err))
  return { url, ok: false, error: { code: error.code, message: error.message } }
}

export function formatResult (r: TrackerResult): string {
  const lines = [safeText(r.url)]
  if (!r.ok) {
    lines.push(`  error: ${safeText(r.error?.message ?? 'unknown')} [${r.error?.code ?? '?'}]`)
    return lines.join('\n') + '\n'
  }
  const counts = [
    r.seeders === undefined ? undefined : `seeders ${r.seeders}`,
    r.leechers === undefined ? undefined : `leechers ${r.leechers}`,
    r.completed === undefined ? undefined : `completed ${r.completed}`,
    r.interval === undefined ? undefined : `interval ${r.interval} s${r.minInterval === undefined ? '' : ` (min ${r.minInterval} s)`}`
  ].filter((part) => part !== undefined)
  if (counts.length > 0) lines.push(`  ${counts.join(', ')}`)
  if (r.peers !== undefined) {
    const shown = r.peers.slice(0, SHOWN_PEERS)
    const more = r.peers.length > shown.length ? ` (showing ${shown.length})` : ''
    lines.push(`  peers: ${r.peers.length}${more}${shown.length > 0 ? ': ' + safeText(shown.join(' ')) : ''}`)
  }
  if (r.warning !== undefined) lines.push(`  warning: ${safeText(r.warning)}`)
  return lines.join('\n') + '\n'
}

/** `fn` over `items` with at most `limit` running at once; results in the items' order. */
async function mapLimited<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
