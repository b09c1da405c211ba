import t from 'tap'
import { PEER_BOOK_DEFAULTS, PeerBook, type PeerBookOptions } from '../lib/peers/peer-book.js'
import { seededRandom } from './helpers/create-fixtures.js'

const S = 1000

const addr = (host: string, port = 6881): { host: string, port: number } => ({ host, port })
const keys = (cands: Array<{ key: string }>): string[] => cands.map((c) => c.key)

t.test('defaults: 5 s, 15 s, 45 s … capped at 10 min, given up after 8 consecutive failures', async (t) => {
  const book = new PeerBook()
  t.same([1, 2, 3, 4, 5, 6, 7, 8].map((n) => book.retryDelay(n) / S), [5, 15, 45, 135, 405, 600, 600, 600])
  t.equal(PEER_BOOK_DEFAULTS.maxFailures, 8)
  t.throws(() => new PeerBook({ maxPeers: 0 }), RangeError)
  t.throws(() => new PeerBook({ retryBase: 10, retryMax: 5 }), RangeError)
  t.throws(() => new PeerBook({ retryFactor: 0.5 }), RangeError)
})

t.test('addresses are deduplicated across spellings and sources are remembered', async (t) => {
  const book = new PeerBook()
  t.equal(book.add(addr('1.2.3.4'), 'tracker', 0), 'added')
  t.equal(book.add(addr('::ffff:1.2.3.4'), 'dht', 1), 'known')
  t.equal(book.add(addr('[::FFFF:102:304]'), 'pex', 2), 'known')
  t.equal(book.add(addr('2001:DB8:0:0:0:0:0:1'), 'pex', 3), 'added')
  t.equal(book.add(addr('2001:db8::1'), 'lsd', 3), 'known')
  t.equal(book.add(addr('1.2.3.4', 0), 'pex', 4), 'invalid')
  t.equal(book.add(addr('not a host'), 'pex', 4), 'invalid')
  t.equal(book.size, 2)
  t.same(book.get(addr('1.2.3.4'))?.sources, ['tracker', 'dht', 'pex'])
  t.same(book.get('[2001:db8::1]:6881')?.sources, ['lsd', 'pex'], 'sources in rank order')
  const status = book.status(5)
  t.same(status.bySource.pex, { known: 2, connected: 0 })
  t.same(status.bySource.tracker, { known: 1, connected: 0 })
  t.same(status.bySource.manual, { known: 0, connected: 0 })
})

t.test('next: due entries best first, each handed out once, at most `slots`', async (t) => {
  const book = new PeerBook()
  book.add(addr('10.0.0.1'), 'pex', 0)
  book.add(addr('10.0.0.2'), 'dht', 0)
  book.add(addr('10.0.0.3'), 'tracker', 0)
  book.add(addr('10.0.0.4'), 'manual', 0)
  book.add(addr('10.0.0.5'), 'tracker', 0)
  t.same(book.next(0, 0), [])
  t.same(keys(book.next(0, 3)), ['10.0.0.4:6881', '10.0.0.3:6881', '10.0.0.5:6881'], 'manual, then trackers in order')
  t.same(keys(book.next(0, 10)), ['10.0.0.2:6881', '10.0.0.1:6881'], 'then DHT, then PEX')
  t.same(book.next(0, 10), [], 'nothing twice')
  t.equal(book.status(0).connecting, 5)
  t.equal(book.nextWakeup(), null, 'nothing idle')
  // a failure ranks an entry behind clean ones; an entry that connected well ranks before untried ones
  book.failed('10.0.0.4:6881', 0)
  book.connected('10.0.0.1:6881', 0)
  book.disconnected('10.0.0.1:6881', 100 * S) // lasted 100 s: good, failure count 1 then
  book.add(addr('10.0.0.6'), 'tracker', 100 * S)
  t.same(keys(book.next(1000 * S, 10)), ['10.0.0.6:6881', '10.0.0.1:6881', '10.0.0.4:6881'],
    'no failure first; then, among one failure each, the one that connected well before the manual one')
})

t.test('a peer that connected well is forgiven; a short connection counts as a failure', async (t) => {
  const book = new PeerBook()
  const k = '10.0.0.1:6881'
  book.add(addr('10.0.0.1'), 'tracker', 0)
  let now = 0
  for (let i = 1; i <= 3; i++) {
    t.same(keys(book.next(now, 1)), [k])
    book.failed(k, now)
    t.equal(book.nextWakeup(), now + book.retryDelay(i))
    now = book.nextWakeup()!
  }
  t.equal(book.get(k)?.failures, 3)
  book.next(now, 1)
  book.connected(k, now)
  book.disconnected(k, now + 10 * S) // 10 s: not good
  t.equal(book.get(k)?.failures, 4)
  t.equal(book.nextWakeup(), now + 10 * S + book.retryDelay(4))
  now = book.nextWakeup()!
  book.next(now, 1)
  book.connected(k, now)
  book.disconnected(k, now + 60 * S) // a minute: good
  t.equal(book.get(k)?.failures, 1, 'count starts again')
  t.ok(book.get(k)?.everConnected)
  t.equal(book.nextWakeup(), now + 60 * S + 5 * S, 'a seeder that restarts is tried again 5 s after it dropped')
  // a short connection the session marks useful is good too
  now = book.nextWakeup()!
  book.next(now, 1)
  book.connected(k, now)
  book.disconnected(k, now + 1, { useful: true })
  t.equal(book.get(k)?.failures, 1)
})

t.test('given up after maxFailures; starving; a source reporting it again after retryMax re-arms it once', async (t) => {
  const book = new PeerBook({ maxFailures: 3 })
  const k = '10.0.0.1:6881'
  book.add(addr('10.0.0.1'), 'tracker', 0)
  let now = 0
  t.same(book.status(now).starving, false)
  for (let i = 1; i <= 3; i++) {
    t.same(keys(book.next(now, 1)), [k], `attempt ${i}`)
    book.failed(k, now)
    now = book.nextWakeup() ?? now
  }
  t.equal(book.get(k)?.state, 'given-up')
  t.equal(book.nextWakeup(), null)
  const status = book.status(now)
  t.match(status, { connected: 0, connecting: 0, candidates: 0, givenUp: 1, noPeers: true, starving: true, nextRetryAt: null })
  t.equal(status.bySource.tracker.known, 0, 'a given-up entry is not counted as known')
  t.equal(book.add(addr('10.0.0.1'), 'tracker', now + 1), 'known', 'too soon: stays given up')
  t.same(book.next(now + 1, 1), [])
  const later = now + book.options.retryMax
  t.equal(book.add(addr('10.0.0.1'), 'dht', later), 'rearmed')
  t.same(keys(book.next(later, 1)), [k])
  book.failed(k, later)
  t.equal(book.get(k)?.state, 'given-up', 'one more try only')
})

t.test('the user\'s --peer and magnet x.pe are never given up: retried at the cap for as long as it runs', async (t) => {
  const book = new PeerBook({ maxFailures: 3 })
  const k = '127.0.0.1:1'
  book.add(addr('127.0.0.1', 1), 'manual', 0)
  let now = 0
  const seen: number[] = []
  for (let i = 1; i <= 10; i++) {
    t.same(keys(book.next(now, 1)), [k])
    book.failed(k, now)
    const at = book.nextWakeup()!
    seen.push((at - now) / S)
    now = at
  }
  t.same(seen, [5, 15, 45, 135, 405, 600, 600, 600, 600, 600])
  const status = book.status(now)
  t.equal(status.noPeers, true)
  t.equal(status.starving, false, 'not starving: one candidate, waiting')
  t.equal(status.candidates, 1)
  t.equal(status.nextRetryAt, now)
})

t.test('brute force: the backoff schedule against a reference model, random options and event sequences', async (t) => {
  let checks = 0
  for (let run = 0; run < 60; run++) {
    const random = seededRandom(1000 + run)
    const opts: Partial<PeerBookOptions> = {
      retryBase: 1 + Math.floor(random() * 5000),
      retryFactor: 1 + Math.floor(random() * 4),
      maxFailures: 1 + Math.floor(random() * 8),
      goodConnection: 1 + Math.floor(random() * 10_000)
    }
    opts.retryMax = opts.retryBase! * (1 + Math.floor(random() * 50))
    const persistent = random() < 0.3
    const book = new PeerBook(opts)
    // reference: delays by repeated multiplication, not the book's power formula
    const delays: number[] = []
    for (let d = opts.retryBase!, i = 0; i < 40; i++, d *= opts.retryFactor!) delays.push(Math.min(d, opts.retryMax))
    const model = { dueAt: 0, failures: 0, givenUp: false, state: 'idle' as 'idle' | 'connecting' | 'connected', connectedAt: 0 }
    const key = '10.9.8.7:6881'
    book.add(addr('10.9.8.7'), persistent ? 'manual' : 'pex', 0)
    const fail = (now: number, failures: number): void => {
      model.state = 'idle'
      model.failures = failures
      if (failures >= opts.maxFailures! && !persistent) { model.givenUp = true; return }
      model.dueAt = now + delays[Math.min(failures, 40) - 1]!
    }
    let now = 0
    const mismatches: string[] = []
    for (let step = 0; step < 300 && !model.givenUp; step++) {
      now += Math.floor(random() * (random() < 0.5 ? opts.retryBase! * 2 : opts.retryMax!))
      if (model.state === 'idle') {
        const expected = now >= model.dueAt
        const got = book.next(now, 1)
        checks++
        if (got.length !== (expected ? 1 : 0)) mismatches.push(`step ${step} at ${now}: due at ${model.dueAt}, got ${got.length}`)
        if (!expected) {
          if (book.nextWakeup() !== model.dueAt) mismatches.push(`step ${step}: wake-up ${book.nextWakeup()} ≠ ${model.dueAt}`)
          continue
        }
        model.state = 'connecting'
      }
      if (model.state === 'connecting') {
        if (random() < 0.6) { book.failed(key, now); fail(now, model.failures + 1); continue }
        book.connected(key, now)
        model.state = 'connected'
        model.connectedAt = now
        continue
      }
      // connected: close it at this step; good if it lasted goodConnection
      book.disconnected(key, now)
      const good = now - model.connectedAt >= opts.goodConnection!
      fail(now, good ? 1 : model.failures + 1)
    }
    t.same(mismatches, [], `run ${run}: ${JSON.stringify(opts)}${persistent ? ' persistent' : ''}`)
    t.equal(book.get(key)?.state, model.givenUp ? 'given-up' : model.state, `run ${run} final state`)
    if (model.givenUp) t.equal(book.nextWakeup(), null)
    else t.equal(book.get(key)?.failures, model.failures)
  }
  t.ok(checks > 1000, `${checks} due/not-due checks`)
})

t.test('bans: by address and by peer id; never offered again; bounded', async (t) => {
  const book = new PeerBook({ maxBans: 3 })
  const id = Buffer.alloc(20, 7)
  book.add(addr('10.0.0.1'), 'tracker', 0)
  book.add(addr('10.0.0.2'), 'tracker', 0)
  book.next(0, 2)
  t.ok(book.connected('10.0.0.1:6881', 0, id))
  t.same(book.ban('10.0.0.1:6881'), ['10.0.0.1:6881'], 'the live connection to close')
  t.ok(book.isBanned('10.0.0.1:6881') && book.isBanned(addr('::ffff:10.0.0.1')) && book.isBanned('x', id))
  t.equal(book.add(addr('10.0.0.1'), 'dht', 1), 'banned')
  t.equal(book.add(addr('10.0.0.9'), 'incoming', 1, { peerId: id }), 'banned', 'a listen port hint with a banned id')
  t.equal(book.incoming(addr('10.0.0.50', 40000), 1, id), null, 'incoming with a banned id is refused')
  t.equal(book.connected('10.0.0.2:6881', 1, id), false, 'a dialled peer that turns out to have the banned id')
  t.ok(book.isBanned('10.0.0.2:6881'))
  t.same(book.next(10 ** 9, 10), [])
  // same peer id at two addresses: banning one forgets the other
  const id2 = Buffer.alloc(20, 9)
  book.add(addr('10.0.0.3'), 'tracker', 2, { peerId: id2 })
  book.add(addr('10.0.0.4'), 'tracker', 2, { peerId: id2 })
  book.ban(addr('10.0.0.3'))
  t.equal(book.get('10.0.0.4:6881'), undefined)
  // bounded: the oldest bans are forgotten
  for (let i = 0; i < 10; i++) book.ban(addr(`10.1.0.${i}`))
  t.equal(book.status(3).banned, 3)
  t.ok(book.isBanned(addr('10.1.0.9')))
  t.notOk(book.isBanned(addr('10.1.0.0')))
})

t.test('bounded: a PEX flood neither exceeds its quota nor evicts tracker peers; the book never exceeds maxPeers', async (t) => {
  const book = new PeerBook({ maxPeers: 300, sourceLimits: { pex: 100, dht: 100, tracker: 250 } })
  for (let i = 0; i < 50; i++) t.equal(book.add(addr(`10.0.1.${i}`), 'tracker', 0), 'added')
  let refused = 0
  let largest = 0
  for (let i = 0; i < 10_000; i++) {
    const r = book.add(addr(`10.${2 + (i >> 8) % 200}.${i & 255}.1`), 'pex', i)
    if (r === 'refused') refused++
    largest = Math.max(largest, book.size)
  }
  t.equal(largest, 150, 'never more than 50 tracker + 100 PEX')
  t.equal(refused, 0, 'PEX churns its own entries')
  t.equal(book.status(0).bySource.pex.known, 100)
  t.equal(book.status(0).bySource.tracker.known, 50, 'tracker peers untouched')
  // the newest PEX entries are the ones kept (the oldest reported are evicted first)
  t.ok(book.get(addr('10.41.15.1')) !== undefined, 'the last one reported is kept')
  t.equal(book.get(addr('10.2.0.1')), undefined, 'the first one reported is gone')
  // total bound: DHT fills up to maxPeers, then evicts the worst overall (given-up / failed first)
  for (let i = 0; i < 50; i++) book.add(addr(`10.0.9.${i}`), 'manual', 0)
  const failing = book.next(0, 10_000).filter((c) => c.sources.includes('pex')).slice(0, 20)
  for (const c of failing) book.failed(c.key, 0)
  for (let i = 0; i < 300; i++) book.add(addr(`10.250.${i >> 8}.${i & 255}`), 'dht', 1)
  t.ok(book.size <= 300)
  for (const c of failing) t.equal(book.get(c.key), undefined, `failed ${c.key} evicted first`)
  t.equal(book.status(0).bySource.manual.known, 50, 'manual peers are never evicted')
})

t.test('nothing evictable: the newcomer is refused; connecting and connected entries stay', async (t) => {
  const book = new PeerBook({ maxPeers: 3, sourceLimits: {} })
  for (let i = 1; i <= 3; i++) book.add(addr(`10.0.0.${i}`), 'dht', 0)
  const [a, b, c] = book.next(0, 3)
  book.connected(a!.key, 0)
  book.connected(b!.key, 0)
  void c
  t.equal(book.add(addr('10.0.0.9'), 'dht', 1), 'refused')
  t.equal(book.size, 3)
})

t.test('many addresses on one host are capped, except the user\'s and incoming ones', async (t) => {
  const book = new PeerBook({ maxPerHost: 4 })
  const results = []
  for (let port = 1000; port < 1020; port++) results.push(book.add(addr('10.0.0.1', port), 'pex', 0))
  t.equal(results.filter((r) => r === 'added').length, 4)
  t.equal(results.filter((r) => r === 'refused').length, 16)
  t.equal(book.add(addr('10.0.0.1', 2000), 'tracker', 0), 'refused', 'the cap is per host, whatever the source')
  t.equal(book.add(addr('10.0.0.1', 2001), 'manual', 0), 'added', 'manual exempt')
  for (let port = 40000; port < 40010; port++) t.ok(book.incoming(addr('10.0.0.2', port), 0) !== null)
  t.equal(book.add(addr('10.0.0.2', 6881), 'tracker', 0), 'added', 'incoming connections do not use up a host\'s budget')
})

t.test('incoming: connected, not dialled back on its ephemeral port, forgotten on close; its listen port waits for it', async (t) => {
  const book = new PeerBook()
  const id = Buffer.alloc(20, 3)
  const k = book.incoming(addr('10.0.0.7', 51234), 0, id)
  t.equal(k, '10.0.0.7:51234')
  t.equal(book.status(0).connected, 1)
  t.equal(book.status(0).bySource.incoming.connected, 1)
  // BEP 10 `p`: its listen port, with the peer id as a hint — not dialled while it is connected to us
  t.equal(book.add(addr('10.0.0.7', 6881), 'incoming', 0, { peerId: id }), 'added')
  t.same(book.next(0, 10), [])
  t.equal(book.nextWakeup(), null, 'no wake-up for an entry that waits for a disconnect (no busy loop)')
  book.disconnected(k!, 5 * S)
  t.equal(book.get(k!), undefined, 'the ephemeral entry is forgotten')
  t.same(keys(book.next(5 * S, 10)), ['10.0.0.7:6881'], 'now its listen address is dialled')
})

t.test('the same peer id at two addresses is not dialled twice at once', async (t) => {
  const book = new PeerBook()
  const id = Buffer.alloc(20, 1)
  book.add(addr('10.0.0.1'), 'tracker', 0, { peerId: id })
  book.add(addr('10.0.0.2'), 'tracker', 0, { peerId: id })
  t.same(keys(book.next(0, 10)), ['10.0.0.1:6881'])
  book.failed('10.0.0.1:6881', 0)
  t.same(keys(book.next(0, 10)), ['10.0.0.2:6881'])
})

t.test('status: counts per source, no peers, next retry', async (t) => {
  const book = new PeerBook()
  t.match(book.status(0), { connected: 0, candidates: 0, noPeers: true, starving: true, nextRetryAt: null })
  book.add(addr('10.0.0.1'), 'tracker', 0)
  book.add(addr('10.0.0.2'), 'dht', 0)
  book.add(addr('10.0.0.2'), 'pex', 0)
  t.match(book.status(0), { candidates: 2, due: 2, noPeers: true, starving: false, nextRetryAt: 0 })
  const [first] = book.next(0, 1)
  book.connected(first!.key, 0)
  const s = book.status(0)
  t.match(s, { connected: 1, candidates: 1, noPeers: false, starving: false })
  t.same(s.bySource.tracker, { known: 1, connected: 1 })
  t.same(s.bySource.dht, { known: 1, connected: 0 })
  t.same(s.bySource.pex, { known: 1, connected: 0 })
  book.disconnected(first!.key, 1)
  t.match(book.status(1), { connected: 0, noPeers: true, due: 1, candidates: 2, nextRetryAt: 0 })
  t.equal(book.nextWakeup(), 0, 'the other one is due now')
})
