import t, { type Test } from 'tap'
import type { EventEmitter } from 'node:events'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type http from 'node:http'
import bencode from 'bencode'
import { Announcer, type AnnouncerOptions, type AnnounceReport, type PeerAddress, type TrackerErrorReport } from '../lib/tracker/index.js'
import { scriptedHttp, type ScriptedHttp } from './helpers/tracker-scripted.js'
import { FakeClock } from './helpers/fake-clock.js'
import { HANG_BOUND_MS } from './helpers/bounds.js'

const infoHash = Buffer.alloc(20, 0x11)
const peer = (a: number, port: number): Buffer => Buffer.from([127, 0, 0, a, port >> 8, port & 0xff])

/** A tracker answering `reply(n)` to its n-th request (0-based); the requests' `event` values are recorded. */
async function tracker (t: Test, reply: (n: number, req: http.IncomingMessage) => Record<string, unknown> | null): Promise<ScriptedHttp & { events: string[] }> {
  const events: string[] = []
  const server = await scriptedHttp((req, res) => {
    events.push(new URLSearchParams(req.url?.split('?')[1]).get('event') ?? 'none')
    const body = reply(events.length - 1, req)
    if (body === null) return // hang
    const bytes = Buffer.from(bencode.encode(body))
    res.writeHead(200, { 'content-length': bytes.length }).end(bytes)
  })
  t.teardown(() => server.close())
  return Object.assign(server, { events })
}

function announcer (t: Test, url: string, extra: Partial<AnnouncerOptions> = {}): Announcer {
  const a = new Announcer({
    tiers: [[url]],
    infoHash,
    peerId: Buffer.from('-ZT0001-announcer-01'),
    port: 6881,
    getStats: () => ({ uploaded: 0, downloaded: 0, left: 100 }),
    intervalFloorMs: 0,
    ...extra
  })
  t.teardown(() => a.stop())
  return a
}

/** Wait (real time, bounded) until `check` holds. */
async function until (check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

t.test('announces on the tracker\'s interval; announce() honours min interval', { timeout: 10_000 }, async (t) => {
  const clock = new FakeClock()
  const server = await tracker(t, () => ({ interval: 100, 'min interval': 30, peers: Buffer.alloc(0) }))
  const a = announcer(t, server.url(), { clock })
  a.start()
  const [report] = await once(a, 'response') as [AnnounceReport]
  t.same(report, { url: server.url(), interval: 100, complete: undefined, incomplete: undefined, peers: 0 })
  t.same(server.events, ['started'])
  t.equal(clock.nextIn, 100_000, 'next regular announce in `interval` seconds')

  a.announce()
  await sleep(50)
  t.equal(server.events.length, 1, 'min interval not yet passed: nothing sent')
  t.equal(clock.nextIn, 30_000, 'moved forward to the end of min interval')
  clock.advance(29_999)
  await sleep(50)
  t.equal(server.events.length, 1)
  let response = once(a, 'response')
  clock.advance(1)
  await response
  t.same(server.events, ['started', 'none'])

  clock.advance(40_000)
  response = once(a, 'response')
  a.announce()
  await response
  t.equal(server.events.length, 3)
  t.equal(clock.nextIn, 100_000)
  clock.advance(100_000)
  await until(() => server.events.length === 4)
  t.same(server.events, ['started', 'none', 'none', 'none'])
})

t.test('intervals are clamped to the floor, and to min interval', { timeout: 10_000 }, async (t) => {
  const clock = new FakeClock()
  const server = await tracker(t, () => ({ interval: 0, 'min interval': 5, peers: Buffer.alloc(0) }))
  const a = announcer(t, server.url(), { clock, intervalFloorMs: 60_000 })
  a.start()
  await once(a, 'response')
  t.equal(clock.nextIn, 60_000, 'interval 0 does not mean "announce in a loop"')
})

t.test('peers are deduplicated and our own address is left out', { timeout: 10_000 }, async (t) => {
  const server = await tracker(t, (n) => ({
    interval: 100,
    peers: n === 0 ? Buffer.concat([peer(2, 7000), peer(1, 6881), peer(3, 7000)]) : Buffer.concat([peer(3, 7000), peer(4, 7000), peer(1, 6882)])
  }))
  const a = announcer(t, server.url(), { ownAddresses: ['127.0.0.1', '10.1.1.1'] })
  const seen: string[] = []
  a.on('peer', (p: PeerAddress) => seen.push(`${p.host}:${p.port}`))
  a.start()
  await once(a, 'response')
  const response = once(a, 'response')
  a.announce() // no min interval given: allowed at once
  await response
  t.same(seen, ['127.0.0.2:7000', '127.0.0.3:7000', '127.0.0.4:7000', '127.0.0.1:6882'],
    '127.0.0.1:6881 is us; 127.0.0.1:6882 is another client on this host')
})

t.test('completed is sent once; stopped on stop(), and every timer is cleared', { timeout: 10_000 }, async (t) => {
  const clock = new FakeClock()
  const server = await tracker(t, () => ({ interval: 100, peers: Buffer.alloc(0) }))
  const a = announcer(t, server.url(), { clock })
  a.start()
  await once(a, 'response')
  let response = once(a, 'response')
  a.complete()
  a.complete()
  await response
  response = once(a, 'response')
  clock.advance(100_000)
  await response
  a.complete()
  await sleep(50)
  await a.stop()
  t.same(server.events, ['started', 'completed', 'none', 'stopped'])
  t.equal(clock.pending, 0, 'no timer left')
  a.start()
  a.announce()
  await sleep(50)
  t.equal(server.events.length, 4, 'a stopped announcer stays stopped')
})

t.test('complete() during an announce in flight is sent right after it', { timeout: 10_000 }, async (t) => {
  let release: (() => void) | undefined
  const server = await scriptedHttp((req, res) => {
    const body = Buffer.from(bencode.encode({ interval: 100, peers: Buffer.alloc(0) }))
    const send = (): void => { res.writeHead(200).end(body) }
    if (req.url?.includes('event=started') === true) release = send
    else send()
  })
  t.teardown(() => server.close())
  const a = announcer(t, server.url())
  a.start()
  await until(() => release !== undefined)
  a.complete()
  let responses = 0
  const both = new Promise<void>((resolve) => a.on('response', () => { if (++responses === 2) resolve() }))
  release?.()
  await both
  t.match(server.requests[1], /event=completed/)
})

t.test('stop() is bounded even when the tracker hangs on "stopped"', { timeout: 10_000 }, async (t) => {
  const server = await tracker(t, (n) => n === 0 ? { interval: 100, peers: Buffer.alloc(0) } : null)
  const a = announcer(t, server.url(), { stopTimeoutMs: 150 })
  const errors: TrackerErrorReport[] = []
  a.on('tracker-error', (e) => errors.push(e))
  a.start()
  await once(a, 'response')
  const started = Date.now()
  await a.stop()
  t.ok(Date.now() - started < HANG_BOUND_MS, 'returned within the bound')
  t.same(server.events, ['started', 'stopped'])
  t.equal(errors[0]?.error.code, 'TRACKER_TIMEOUT')
})

t.test('stop() aborts an announce in flight and sends nothing to a tracker that never knew us', { timeout: 10_000 }, async (t) => {
  const server = await tracker(t, () => null)
  const a = announcer(t, server.url())
  a.start()
  await until(() => server.events.length === 1)
  const started = Date.now()
  await a.stop()
  t.ok(Date.now() - started < 4000) // below stopTimeoutMs (5 s): a stop that waited for the announce fails this
  t.same(server.events, ['started'])
})

t.test('a failing tracker is reported, retried with back-off, and never an error event', { timeout: 10_000 }, async (t) => {
  const clock = new FakeClock()
  const server = await tracker(t, (n) => n < 2 ? { 'failure reason': 'overloaded' } : { interval: 100, peers: Buffer.alloc(0) })
  const a = announcer(t, server.url(), { clock, retryDelayMs: 1000 })
  // Not in the Announcer's event map (it never emits 'error'): listen through the base type to prove it.
  ;(a as EventEmitter).on('error', () => t.fail('no error event'))
  a.start()
  const [first] = await once(a, 'tracker-error') as [TrackerErrorReport]
  t.equal(first.error.code, 'TRACKER_FAILURE')
  t.match(first.error.message, /overloaded/)
  await until(() => clock.pending === 1)
  t.equal(clock.nextIn, 1000)
  a.announce()
  await sleep(30)
  t.equal(server.events.length, 1, 'announce() does not hammer a failing tracker')
  const failed = once(a, 'tracker-error')
  clock.advance(1000)
  await failed
  await until(() => clock.pending === 1)
  t.equal(clock.nextIn, 2000, 'doubled')
  const response = once(a, 'response')
  clock.advance(2000)
  await response
  t.same(server.events, ['started', 'started', 'started'], 'started until a tracker acknowledges it')
})

t.test('warnings and counts are reported', { timeout: 10_000 }, async (t) => {
  const server = await tracker(t, () => ({ interval: 100, complete: 5, incomplete: 6, 'warning message': 'old client', peers: peer(9, 1000) }))
  const a = announcer(t, server.url())
  const warning = once(a, 'warning')
  a.start()
  const [report] = await once(a, 'response') as [AnnounceReport]
  t.same(report, { url: server.url(), interval: 100, complete: 5, incomplete: 6, peers: 1, warning: 'old client' })
  t.match(await warning, [/old client/])
})

t.test('no usable tracker: a warning, and nothing else', { timeout: 10_000 }, async (t) => {
  const a = new Announcer({ tiers: [['wss://x.example']], infoHash, peerId: Buffer.alloc(20), port: 1, getStats: () => ({ uploaded: 0, downloaded: 0, left: 0 }) })
  const warnings: string[] = []
  a.on('warning', (w) => warnings.push(w))
  a.start()
  await a.stop()
  t.equal(warnings.length, 2)
  t.match(warnings[1], /no usable tracker/)
})
