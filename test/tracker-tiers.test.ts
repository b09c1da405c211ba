import t from 'tap'
import { once } from 'node:events'
import { TrackerTiers, Announcer, startTracker, type PeerAddress, type TrackerErrorReport } from '../lib/tracker/index.js'
import { closedPort, scriptedUdp } from './helpers/tracker-scripted.js'

/** A deterministic source of randomness: cycles through the given values. */
const sequence = (...values: number[]): () => number => { let i = 0; return () => values[i++ % values.length]! }

/** A small seeded PRNG (mulberry32). */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('tiers keep their order; URLs are shuffled within a tier once, by the injected randomness', async (t) => {
  const tiers = [['http://a/announce', 'http://b/announce', 'http://c/announce'], ['udp://d:1', 'udp://e:1']]
  const seen = new Set<string>()
  for (let seed = 0; seed < 50; seed++) {
    const order = new TrackerTiers(tiers, mulberry32(seed)).tiers
    t.same(order.map((tier) => [...tier].sort()), tiers, 'same members per tier')
    seen.add(order[0]!.join(' '))
  }
  t.equal(seen.size, 6, 'every order of the first tier is reachable')
  // Math.floor(0 * (i+1)) = 0 at every step: Fisher–Yates rotates [a, b, c] to [b, c, a].
  t.same(new TrackerTiers(tiers, sequence(0)).tiers[0], ['http://b/announce', 'http://c/announce', 'http://a/announce'])
  t.same(new TrackerTiers(tiers, sequence(0.99)).tiers[0], tiers[0], '0.99 keeps the order')
})

t.test('unknown schemes and duplicates are left out, and reported', async (t) => {
  const tiers = new TrackerTiers([['wss://tracker.example', 'http://a/announce'], ['http://a/announce', 'dht://x'], ['udp://noport']], sequence(0.99))
  t.same(tiers.tiers, [['http://a/announce']])
  t.same(tiers.skipped.map((s) => s.url), ['wss://tracker.example', 'dht://x', 'udp://noport'])
  t.equal(tiers.size, 1)
})

t.test('promote moves a URL to the front of its own tier only', async (t) => {
  const tiers = new TrackerTiers([['http://a/x', 'http://b/x', 'http://c/x'], ['http://d/x', 'http://e/x']], sequence(0.99))
  tiers.promote('http://c/x')
  tiers.promote('http://e/x')
  t.same(tiers.tiers, [['http://c/x', 'http://a/x', 'http://b/x'], ['http://e/x', 'http://d/x']])
  t.same(tiers.urls, ['http://c/x', 'http://a/x', 'http://b/x', 'http://e/x', 'http://d/x'])
})

t.test('a dead first tier falls through to a live second tier; the answering tracker moves to the front', async (t) => {
  const live = await startTracker()
  t.teardown(() => live.close())
  const silent = await scriptedUdp(() => {})
  t.teardown(() => silent.close())
  const refused = `http://127.0.0.1:${await closedPort()}/announce`
  const deadInTier2 = `http://127.0.0.1:${await closedPort()}/announce`
  const infoHash = Buffer.alloc(20, 3)
  const common = {
    infoHash,
    getStats: () => ({ uploaded: 0, downloaded: 0, left: 1 }),
    udp: { baseTimeout: 40, retries: 1 },
    random: sequence(0.99) // keep the written order, so the dead URL of tier 2 is tried first
  }
  const tiers = [[refused, silent.url, 'wss://webtorrent.example'], [deadInTier2, live.url]]
  // A first peer, so that the second one gets someone back.
  const other = new Announcer({ ...common, tiers: [[live.url]], peerId: Buffer.from('O'.repeat(20)), port: 7001 })
  t.teardown(() => other.stop())
  other.start()
  await once(other, 'response')

  const announcer = new Announcer({ ...common, tiers, peerId: Buffer.from('A'.repeat(20)), port: 7002 })
  t.teardown(() => announcer.stop())
  const errors: TrackerErrorReport[] = []
  const warnings: string[] = []
  announcer.on('tracker-error', (e) => errors.push(e))
  announcer.on('warning', (w) => warnings.push(w))
  const peer = once(announcer, 'peer')
  announcer.start()
  const [found] = await peer as [PeerAddress]
  t.same(found, { host: '127.0.0.1', port: 7001, family: 4 })
  t.same(errors.map((e) => [e.url, e.error.code]), [
    [refused, 'TRACKER_UNREACHABLE'], [silent.url, 'TRACKER_TIMEOUT'], [deadInTier2, 'TRACKER_UNREACHABLE']])
  t.match(warnings, [/wss:\/\/webtorrent\.example/], 'the wss:// tracker is a warning, not an error')
  t.same(announcer.tiers, [[refused, silent.url], [live.url, deadInTier2]], 'BEP 12: the live tracker leads its tier')
})
