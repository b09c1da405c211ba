/**
 * The HTTP server (lib/http/server.ts) over a Torrent downloading from a libtorrent seeder on loopback, with undici
 * as the client (and raw sockets for what clients would clean up themselves): ranges at random offsets of every
 * file byte for byte, a seek mid-stream (the old reader's priorities released at once, the new one's raised), two
 * readers at once, HEAD, If-Range, 416, the index and the playlist, hostile requests.
 */
import t, { type Test } from 'tap'
import net from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startTorrent, type RunningTorrent } from '../lib/client.js'
import { createHttpServer, type TorrentHttpServer } from '../lib/http/server.js'
import { createTokenBucket } from '../lib/rate-limit.js'
import { PRIORITY } from '../lib/ledger.js'
import type { Metainfo } from '../lib/metainfo.js'
import { libtorrentTree } from './helpers/libtorrent-tree.js'
import { seededRandom } from './helpers/create-fixtures.js'

interface Served { running: RunningTorrent, server: TorrentHttpServer, url: string, meta: Metainfo, seeded: string }

async function serve (t: Test, opts: { select?: number[], downloadLimit?: number } = {}): Promise<Served> {
  const { seeded, meta, port } = await libtorrentTree(t)
  const out = await mkdtemp(join(tmpdir(), 'zt-http-out-'))
  t.teardown(async () => await rm(out, { recursive: true, force: true }))
  const running = await startTorrent(meta, {
    dht: false,
    output: out,
    listen: false,
    trackers: false,
    seed: true, // with nothing selected the torrent is complete at start: peers are added only to a seed
    peers: [{ host: '127.0.0.1', port }],
    ...(opts.select !== undefined ? { select: opts.select } : {}),
    ...(opts.downloadLimit !== undefined ? { scheduler: { downloadLimit: createTokenBucket({ rate: opts.downloadLimit }) } } : {})
  })
  t.teardown(running.stop)
  const server = createHttpServer(running.torrent)
  const url = await server.listen()
  t.teardown(async () => await server.close())
  return { running, server, url, meta, seeded }
}

async function fileData (s: Served, index: number): Promise<Buffer> {
  return await readFile(join(s.seeded, ...s.meta.files[index]!.path))
}

async function get (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }> {
  const res = await request(url, { method, headers, headersTimeout: 20_000, bodyTimeout: 20_000 })
  const body = Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, headers: res.headers, body }
}

/** One raw HTTP/1.1 request (for targets a client would normalise); the status line's code. */
async function raw (url: string, text: string): Promise<number> {
  const { hostname, port } = new URL(url)
  return await new Promise<number>((resolve, reject) => {
    const socket = net.connect(Number(port), hostname)
    let got = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer to ${JSON.stringify(text.slice(0, 60))}`)) }, 10_000)
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1')
      const match = /^HTTP\/1\.1 (\d{3})/.exec(got)
      if (match !== null) { clearTimeout(timer); socket.destroy(); resolve(Number(match[1])) }
    })
    socket.on('error', reject)
    socket.write(text)
  })
}

async function until (what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('ranges at random offsets of every file, byte for byte; whole files; two readers at once', async (t) => {
  const s = await serve(t, { select: [] }) // nothing selected: only the readers fetch
  const index = JSON.parse((await get(`${s.url}/index.json`)).body.toString()) as { files: Array<{ index: number, url: string, length: number }> }
  t.equal(index.files.length, s.meta.files.filter((f) => !f.pad).length, 'the index lists every file')
  const random = seededRandom(77)
  for (const f of index.files) {
    const data = await fileData(s, f.index)
    const whole = await get(s.url + f.url)
    t.equal(whole.status, 200)
    t.ok(whole.body.equals(data), `${f.url}: whole file identical`)
    if (f.length === 0) continue
    // two readers at once on random ranges of the same file
    const ranges = Array.from({ length: 4 }, () => {
      const start = Math.floor(random() * f.length)
      return [start, Math.min(f.length - 1, start + Math.floor(random() * 80_000))] as const
    })
    const answers = await Promise.all(ranges.map(async ([a, b]) => await get(s.url + f.url, { range: `bytes=${a}-${b}` })))
    for (const [k, [a, b]] of ranges.entries()) {
      const r = answers[k]!
      t.equal(r.status, 206)
      t.equal(r.headers['content-range'], `bytes ${a}-${b}/${f.length}`)
      t.ok(r.body.equals(data.subarray(a, b + 1)), `${f.url} [${a}, ${b}] identical`)
    }
  }
  t.equal(s.server.readers, 0, 'every reader closed with its response')
})

t.test('a seek mid-stream: the old reader ends with its response, the priorities follow the new one at once', async (t) => {
  const s = await serve(t, { select: [], downloadLimit: 150_000 })
  const a = s.meta.files.findIndex((f) => f.path.at(-1) === 'a.bin')
  const file = s.meta.files[a]!
  const pieceLength = s.meta.pieceLength
  const ledger = s.running.torrent.ledger
  const firstPiece = Math.floor(file.offset / pieceLength)
  const data = await fileData(s, a)
  const events: string[] = []
  s.server.on('reader-open', (info) => events.push(`open ${info.start}`))
  s.server.on('reader-close', (info) => events.push(`close ${info.start}`))
  const first = await request(`${s.url}/files/${a}`, { headersTimeout: 20_000 })
  t.equal(first.statusCode, 200)
  let got = 0
  const chunks: Buffer[] = []
  for await (const chunk of first.body) {
    chunks.push(chunk as Buffer)
    got += (chunk as Buffer).length
    if (got >= 40_000) break // the player seeks: it drops this response
  }
  t.ok(Buffer.concat(chunks).equals(data.subarray(0, got)), 'the bytes before the seek are right')
  const seekTo = 250_000
  const second = get(`${s.url}/files/${a}`, { range: `bytes=${seekTo}-` })
  const seekPiece = Math.floor((file.offset + seekTo) / pieceLength)
  await until('the old reader to close and the new one to open', () => events.includes('close 0') && events.includes(`open ${seekTo}`))
  t.equal(s.server.readers, 1, 'one reader open: the new one')
  t.equal(ledger.priority(seekPiece), PRIORITY.top, 'the new reader\'s pieces are at the top priority')
  // inside the old window, before the new one: released (nothing is selected, so no longer wanted)
  const behind = Array.from({ length: seekPiece - firstPiece }, (_, k) => firstPiece + k).filter((i) => !ledger.written(i))
  t.ok(behind.length > 0, `pieces of the old window still missing: ${behind.join(' ')}`)
  t.same(behind.map((i) => ledger.priority(i)), behind.map(() => 0), 'the old window is released at once')
  if (!ledger.written(seekPiece)) t.ok(ledger.deadline(seekPiece) < Infinity, 'the piece at the new position has a deadline')
  const answer = await second
  t.equal(answer.status, 206)
  t.ok(answer.body.equals(data.subarray(seekTo)), 'after the seek: identical')
  await until('no reader left', () => s.server.readers === 0)
  t.equal([...ledger.deadlines()].length, 0, 'no deadline left behind')
})

t.test('HEAD, If-Range, If-None-Match, 416, the index and the playlist', async (t) => {
  const s = await serve(t)
  const d = s.meta.files.findIndex((f) => f.path.at(-1) === 'd.bin')
  const length = s.meta.files[d]!.length
  const opened: number[] = []
  s.server.on('reader-open', (info) => opened.push(info.index))
  const head = await get(`${s.url}/files/${d}/tree/b/d.bin`, {}, 'HEAD')
  t.equal(head.status, 200)
  t.equal(head.headers['content-length'], String(length))
  t.equal(head.headers['accept-ranges'], 'bytes')
  t.equal(head.headers['content-type'], 'application/octet-stream')
  const etag = head.headers.etag as string
  t.equal(etag, `"${s.meta.infoHashHex}-${d}"`, 'the ETag from the info hash and index')
  t.equal(head.body.length, 0)
  t.same(opened, [], 'HEAD opens no reader')
  const data = await fileData(s, d)
  const matching = await get(`${s.url}/files/${d}`, { range: 'bytes=100-199', 'if-range': etag })
  t.equal(matching.status, 206)
  t.ok(matching.body.equals(data.subarray(100, 200)))
  const stale = await get(`${s.url}/files/${d}`, { range: 'bytes=100-199', 'if-range': '"something-else"' })
  t.equal(stale.status, 200, 'If-Range names another version: the whole file')
  t.equal(stale.body.length, length)
  t.equal((await get(`${s.url}/files/${d}`, { 'if-none-match': etag })).status, 304)
  const past = await get(`${s.url}/files/${d}`, { range: `bytes=${length}-` })
  t.equal(past.status, 416)
  t.equal(past.headers['content-range'], `bytes */${length}`)
  t.equal((await get(`${s.url}/files/${d}`, { range: 'bytes=0-1,10-11' })).status, 416, 'several ranges: 416')
  const html = await get(`${s.url}/`)
  t.match(html.headers['content-type'], /^text\/html/)
  t.match(html.body.toString(), /tree\/b\/d\.bin/)
  const playlist = await get(`${s.url}/playlist.m3u`)
  t.equal(playlist.body.toString(), '#EXTM3U\n', 'no media files in this torrent: an empty playlist')
})

t.test('hostile requests get clean 4xx answers and the server keeps serving', async (t) => {
  const s = await serve(t)
  const host = `Host: 127.0.0.1\r\n`
  const cases: Array<[string, number]> = [
    [`GET /files/0/../1 HTTP/1.1\r\n${host}\r\n`, 400],
    [`GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n${host}\r\n`, 400],
    [`GET /files/0/a%00b HTTP/1.1\r\n${host}\r\n`, 400],
    [`GET /files/0%2f..%2f1 HTTP/1.1\r\n${host}\r\n`, 400],
    [`GET /files/4294967296 HTTP/1.1\r\n${host}\r\n`, 404],
    [`GET /files/0 HTTP/1.1\r\n${host}Range: bytes=99999999999999999999-\r\n\r\n`, 416],
    [`GET /files/0 HTTP/1.1\r\n${host}Range: bytes=${Array.from({ length: 1000 }, (_, i) => `${i * 2}-${i * 2}`).join(',')}\r\n\r\n`, 416],
    [`POST /files/0 HTTP/1.1\r\n${host}Content-Length: 0\r\n\r\n`, 405],
    [`GET / HTTP/1.1\r\nHost: rebound.example\r\n\r\n`, 403],
    [`GET /${'a'.repeat(9000)} HTTP/1.1\r\n${host}\r\n`, 400]
  ]
  for (const [text, status] of cases) t.equal(await raw(s.url, text), status, JSON.stringify(text.slice(0, 50)))
  t.equal((await get(`${s.url}/index.json`)).status, 200, 'still serving')
  t.equal(s.server.readers, 0)
})

t.test('before a magnet link\'s metadata arrives every URL answers 503 with Retry-After, and nothing throws', async (t) => {
  const torrent = {
    infoHash: Buffer.alloc(20, 7),
    hasMetadata: false,
    get meta (): never { throw new Error('no metadata yet') },
    get files (): never { throw new Error('no metadata yet') }
  }
  const server = createHttpServer(torrent)
  const url = await server.listen()
  t.teardown(async () => await server.close())
  for (const path of ['/', '/index.json', '/playlist.m3u', '/files/0']) {
    const res = await request(url + path)
    const body = await res.body.text()
    t.equal(res.statusCode, 503, `${path}: 503`)
    t.equal(res.headers['retry-after'], '5', `${path}: Retry-After`)
    t.match(body, /metadata/, `${path}: says why`)
  }
})
