/**
 * `zentorrent serve TORRENT [-p PORT] [options]`: download (and seed) while serving every file over HTTP
 * (lib/http/server.ts) until Ctrl-C — what a player opens: `mpv http://127.0.0.1:8888/files/0`, or the playlist at
 * /playlist.m3u. The work is a download with `--http` (lib/cli/download.ts); `serve` is that spelling with its own
 * declaration (lib/cli/commands.ts: its `-p` is the HTTP port, the peer port is `--peer-port`). This file also
 * starts the server for a download.
 */
import { createHttpServer, type ServedTorrent, type TorrentHttpServer } from '../http/server.js'
import type { ReaderDeadlineOptions } from '../streaming/deadlines.js'
import { parseCommand } from './args.js'
import { SERVE_COMMAND } from './commands.js'
import { download } from './download.js'

/** What the server takes from a download's options (already parsed and checked by lib/cli/args.ts). */
export interface HttpValues {
  http: number | undefined
  'http-host': string
  /** Bytes per second. */
  bitrate: number | undefined
  /** Seconds. */
  'startup-delay': number
}

/** --http given: the server over `torrent`, listening (null when not asked for). */
export async function startHttp (torrent: ServedTorrent, values: HttpValues): Promise<TorrentHttpServer | null> {
  if (values.http === undefined) return null
  const server = createHttpServer(torrent, { host: values['http-host'], port: values.http, deadline: readerDeadlines(values) })
  await server.listen()
  return server
}

export function readerDeadlines (values: HttpValues): ReaderDeadlineOptions {
  return {
    ...(values.bitrate !== undefined ? { bitrate: values.bitrate } : {}),
    ...(values['startup-delay'] > 0 ? { startupDelay: values['startup-delay'] * 1000 } : {})
  }
}

export async function run (argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SERVE_COMMAND)
  if (parsed === null) return 0
  const { port, 'peer-port': peerPort, ...values } = parsed.values
  return await download({ ...values, stdout: false, port: peerPort, http: port }, parsed.positionals[0]!)
}
