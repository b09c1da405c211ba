import t, { type Test } from 'tap'
import http from 'node:http'
import { mkdir, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isZentorrentError, type ErrorCode } from '../lib/errors.js'
import { base32Encode, formatMagnet } from '../lib/magnet.js'
import { parseInfoDictionary, parseMetainfo } from '../lib/metainfo.js'
import { fetchTorrentFile, resolveTorrentInput, withMetadata, type TorrentInput } from '../lib/torrent-input.js'
import { tempDir } from './helpers/temp.js'
import { buildTorrent, MULTI } from './helpers/torrent-fixtures.js'
import { HANG_BOUND_MS } from './helpers/bounds.js'

const BUILT = buildTorrent(MULTI, { seed: 5, announce: 'http://127.0.0.1:1/announce', urlList: 'http://127.0.0.1:2/seed/' })
const META = parseMetainfo(BUILT.torrent)

async function codeOf (p: Promise<unknown>): Promise<ErrorCode | 'no error' | 'untyped'> {
  try {
    await p
    return 'no error'
  } catch (err) {
    return isZentorrentError(err) ? err.code : 'untyped'
  }
}

function asMagnet (input: TorrentInput): TorrentInput & { kind: 'magnet' } {
  if (input.kind !== 'magnet') throw new Error(`expected a metadata-less input, got ${input.kind}`)
  return input
}

function asMetainfo (input: TorrentInput): TorrentInput & { kind: 'metainfo' } {
  if (input.kind !== 'metainfo') throw new Error(`expected a metainfo input, got ${input.kind}`)
  return input
}

t.test('a magnet link: metadata-less, with its trackers, peers, web seeds and selection', async (t) => {
  const uri = formatMagnet({
    infoHash: META.infoHash, name: 'multi', trackers: [['udp://127.0.0.1:3']], peers: [{ host: '127.0.0.1', port: 7 }],
    webSeeds: ['http://127.0.0.1:4/'], selectOnly: [{ first: 1, last: 2 }]
  })
  const input = asMagnet(await resolveTorrentInput(`  ${uri}\n`))
  t.equal(input.source, 'magnet')
  t.same(input.infoHash, META.infoHash)
  t.equal(input.infoHashHex, META.infoHashHex)
  t.equal(input.name, 'multi')
  t.same(input.trackers, [['udp://127.0.0.1:3']])
  t.same(input.peers, [{ host: '127.0.0.1', port: 7 }])
  t.same(input.webSeeds, ['http://127.0.0.1:4/'])
  t.same(input.selectOnly, [{ first: 1, last: 2 }])
  t.equal(await codeOf(resolveTorrentInput('magnet:?dn=x')), 'NO_INFO_HASH', 'a bad link keeps its own error code')
  t.equal(await codeOf(resolveTorrentInput(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}`)), 'V2_ONLY', 'v2-only: said plainly')
})

t.test('a bare info hash, hex or base32', async (t) => {
  for (const text of [META.infoHashHex, META.infoHashHex.toUpperCase(), base32Encode(META.infoHash)]) {
    const input = asMagnet(await resolveTorrentInput(text))
    t.equal(input.source, 'info-hash')
    t.same(input.infoHash, META.infoHash, text)
    t.same(input.trackers, [])
  }
})

t.test('a .torrent path, a file: URL; a directory, a missing file, other schemes', async (t) => {
  const dir = await tempDir(t, 'torrent-input')
  const path = join(dir, 'multi.torrent')
  await writeFile(path, BUILT.torrent)
  const input = asMetainfo(await resolveTorrentInput(path))
  t.equal(input.source, 'file')
  t.equal(input.meta.infoHashHex, META.infoHashHex)
  t.same(input.trackers, META.announce, 'the torrent\'s trackers as sources')
  t.same(input.webSeeds, META.urlList)
  t.same(input.peers, [])
  t.equal(asMetainfo(await resolveTorrentInput(pathToFileURL(path).href)).meta.infoHashHex, META.infoHashHex, 'file: URL')

  // A file whose name looks like an info hash is the file.
  const named = join(dir, META.infoHashHex)
  await writeFile(named, BUILT.torrent)
  const cwd = process.cwd()
  process.chdir(dir)
  t.teardown(() => { process.chdir(cwd) })
  t.equal((await resolveTorrentInput(META.infoHashHex)).kind, 'metainfo', 'an existing file wins over a hash reading')
  process.chdir(cwd)

  await mkdir(join(dir, 'a-dir'))
  await t.rejects(resolveTorrentInput(join(dir, 'a-dir')), { code: 'NOT_A_FILE', message: /is a directory; give the \.torrent file/ })
  await t.rejects(resolveTorrentInput(join(dir, 'missing.torrent')), { code: 'NOT_FOUND', message: /no such file/ })
  await writeFile(join(dir, 'bad.torrent'), 'not bencode')
  await t.rejects(resolveTorrentInput(join(dir, 'bad.torrent')), { code: 'NOT_BENCODE', message: /bad\.torrent: / })
  await t.rejects(resolveTorrentInput('ftp://127.0.0.1/x.torrent'), { code: 'BAD_ARGUMENT', message: /only http:\/\/, https:\/\/ and file: URLs/ })
  await t.rejects(resolveTorrentInput(' '), { code: 'BAD_ARGUMENT' })
})

/** A node:http server on 127.0.0.1 with one route per behaviour under test. */
async function server (t: Test): Promise<{ base: string, hits: () => number }> {
  let hits = 0
  const srv = http.createServer((req, res) => {
    hits++
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const hop = Number(url.searchParams.get('n') ?? 0)
    switch (url.pathname) {
      case '/good.torrent':
        res.writeHead(200, { 'content-type': 'application/x-bittorrent' })
        res.end(BUILT.torrent)
        return
      case '/chain': // n more redirects, then the torrent (relative Location on the way)
        if (hop > 0) res.writeHead(302, { location: `/chain?n=${hop - 1}` })
        else res.writeHead(301, { location: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/good.torrent` })
        res.end()
        return
      case '/loop':
        res.writeHead(302, { location: '/loop' })
        res.end()
        return
      case '/to-ftp':
        res.writeHead(302, { location: 'ftp://127.0.0.1/x.torrent' })
        res.end()
        return
      case '/no-location':
        res.writeHead(302)
        res.end()
        return
      case '/declared-large':
        res.writeHead(200, { 'content-length': String(64 * 1024 * 1024) })
        res.write('d')
        return // the client must refuse on the header, without waiting for 64 MiB
      case '/streamed-large': {
        res.writeHead(200) // chunked: no length announced
        const chunk = Buffer.alloc(64 * 1024, 0x61)
        chunk[0] = 0x64
        let sent = 0
        const pump = (): void => {
          while (sent < 64 * 1024 * 1024) {
            sent += chunk.length
            if (!res.write(chunk)) { res.once('drain', pump); return }
          }
          res.end()
        }
        res.on('close', () => { sent = Infinity })
        pump()
        return
      }
      case '/silent':
        return // never answers
      case '/trickle':
        res.writeHead(200)
        res.write('d')
        return // headers, one byte, then nothing
      case '/missing':
        res.writeHead(404, { 'content-type': 'text/plain' })
        res.end('not found')
        return
      case '/page':
        res.writeHead(200, { 'content-type': 'text/html' })
        res.end('<html><body>Please log in</body></html>')
        return
      case '/broken':
        res.writeHead(200, { 'content-type': 'application/x-bittorrent' })
        res.end('d4:infod4:name1:xee')
        return
      default:
        res.writeHead(500)
        res.end()
    }
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    srv.closeAllConnections()
    await new Promise((resolve) => srv.close(resolve))
  })
  return { base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, hits: () => hits }
}

t.test('an http URL of a .torrent: fetched, parsed, sources from the torrent', async (t) => {
  const { base } = await server(t)
  const input = asMetainfo(await resolveTorrentInput(`${base}/good.torrent`))
  t.equal(input.source, 'url')
  t.equal(input.location, `${base}/good.torrent`)
  t.equal(input.meta.infoHashHex, META.infoHashHex)
  t.same(input.trackers, META.announce)
})

t.test('redirects are followed, within the bound', async (t) => {
  const { base, hits } = await server(t)
  t.equal(asMetainfo(await resolveTorrentInput(`${base}/chain?n=4`, { maxRedirects: 5 })).meta.infoHashHex, META.infoHashHex,
    'a chain of 5 redirects (relative and absolute Locations)')
  t.equal(hits(), 6, 'one request per hop')
  await t.rejects(fetchTorrentFile(`${base}/chain?n=5`, { maxRedirects: 5 }), { code: 'FETCH_REDIRECTS', message: /more than 5 times/ },
    'one redirect too many')
  await t.rejects(fetchTorrentFile(`${base}/loop`), { code: 'FETCH_REDIRECTS' }, 'a redirect loop ends')
  await t.rejects(fetchTorrentFile(`${base}/to-ftp`), { code: 'FETCH_REDIRECTS', message: /not http\(s\)/ })
  await t.rejects(fetchTorrentFile(`${base}/no-location`), { code: 'FETCH_HTTP_STATUS', message: /without a Location/ })
})

t.test('too large: refused on the Content-Length, or as the bytes arrive', async (t) => {
  const { base } = await server(t)
  const started = Date.now()
  await t.rejects(fetchTorrentFile(`${base}/declared-large`, { maxBytes: 16 * 1024 * 1024 }), { code: 'FETCH_TOO_LARGE', message: /67108864 bytes/ })
  await t.rejects(fetchTorrentFile(`${base}/streamed-large`, { maxBytes: 1024 * 1024 }), { code: 'FETCH_TOO_LARGE', message: /more than the 1048576 bytes/ })
  t.ok(Date.now() - started < 5000, 'refused quickly, without reading 64 MiB')
})

t.test('slow servers: the deadline covers the headers and the body', async (t) => {
  const { base } = await server(t)
  const started = Date.now()
  await t.rejects(fetchTorrentFile(`${base}/silent`, { timeout: 300 }), { code: 'FETCH_TIMEOUT', message: /within 300 ms/ })
  await t.rejects(fetchTorrentFile(`${base}/trickle`, { timeout: 300 }), { code: 'FETCH_TIMEOUT' })
  t.ok(Date.now() - started < HANG_BOUND_MS, `both within their bound (${Date.now() - started} ms)`)
  const aborted = new AbortController()
  setTimeout(() => { aborted.abort() }, 50).unref()
  await t.rejects(fetchTorrentFile(`${base}/silent`, { timeout: 10_000, signal: aborted.signal }), { code: 'ABORTED' })
})

t.test('answers that are not a .torrent', async (t) => {
  const { base } = await server(t)
  await t.rejects(resolveTorrentInput(`${base}/missing`), { code: 'FETCH_HTTP_STATUS', message: /answered HTTP 404/ })
  await t.rejects(resolveTorrentInput(`${base}/page`), { code: 'NOT_BENCODE', message: /is not a \.torrent \(39 bytes of text\/html\)/ })
  await t.rejects(resolveTorrentInput(`${base}/broken`), { code: 'BAD_PIECE_LENGTH', message: new RegExp(`^${base}/broken: `) },
    'bencode that is no torrent: the metainfo error, naming the URL')
  await t.rejects(resolveTorrentInput('http://127.0.0.1:1/x.torrent', { timeout: 2000 }), { code: 'FETCH_UNREACHABLE', message: /cannot fetch/ })
})

t.test('withMetadata: a magnet input completed, the link\'s trackers first', async (t) => {
  const uri = formatMagnet({ infoHash: META.infoHash, trackers: [['udp://127.0.0.1:9'], ['http://127.0.0.1:1/announce']], webSeeds: ['http://127.0.0.1:5/'], peers: [{ host: '127.0.0.1', port: 6 }] })
  const input = await resolveTorrentInput(uri)
  const fetched = parseInfoDictionary(META.infoBytes)
  t.same(fetched.announce, [], 'a bare info dictionary has no trackers')
  const done = withMetadata(input, fetched)
  t.equal(done.kind, 'metainfo')
  t.equal(done.source, 'magnet')
  t.same(done.meta.announce, [['udp://127.0.0.1:9'], ['http://127.0.0.1:1/announce']])
  t.same(done.meta.urlList, ['http://127.0.0.1:5/'])
  t.same(done.peers, [{ host: '127.0.0.1', port: 6 }])
  t.same(done.meta.infoBytes, META.infoBytes)
  t.ok(Object.isFrozen(done.meta))
  const other = parseMetainfo(buildTorrent(MULTI, { seed: 6 }).torrent)
  t.throws(() => withMetadata(input, other), { code: 'METADATA_MISMATCH' })
})
