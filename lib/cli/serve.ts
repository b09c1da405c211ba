/**
 * `zentorrent serve FILE.torrent [-p PORT] [--http-host HOST] [--bitrate B] [--startup-delay S] [download options]`:
 * download (and seed) while serving every file over HTTP (lib/http/server.ts) until Ctrl-C — what a player opens:
 * `mpv http://127.0.0.1:8888/files/0`, or the playlist at /playlist.m3u. The work is a download with `--http`
 * (lib/cli/download.ts); this file holds that option's table, the server's start for a download, and the `serve`
 * spelling (its `-p` is the HTTP port; the peer port is `--peer-port`).
 */
import { ZentorrentError } from '../errors.js'
import { createHttpServer, HTTP_DEFAULTS, type ServedTorrent, type TorrentHttpServer } from '../http/server.js'
import type { ReaderDeadlineOptions } from '../streaming/deadlines.js'

/** The options a download takes for its HTTP server (spread into DOWNLOAD_OPTIONS). */
export const HTTP_OPTIONS = {
  http: { type: 'string' },
  'http-host': { type: 'string' },
  bitrate: { type: 'string' },
  'startup-delay': { type: 'string' }
} as const

export interface HttpValues {
  http?: string | undefined
  'http-host'?: string | undefined
  bitrate?: string | undefined
  'startup-delay'?: string | undefined
}

export const SERVE_DEFAULTS = { port: 8888 } as const

export const SERVE_USAGE = `Usage: zentorrent serve FILE.torrent [-p PORT] [--http-host HOST] [options]

Downloads the torrent and serves its files over HTTP while it downloads (and seeds), until Ctrl-C.
Players open a file by URL and seek in it; the pieces they need next are fetched first.

  -p, --port N           HTTP port (default ${SERVE_DEFAULTS.port}; 0: any free port, printed)
      --http-host HOST   address to serve on (default ${HTTP_DEFAULTS.host}: this machine only).
                         0.0.0.0 serves every network this machine is on: anyone who can
                         reach it can read the torrent's files
      --bitrate B        bytes per second the media plays at (default: measured from each reader)
      --startup-delay S  seconds a viewer waits before playback starts (default 0)
      --peer-port N      port to accept peers on (download's --port)
  Any download option (-o DIR, --select, --peer, --upload-limit, ...): see zentorrent --help.

URLs:
  /                      the files, as a page       /index.json      the same as JSON
  /playlist.m3u          the media files, for a player
  /files/N               file N (from the index), with Range requests (seeking)
`

/** --http given: the server over `torrent`, listening (null when not asked for). */
export async function startHttp (torrent: ServedTorrent, values: HttpValues): Promise<TorrentHttpServer | null> {
  if (values.http === undefined) return null
  const port = Number(values.http)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ZentorrentError('BAD_ARGUMENT', `--http wants a port number, got "${values.http}"`)
  const server = createHttpServer(torrent, {
    host: values['http-host'] ?? HTTP_DEFAULTS.host,
    port,
    deadline: readerDeadlines(values)
  })
  await server.listen()
  return server
}

export function readerDeadlines (values: HttpValues): ReaderDeadlineOptions {
  const out: { bitrate?: number, startupDelay?: number } = {}
  if (values.bitrate !== undefined) out.bitrate = positive('bitrate', values.bitrate)
  if (values['startup-delay'] !== undefined) out.startupDelay = positive('startup-delay', values['startup-delay'], true) * 1000
  return out
}

function positive (name: string, text: string, zero = false): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n < 0 || (!zero && n === 0)) throw new ZentorrentError('BAD_ARGUMENT', `--${name} wants a ${zero ? 'non-negative' : 'positive'} number, got "${text}"`)
  return n
}

/** `serve X [-p PORT] ...` → `download X --seed --http PORT ...`. */
export function serveArgs (argv: readonly string[]): string[] {
  const out: string[] = []
  let httpPort: string = String(SERVE_DEFAULTS.port)
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = (): string => {
      const next = argv[++i]
      if (next === undefined) throw new ZentorrentError('BAD_ARGUMENT', `${arg} wants a value (see zentorrent serve --help)`)
      return next
    }
    if (arg === '-p' || arg === '--port') httpPort = value()
    else if (arg.startsWith('--port=')) httpPort = arg.slice('--port='.length)
    else if (arg === '--peer-port') out.push('--port', value())
    else if (arg.startsWith('--peer-port=')) out.push('--port', arg.slice('--peer-port='.length))
    else out.push(arg)
  }
  return [...out, '--seed', '--http', httpPort]
}

export async function run (argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(SERVE_USAGE)
    return 0
  }
  const { run: download } = await import('./download.js')
  return await download(serveArgs(argv))
}
