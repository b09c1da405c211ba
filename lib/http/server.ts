/**
 * An HTTP server over a torrent (node:http): every file with `Range`, `HEAD`, `If-Range`/`If-None-Match` against
 * an ETag from the info hash (./range.ts), types from `mime`, an index as HTML and JSON and an M3U playlist of the
 * media files (./listing.ts), in the URL space of ./routes.ts. For players (`mpv http://127.0.0.1:PORT/files/0`),
 * `ffmpeg`, browsers, `curl`.
 *
 * - Loopback by default (`host` 127.0.0.1). Bound to loopback, requests whose Host header names anything but a
 *   loopback name are refused (403): a web page that rebinds its own name to 127.0.0.1 must not read the torrent.
 *   Another `host` (the CLI's `--http-host`) serves whoever can reach it.
 * - Each GET of a file is a reader: a FileReadStream of the range (lib/file-stream.ts), piped into the response
 *   with backpressure (stream.pipeline: a response whose write() returns false pauses the reader). The reader's
 *   window and deadlines (lib/streaming/deadlines.ts) steer the download while it is open. A player that seeks
 *   closes its connection (or stops reading it) and asks for a new range: the old response's 'close' destroys the
 *   old reader, releasing its priorities at once, and the new reader raises its own. Many readers at once.
 * - Headers are sent at once; the body follows as the pieces arrive (a player waits, as it does on a slow server).
 * - Files are served with `Content-Security-Policy: sandbox` (a torrent's HTML must not script this origin).
 * - Limits: `maxConnections` sockets; requests other than GET and HEAD get 405.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { isIP, type AddressInfo } from 'node:net'
import { pipeline, type Readable } from 'node:stream'
import { EventEmitter } from 'node:events'
import type { FileReadOptions } from '../file-stream.js'
import type { ReaderDeadlineOptions } from '../streaming/deadlines.js'
import { route, type Route } from './routes.js'
import { answerRange, fileEtag } from './range.js'
import { contentType, indexHtml, indexJson, playlistM3u, type Listing } from './listing.js'
import { ZentorrentError } from '../errors.js'

/** What the server needs of a file (lib/torrent.ts's TorrentFileHandle). */
export interface ServedFile {
  readonly path: string
  readonly name: string
  readonly length: number
  readonly downloaded: number
  createReadStream: (opts?: FileReadOptions) => Readable
}

/** What the server needs of a torrent (lib/torrent.ts's Torrent). */
export interface ServedTorrent {
  readonly infoHash: Buffer
  /** False while a magnet link's metadata is being fetched (`meta` and `files` are not known yet). */
  readonly hasMetadata?: boolean
  readonly meta: { readonly name: string, readonly files: ReadonlyArray<{ readonly pad: boolean }> }
  readonly files: readonly ServedFile[]
}

export interface HttpServerOptions {
  /** Address to listen on (default loopback). */
  host?: string
  /** Port (0: any free one). */
  port?: number
  /** What each reader's deadlines are computed from (the CLI's --bitrate and --startup-delay). */
  deadline?: ReaderDeadlineOptions
  /** Bytes a reader holds ahead of its response (the socket's buffers come on top). */
  readerHighWaterMark?: number
  maxConnections?: number
}

export const HTTP_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  readerHighWaterMark: 256 * 1024,
  maxConnections: 64
} as const

export interface HttpServerEvents {
  /** A reader opened for file `index`, bytes start..end (inclusive). */
  'reader-open': [info: { index: number, start: number, end: number }]
  'reader-close': [info: { index: number, start: number, end: number, sent: number }]
}

export class TorrentHttpServer extends EventEmitter<HttpServerEvents> {
  readonly #torrent: ServedTorrent
  readonly #opts: Required<Omit<HttpServerOptions, 'deadline'>> & { deadline: ReaderDeadlineOptions | undefined }
  readonly #server: http.Server
  #readers = 0
  #address: AddressInfo | null = null

  constructor (torrent: ServedTorrent, opts: HttpServerOptions = {}) {
    super()
    this.#torrent = torrent
    this.#opts = {
      host: opts.host ?? HTTP_DEFAULTS.host,
      port: opts.port ?? HTTP_DEFAULTS.port,
      readerHighWaterMark: opts.readerHighWaterMark ?? HTTP_DEFAULTS.readerHighWaterMark,
      maxConnections: opts.maxConnections ?? HTTP_DEFAULTS.maxConnections,
      deadline: opts.deadline
    }
    this.#server = http.createServer((req, res) => this.#handle(req, res))
    this.#server.maxConnections = this.#opts.maxConnections
  }

  /** Readers open now. */
  get readers (): number { return this.#readers }

  /** http://host:port (null before listen). */
  get url (): string | null {
    if (this.#address === null) return null
    const host = this.#address.family === 'IPv6' ? `[${this.#address.address}]` : this.#address.address
    return `http://${host}:${this.#address.port}`
  }

  async listen (): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new ZentorrentError('HTTP_LISTEN_FAILED', `cannot serve HTTP on ${this.#opts.host}:${this.#opts.port}: ${err.code ?? err.message}`, { cause: err }))
      }
      this.#server.once('error', onError)
      this.#server.listen(this.#opts.port, this.#opts.host, () => { this.#server.off('error', onError); resolve() })
    })
    this.#address = this.#server.address() as AddressInfo
    return this.url!
  }

  async close (): Promise<void> {
    if (!this.#server.listening) return
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    if (!this.#hostAllowed(req.headers.host)) {
      this.#text(res, 403, 'this server answers only requests addressed to a loopback name (127.0.0.1, localhost)')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      this.#text(res, 405, `${req.method ?? 'this method'} is not served: GET or HEAD`)
      return
    }
    if (this.#torrent.hasMetadata === false) {
      res.setHeader('Retry-After', '5')
      this.#text(res, 503, 'the torrent\'s metadata is still being fetched from the peers: try again in a few seconds')
      return
    }
    const files = this.#torrent.files.map((f, i) => ({ path: f.path, pad: this.#torrent.meta.files[i]?.pad === true }))
    const target: Route = route(req.url ?? '/', files)
    switch (target.kind) {
      case 'error': this.#text(res, target.status, target.message); return
      case 'index-html': this.#body(req, res, 'text/html; charset=utf-8', indexHtml(this.#listing())); return
      case 'index-json': this.#body(req, res, 'application/json; charset=utf-8', JSON.stringify(indexJson(this.#listing()), null, 2) + '\n'); return
      case 'playlist': this.#body(req, res, 'audio/x-mpegurl; charset=utf-8', playlistM3u(this.#listing(), this.#base(req))); return
      case 'file': this.#file(req, res, target.index)
    }
  }

  #file (req: IncomingMessage, res: ServerResponse, index: number): void {
    const file = this.#torrent.files[index]!
    const etag = fileEtag(this.#torrent.infoHash, index)
    const answer = answerRange(file.length, etag, {
      range: req.headers.range,
      ifRange: header(req.headers['if-range']),
      ifNoneMatch: header(req.headers['if-none-match'])
    })
    res.setHeader('Accept-Ranges', 'bytes')
    res.setHeader('ETag', etag)
    if (answer.status === 304) { res.statusCode = 304; res.end(); return }
    if (answer.status === 416) {
      res.setHeader('Content-Range', `bytes */${file.length}`)
      this.#text(res, 416, answer.reason)
      return
    }
    res.statusCode = answer.status
    res.setHeader('Content-Type', contentType(file.name))
    res.setHeader('Content-Length', String(answer.end - answer.start + 1))
    res.setHeader('Content-Disposition', `inline; filename="${file.name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(file.name)}`)
    res.setHeader('Content-Security-Policy', 'sandbox')
    if (answer.status === 206) res.setHeader('Content-Range', `bytes ${answer.start}-${answer.end}/${file.length}`)
    if (req.method === 'HEAD' || answer.end < answer.start) { res.end(); return }
    res.flushHeaders()
    const reader = file.createReadStream({
      start: answer.start,
      end: answer.end,
      highWaterMark: this.#opts.readerHighWaterMark,
      ...(this.#opts.deadline !== undefined ? { deadline: this.#opts.deadline } : {})
    })
    const info = { index, start: answer.start, end: answer.end }
    this.#readers++
    this.emit('reader-open', info)
    let sent = 0
    reader.on('data', (chunk: Buffer) => { sent += chunk.length })
    // pipeline: backpressure both ways, and a response closed early (the player seeked or went away) destroys the
    // reader, which releases its window and deadlines
    pipeline(reader, res, () => {
      this.#readers--
      this.emit('reader-close', { ...info, sent })
    })
  }

  #listing (): Listing {
    const torrent = this.#torrent
    return {
      name: torrent.meta.name,
      infoHash: torrent.infoHash.toString('hex'),
      files: torrent.files.map((f, index) => ({ index, path: f.path, name: f.name, length: f.length, downloaded: f.downloaded, pad: torrent.meta.files[index]?.pad === true }))
    }
  }

  /** The base URL for the playlist: the Host the client used when it is a plain host[:port], else our address. */
  #base (req: IncomingMessage): string {
    const host = req.headers.host
    if (host !== undefined && /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(host)) return `http://${host}`
    return this.url ?? ''
  }

  #hostAllowed (host: string | undefined): boolean {
    if (!isLoopback(this.#opts.host)) return true
    if (host === undefined) return true // HTTP/1.0 without Host: nothing to rebind
    const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase()
    return isLoopback(name) || name === 'localhost' || name.endsWith('.localhost')
  }

  #body (req: IncomingMessage, res: ServerResponse, type: string, text: string): void {
    res.statusCode = 200
    res.setHeader('Content-Type', type)
    res.setHeader('Cache-Control', 'no-cache')
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Content-Length', String(Buffer.byteLength(text)))
    res.end(req.method === 'HEAD' ? undefined : text)
  }

  #text (res: ServerResponse, status: number, message: string): void {
    res.statusCode = status
    res.setHeader('Content-Type', 'text/plain; charset=utf-8')
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Content-Length', String(Buffer.byteLength(message) + 1))
    res.end(message + '\n')
  }
}

function header (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1' || host.toLowerCase().startsWith('::ffff:127.')
  return false
}

export function createHttpServer (torrent: ServedTorrent, opts?: HttpServerOptions): TorrentHttpServer {
  return new TorrentHttpServer(torrent, opts)
}
