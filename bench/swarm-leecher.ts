/**
 * One zentorrent leecher for bench/swarm.ts: `node dist/bench/swarm-leecher.js TORRENT DIR [--request-queue-time S]`.
 * startTorrent with the CLI's defaults (what `zentorrent FILE.torrent --seed --port 0` does, but listening on
 * loopback only), reporting LeecherEvent lines on stdout; it seeds until stdin closes, then reports its totals.
 * A file of its own, importing only what a leecher needs: start-up time counts in the benchmark (every leecher is
 * spawned at once), and the benchmark's own modules (its tracker, torrent maker) are not what a user's client loads.
 */
import { parseArgs } from 'node:util'
import { startTorrent } from '../lib/client.js'
import { loadTorrentFile } from '../lib/cli/info.js'

/** What a leecher process reports, one JSON object a line (both kinds speak the same protocol). */
export type LeecherEvent =
  | { event: 'started', time: number }
  | { event: 'done', time: number }
  | { event: 'stats', uploaded: number, downloaded: number, cpu: number, peers: number }

async function main (): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'request-queue-time': { type: 'string' } } })
  const requestQueueTime = values['request-queue-time'] === undefined ? undefined : Number(values['request-queue-time'])
  const say = (event: LeecherEvent): void => { process.stdout.write(JSON.stringify(event) + '\n') }
  const meta = await loadTorrentFile(positionals[0]!)
  const torrent = await startTorrent(meta, {
    dht: false, output: positionals[1]!,
    seed: true,
    listen: { host: '127.0.0.1', ports: [0] },
    uploader: {},
    ...(requestQueueTime !== undefined ? { scheduler: { requestQueueTime } } : {})
  })
  say({ event: 'started', time: Date.now() / 1000 })
  if (torrent.torrent.done) say({ event: 'done', time: Date.now() / 1000 })
  else torrent.torrent.once('done', () => say({ event: 'done', time: Date.now() / 1000 }))
  torrent.torrent.on('error', (err) => { process.stderr.write(`leecher: ${err.message}\n`) })
  process.stdin.resume()
  await new Promise<void>((resolve) => process.stdin.once('end', resolve))
  const stats = torrent.torrent.stats()
  const cpu = process.cpuUsage()
  say({ event: 'stats', uploaded: stats.uploaded, downloaded: stats.downloaded, cpu: (cpu.user + cpu.system) / 1e6, peers: stats.peersConnected })
  await torrent.stop()
}

main().catch((err: unknown) => {
  process.stderr.write(`leecher: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
