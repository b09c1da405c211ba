import t from 'tap'
import { HttpTracker, scrapeUrlFor, parseAnnounceReply, type AnnounceRequest } from '../lib/tracker/index.js'
import { undiciLoaded } from '../lib/http-get.js'
import { createRequire } from 'node:module'
import { scriptedHttp, bencoded, closedPort, compactPeers } from './helpers/tracker-scripted.js'
import { HANG_BOUND_MS } from './helpers/bounds.js'

const require = createRequire(import.meta.url)

// Bytes chosen to exercise the encoder: NUL, 0xff, unreserved punctuation, letters, a space, '%', '&', '='.
const infoHash = Buffer.from([0x00, 0xff, 0x2d, 0x2e, 0x5f, 0x7e, 0x41, 0x7a, 0x30, 0x20, 0x25, 0x26, 0x3d, 0x2b, 0x2f, 0x80, 0x01, 0x02, 0x03, 0x04])
const peerId = Buffer.from('-ZT0001-abcdefghijkl')
const request: AnnounceRequest = { infoHash, peerId, port: 6881, uploaded: 10, downloaded: 20, left: 30, numwant: 50 }
const ok = { interval: 1800, peers: Buffer.alloc(0) }

t.test('the query carries every BEP 3 parameter, bytes percent-encoded', async (t) => {
  const server = await scriptedHttp(bencoded({ ...ok, 'tracker id': 'T-42' }))
  t.teardown(() => server.close())
  const client = new HttpTracker(server.url('/announce?passkey=secret'))
  await client.announce({ ...request, event: 'started', key: 0xdeadbeef })
  await client.announce(request)
  const [first, second] = server.requests as [string, string]
  t.ok(first.startsWith('/announce?passkey=secret&'), 'existing query kept')
  const params = new URLSearchParams(first.split('?')[1])
  t.match(first, /info_hash=%00%FF-._~Az0%20%25%26%3D%2B%2F%80%01%02%03%04(&|$)/, 'every non-unreserved byte is %XX')
  t.equal(params.get('peer_id'), '-ZT0001-abcdefghijkl')
  t.same(Object.fromEntries([...params].filter(([k]) => k !== 'info_hash')), {
    passkey: 'secret', peer_id: '-ZT0001-abcdefghijkl', port: '6881', uploaded: '10', downloaded: '20', left: '30',
    compact: '1', event: 'started', numwant: '50', key: 'deadbeef'
  })
  t.notMatch(second, /event=/, 'a regular announce omits event')
  t.match(second, /trackerid=T-42/, 'the tracker id comes back (BEP 3)')
})

t.test('replies: compact IPv4, IPv6 peers6, dictionary model, counts and warnings', async (t) => {
  const v6 = Buffer.alloc(18)
  Buffer.from('20010db8000000000000000000000001', 'hex').copy(v6)
  v6.writeUInt16BE(51413, 16)
  const compact = await scriptedHttp(bencoded({
    interval: 900, 'min interval': 60, complete: 3, incomplete: 4, 'warning message': 'be nice',
    peers: Buffer.from([1, 2, 3, 4, 0x1a, 0xe1, 5, 6, 7, 8, 0, 0]), peers6: v6
  }))
  t.teardown(() => compact.close())
  const reply = await new HttpTracker(compact.url()).announce(request)
  t.same(reply, {
    interval: 900, minInterval: 60, complete: 3, incomplete: 4, warning: 'be nice',
    peers: [{ host: '1.2.3.4', port: 6881, family: 4 }, { host: '2001:db8::1', port: 51413, family: 6 }]
  }, 'port 0 skipped, IPv6 in RFC 5952 form')

  const dict = await scriptedHttp(bencoded({
    interval: 60,
    peers: [
      { ip: '10.0.0.1', port: 6881, 'peer id': Buffer.alloc(20, 1) },
      { ip: '::1', port: 6882 },
      { ip: 'tracker.example', port: 1 }, // a name: skipped, we do not resolve what a tracker hands us
      { ip: '10.0.0.2', port: 70000 },
      'junk'
    ]
  }))
  t.teardown(() => dict.close())
  t.same((await new HttpTracker(dict.url()).announce(request)).peers,
    [{ host: '10.0.0.1', port: 6881, family: 4 }, { host: '::1', port: 6882, family: 6 }])
})

t.test('bad replies have codes', async (t) => {
  const cases: [string, (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void, string, RegExp?][] = [
    ['404', (_q, res) => { res.writeHead(404).end('nope') }, 'TRACKER_HTTP_STATUS', /404/],
    ['500', (_q, res) => { res.writeHead(500).end() }, 'TRACKER_HTTP_STATUS', /500/],
    ['HTML', (_q, res) => { res.writeHead(200).end('<html>down for maintenance</html>') }, 'TRACKER_BAD_REPLY', /not bencoded/],
    ['a list', bencoded([1, 2]), 'TRACKER_BAD_REPLY'],
    ['no interval', bencoded({ peers: Buffer.alloc(0) }), 'TRACKER_BAD_REPLY', /interval/],
    ['no peers', bencoded({ interval: 60 }), 'TRACKER_BAD_REPLY', /peers/],
    ['failure reason', bencoded({ 'failure reason': 'torrent not registered' }), 'TRACKER_FAILURE', /torrent not registered/],
    ['peers of 7 bytes', bencoded({ interval: 60, peers: Buffer.alloc(7) }), 'TRACKER_BAD_REPLY', /multiple of 6/],
    ['peers6 of 20 bytes', bencoded({ interval: 60, peers6: Buffer.alloc(20) }), 'TRACKER_BAD_REPLY', /multiple of 18/],
    ['peers an integer', bencoded({ interval: 60, peers: 5 }), 'TRACKER_BAD_REPLY'],
    ['redirect without Location', (_q, res) => { res.writeHead(302).end() }, 'TRACKER_HTTP_STATUS', /Location/],
    ['3 MiB body', (_q, res) => { res.writeHead(200).end(Buffer.alloc(3 * 1024 * 1024, 0x61)) }, 'TRACKER_BAD_REPLY', /limit/]
  ]
  for (const [name, handler, code, message] of cases) {
    const server = await scriptedHttp(handler)
    await t.rejects(new HttpTracker(server.url()).announce(request), { code, ...(message === undefined ? {} : { message }) }, name)
    await server.close()
  }
})

t.test('a closed port is TRACKER_UNREACHABLE', async (t) => {
  const port = await closedPort()
  await t.rejects(new HttpTracker(`http://127.0.0.1:${port}/announce`).announce(request), { code: 'TRACKER_UNREACHABLE' })
})

t.test('a tracker that never answers, or trickles, times out', async (t) => {
  const silent = await scriptedHttp(() => {})
  t.teardown(() => silent.close())
  let started = Date.now()
  await t.rejects(new HttpTracker(silent.url(), { timeout: 200 }).announce(request), { code: 'TRACKER_TIMEOUT' })
  t.ok(Date.now() - started < HANG_BOUND_MS, 'within the bound')

  // Headers at once, then one byte every 50 ms: an idle timer would never fire; the deadline does.
  const trickle = await scriptedHttp((_req, res) => {
    res.writeHead(200)
    const timer = setInterval(() => res.write('d'), 50)
    res.on('close', () => clearInterval(timer))
  })
  t.teardown(() => trickle.close())
  started = Date.now()
  await t.rejects(new HttpTracker(trickle.url(), { timeout: 300 }).announce(request), { code: 'TRACKER_TIMEOUT' })
  t.ok(Date.now() - started < HANG_BOUND_MS, 'within the bound')
})

t.test('aborting rejects with ABORTED', async (t) => {
  const silent = await scriptedHttp(() => {})
  t.teardown(() => silent.close())
  const controller = new AbortController()
  setTimeout(() => controller.abort(), 50)
  await t.rejects(new HttpTracker(silent.url()).announce(request, { signal: controller.signal }), { code: 'ABORTED' })
})

t.test('redirects are followed, within a bound', async (t) => {
  const server = await scriptedHttp((req, res) => {
    if (req.url?.startsWith('/loop')) res.writeHead(302, { location: '/loop' }).end()
    else if (req.url?.startsWith('/old')) res.writeHead(301, { location: '/announce?moved=1' }).end()
    else bencoded({ interval: 60, peers: compactPeers(1) })(req, res)
  })
  t.teardown(() => server.close())
  const reply = await new HttpTracker(server.url('/old/announce')).announce(request)
  t.equal(reply.peers.length, 1, 'followed a relative redirect')
  const before = server.requests.length
  await t.rejects(new HttpTracker(server.url('/loop'), { maxRedirects: 5 }).announce(request), { code: 'TRACKER_HTTP_STATUS', message: /redirected more than 5/ })
  t.equal(server.requests.length - before, 6, 'one request and five redirects, then stop')
})

t.test('thousands of peers are bounded by numwant and by the cap', async (t) => {
  const server = await scriptedHttp(bencoded({ interval: 60, peers: compactPeers(5000) }))
  t.teardown(() => server.close())
  t.equal((await new HttpTracker(server.url()).announce({ ...request, numwant: 80 })).peers.length, 80)
  const { numwant: _, ...noNumwant } = request
  t.equal((await new HttpTracker(server.url()).announce(noNumwant)).peers.length, 1000, 'default cap')
  t.equal(parseAnnounceReply(Buffer.from(`d8:intervali1e5:peers${6 * 3}:${'x'.repeat(18)}e`), 2).peers.length, 2)
})

t.test('scrape URL convention (BEP 48)', async (t) => {
  const table: [string, string | null][] = [
    ['http://t.example/announce', 'http://t.example/scrape'],
    ['http://t.example:8080/x/announce?passkey=1', 'http://t.example:8080/x/scrape?passkey=1'],
    ['http://t.example/announce.php', 'http://t.example/scrape.php'],
    ['http://t.example/a', null],
    ['http://t.example/announce/x', null],
    ['http://t.example/x%064announce', null],
    ['http://announce', null]
  ]
  for (const [input, expected] of table) t.equal(scrapeUrlFor(input), expected, input)
  await t.rejects(new HttpTracker('http://127.0.0.1:1/tracker').scrape([infoHash]), { code: 'TRACKER_UNSUPPORTED' })
})

t.test('scrape: binary and ASCII info hash keys, missing files', async (t) => {
  const ascii = Buffer.from('abcdefghijklmnopqrst')
  const files = new Map<Buffer, Record<string, number>>([
    [infoHash, { complete: 1, incomplete: 2, downloaded: 3 }],
    [ascii, { complete: 4, incomplete: 5, downloaded: 6 }]
  ])
  const server = await scriptedHttp(bencoded({ files }))
  t.teardown(() => server.close())
  const reply = await new HttpTracker(server.url()).scrape([infoHash, ascii])
  t.same(reply.get(infoHash.toString('hex')), { complete: 1, incomplete: 2, downloaded: 3 })
  t.same(reply.get(ascii.toString('hex')), { complete: 4, incomplete: 5, downloaded: 6 })
  t.match(server.requests[0], /^\/scrape\?info_hash=%00%FF.*&info_hash=abcdefghijklmnopqrst$/)

  const bad = await scriptedHttp(bencoded({ nothing: 1 }))
  t.teardown(() => bad.close())
  await t.rejects(new HttpTracker(bad.url()).scrape([infoHash]), { code: 'TRACKER_BAD_REPLY' })
})

t.test('HTTP goes through the lean part of undici, not its whole index', async (t) => {
  const server = await scriptedHttp(bencoded(ok))
  t.teardown(() => server.close())
  await new HttpTracker(server.url()).announce(request)
  // 'index' here means an undici upgrade moved lib/dispatcher/agent.js or lib/api/api-request.js: the fallback
  // works, but start-up pays ~80 ms again (lib/http-get.ts)
  t.equal(undiciLoaded, 'lean')
  t.notOk(Object.keys(require.cache ?? {}).some((path) => path.endsWith('/undici/index.js')), "undici's index not loaded")
})
