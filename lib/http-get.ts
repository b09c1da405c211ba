/**
 * One bounded HTTP GET for everything that fetches (trackers, .torrent URLs): redirects followed by hand (at most
 * `maxRedirects`, to http/https only), one deadline for the whole exchange (`timeout`, redirects included), the
 * body refused past `maxBytes` before it is buffered (by Content-Length first, then as it arrives), no keep-alive
 * socket left behind. undici is loaded on the first call, not at start-up (it adds ~20 MiB of resident memory).
 *
 * Only the part of undici that `request` needs is loaded: its global dispatcher (an Agent unless the
 * application set another) and its request API, two internal modules of undici 7 typed in lib/undici-lean.d.ts.
 * The package's index loads everything else too (fetch, WebSocket, caches, mocks): ~80–100 ms of the main thread
 * before the first announce, against ~25 ms; the first block request came that much later (bench/download.ts).
 * Should a future undici move those modules, the index is loaded instead and nothing else changes.
 */
import type { Dispatcher } from 'undici'

export interface BoundedGetOptions {
  timeout: number
  maxRedirects: number
  maxBytes: number
  signal?: AbortSignal
  headers?: Record<string, string>
}

export type HttpGetReason = 'bad-url' | 'status' | 'no-location' | 'redirects' | 'too-large' | 'timeout' | 'unreachable' | 'aborted'

export class HttpGetError extends Error {
  readonly reason: HttpGetReason
  /** The HTTP status (status, no-location), the declared size (too-large by Content-Length; absent when it grew
   * past the bound as it arrived), the system code (unreachable), the URL (bad-url). */
  readonly detail: number | string | undefined
  constructor (reason: HttpGetReason, message: string, detail?: number | string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HttpGetError'
    this.reason = reason
    this.detail = detail
  }
}

export interface HttpGetResult {
  body: Buffer
  /** The URL the body came from, after redirects. */
  url: string
  contentType: string | undefined
}

interface Body extends AsyncIterable<Uint8Array> { destroy: () => unknown }

export async function boundedGet (url: string, opts: BoundedGetOptions): Promise<HttpGetResult> {
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(), opts.timeout)
  timer.unref()
  const onAbort = (): void => deadline.abort()
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    let current = httpUrl(url)
    for (let hop = 0; ; hop++) {
      const request = await loadUndici()
      const response = await request(current, {
        method: 'GET',
        signal: deadline.signal,
        headersTimeout: opts.timeout,
        bodyTimeout: opts.timeout,
        // one request at a time: no keep-alive socket left behind to hold the event loop
        reset: true,
        headers: { 'user-agent': 'zentorrent', 'accept-encoding': 'identity', ...opts.headers }
      })
      const status = response.statusCode
      if (status >= 300 && status < 400 && status !== 304) {
        await response.body.dump()
        const location = response.headers.location
        const next = Array.isArray(location) ? location[0] : location
        if (next === undefined) throw new HttpGetError('no-location', `HTTP ${status} without a Location to follow`, status)
        if (hop >= opts.maxRedirects) throw new HttpGetError('redirects', `redirected more than ${opts.maxRedirects} times`, opts.maxRedirects)
        current = httpUrl(new URL(next, current).toString())
        continue
      }
      if (status < 200 || status >= 300) {
        await response.body.dump()
        throw new HttpGetError('status', `HTTP ${status}`, status)
      }
      const body = await readBounded(response.body, opts.maxBytes, response.headers['content-length'])
      const type = response.headers['content-type']
      return { body, url: current.toString(), contentType: Array.isArray(type) ? type[0] : type }
    }
  } catch (err) {
    if (err instanceof HttpGetError) throw err
    if (opts.signal?.aborted === true) throw new HttpGetError('aborted', 'aborted', undefined, { cause: err })
    const code = (err as { code?: unknown } | null)?.code
    if (deadline.signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      throw new HttpGetError('timeout', `no complete answer within ${opts.timeout} ms`, opts.timeout, { cause: err })
    }
    const message = err instanceof Error ? err.message : String(err)
    throw new HttpGetError('unreachable', `${message}${typeof code === 'string' ? ` (${code})` : ''}`, typeof code === 'string' ? code : undefined, { cause: err })
  } finally {
    clearTimeout(timer)
    opts.signal?.removeEventListener('abort', onAbort)
  }
}

function httpUrl (text: string): URL {
  let parsed: URL
  try {
    parsed = new URL(text)
  } catch (err) {
    throw new HttpGetError('bad-url', `${text} is not a valid URL`, text, { cause: err })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new HttpGetError('bad-url', `${text} is not http(s)`, text)
  return parsed
}

/** Refuse before we buffer: the Content-Length first, then the running total. */
async function readBounded (body: Body, max: number, contentLength: string | string[] | undefined): Promise<Buffer> {
  const declared = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength)
  if (Number.isFinite(declared) && declared > max) {
    body.destroy()
    throw new HttpGetError('too-large', `the answer is ${declared} bytes, more than the ${max} accepted`, declared)
  }
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.length
    if (total > max) {
      body.destroy()
      throw new HttpGetError('too-large', `the answer is more than the ${max} bytes accepted`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** undici's `request` for a URL, as the package's index exports it (for the options boundedGet passes). */
type Request = (url: URL, opts: Omit<Dispatcher.RequestOptions, 'origin' | 'path'>) => Promise<Dispatcher.ResponseData>

/** How the loaded undici was reached: 'lean' (the two modules) or 'index' (the fallback). For tests. */
export let undiciLoaded: 'lean' | 'index' | null = null

let undici: Promise<Request> | null = null
async function loadUndici (): Promise<Request> {
  undici ??= loadLean().catch(async () => {
    const { request } = await import('undici')
    undiciLoaded = 'index'
    const viaIndex: Request = async (url, opts) => await request(url, opts)
    return viaIndex
  })
  return await undici
}

async function loadLean (): Promise<Request> {
  const [{ getGlobalDispatcher }, { default: request }] = await Promise.all([
    import('undici/lib/global.js'),
    import('undici/lib/api/api-request.js')
  ])
  if (typeof getGlobalDispatcher !== 'function' || typeof request !== 'function') throw new Error('undici changed its layout')
  undiciLoaded = 'lean'
  // what the index's `request(url, opts)` does: origin and path from the URL, on the global dispatcher (so a
  // library user's setGlobalDispatcher — a proxy, a mock — applies here as it would through the index)
  return async (url, opts) => await request.call(getGlobalDispatcher(), { ...opts, origin: url.origin, path: `${url.pathname}${url.search}` })
}
