/**
 * Reader deadlines (lib/streaming/deadlines.ts): the consumption-rate estimate, the playback schedule, the pieces
 * ahead that get deadlines (against a brute-force reference), and the board over a real ledger on a fake clock.
 */
import t from 'tap'
import { DeadlineBoard, DEADLINE_DEFAULTS, PlaybackSchedule, RateEstimate, deadlinesAhead } from '../lib/streaming/deadlines.js'
import { createLedger } from '../lib/ledger.js'
import { BLOCK_LENGTH } from '../lib/geometry.js'
import { FakeClock } from './helpers/fake-clock.js'
import { seededRandom } from './helpers/create-fixtures.js'

const PIECE = 4 * BLOCK_LENGTH // 64 KiB

t.test('defaults are named in one place', async (t) => {
  t.ok(DEADLINE_DEFAULTS.minPieces >= 1 && DEADLINE_DEFAULTS.maxPieces >= DEADLINE_DEFAULTS.minPieces)
  t.ok(Object.isFrozen(DEADLINE_DEFAULTS))
})

t.test('the rate estimate counts only time not spent waiting for a piece, over a sliding window', async (t) => {
  const opts = { rateWindow: 10_000, minRateSample: 1000 }
  const r = new RateEstimate(0, 0, opts)
  t.equal(r.rate(500), null, 'no estimate before minRateSample ms of consumption')
  r.record(1000, 100_000, false)
  t.equal(r.rate(1000), 100_000, '100 kB in 1 s')
  r.record(2000, 200_000, true) // now it waits for a piece…
  r.record(7000, 200_000, false) // …for 5 s: not consumption time
  t.equal(r.rate(7000), 100_000, 'the wait is left out: still 100 kB/s')
  r.record(8000, 400_000, false)
  t.equal(r.rate(8000), 400_000 / 3, 'three active seconds, 400 kB')
  // the window slides: samples older than 10 s fall out
  r.record(20_000, 400_000, false) // a consumer that paused 12 s (not waiting for us): counted, and nothing read
  t.equal(r.rate(20_000), 0, 'only the last 10 s: no bytes in them')
  t.equal(r.rate(20_500), 0, 'the open interval counts as active time')
})

t.test('the schedule: on or behind it, a reader moves the anchor; ahead of it, the schedule stands', async (t) => {
  const s = new PlaybackSchedule(5000, 0) // byte 0 due at 5 s (a 5 s startup delay)
  t.equal(s.due(1000, 1000), 6000, '1000 bytes at 1000 B/s: one second later')
  s.progress(1000, 3000, 1000) // 3000 bytes by t = 1 s: ahead (due at 8 s)
  t.same(s.anchor, { at: 5000, position: 0 }, 'ahead: unchanged')
  s.progress(9000, 3000, 1000) // still at 3000 at 9 s: a stall (due at 8 s)
  t.same(s.anchor, { at: 9000, position: 3000 }, 'behind: the rest of the schedule moves back')
  t.equal(s.due(4000, 1000), 10_000)
})

function bruteDeadlines (anchor: { at: number, position: number }, position: number, end: number, rate: number, now: number,
  written: (i: number) => boolean, o: { horizon: number, minPieces: number, maxPieces: number }): Map<number, number> {
  const out = new Map<number, number>()
  const first = Math.floor(position / PIECE)
  const last = Math.floor((end - 1) / PIECE)
  for (let k = 0; k < o.maxPieces && first + k <= last; k++) {
    const i = first + k
    const start = Math.max(position, i * PIECE)
    const due = anchor.at + (start - anchor.position) * 1000 / rate
    if (k >= o.minPieces && due - now > o.horizon) break
    if (!written(i)) out.set(i, due)
  }
  return out
}

t.test('deadlinesAhead equals a brute-force reference on 2000 random cases', async (t) => {
  const random = seededRandom(14)
  let mismatches = 0
  for (let n = 0; n < 2000; n++) {
    const pieces = 1 + Math.floor(random() * 40)
    const end = (pieces - 1) * PIECE + 1 + Math.floor(random() * PIECE)
    const position = Math.floor(random() * end)
    const anchor = { at: Math.floor(random() * 10_000), position: Math.floor(random() * (position + 1)) }
    const rate = 1000 + Math.floor(random() * 1_000_000)
    const now = Math.floor(random() * 20_000)
    const have = new Set<number>()
    for (let i = 0; i < pieces; i++) if (random() < 0.3) have.add(i)
    const o = { horizon: Math.floor(random() * 8000), minPieces: Math.floor(random() * 4), maxPieces: 1 + Math.floor(random() * 20) }
    const schedule = new PlaybackSchedule(anchor.at, anchor.position)
    const got = deadlinesAhead(schedule, position, { pieceLength: PIECE, end }, rate, now, (i) => have.has(i), o)
    const want = bruteDeadlines(anchor, position, end, rate, now, (i) => have.has(i), o)
    if (JSON.stringify([...got]) !== JSON.stringify([...want])) mismatches++
  }
  t.equal(mismatches, 0)
})

function board (opts = {}) {
  const clock = new FakeClock(0)
  const ledger = createLedger({ pieceCount: 100, pieceLength: PIECE, lastPieceLength: PIECE })
  return { clock, ledger, board: new DeadlineBoard(ledger, clock, { horizon: 2000, minPieces: 2, maxPieces: 10, refreshInterval: 250, ...opts }) }
}

const deadlines = (ledger: ReturnType<typeof createLedger>): Array<[number, number]> => [...ledger.deadlines()].sort((a, b) => a[0] - b[0])

t.test('a reader with a known bitrate: the pieces within the horizon get the due time of their first byte', async (t) => {
  const { clock, ledger, board: b } = board()
  // 64 KiB/s: one piece a second; horizon 2 s → pieces 0, 1, 2 (due at 0, 1000, 2000)
  const reader = b.reader(0, 100 * PIECE, { bitrate: PIECE })
  t.same(deadlines(ledger), [[0, 0], [1, 1000], [2, 2000]])
  clock.advance(1000) // the refresh: time brings piece 3 inside the horizon
  t.same(deadlines(ledger), [[0, 0], [1, 1000], [2, 2000], [3, 3000]])
  ledger.markWritten(0)
  t.equal(ledger.deadline(0), Infinity, 'a written piece loses its deadline')
  reader.progress(PIECE + 100, false) // ahead of schedule (due at 1001 ms, it is 1000)
  t.same(deadlines(ledger).map(([i]) => i), [1, 2, 3], 'from the reader\'s piece on')
  t.equal(ledger.deadline(1), 1000 + 100 * 1000 / PIECE, 'the first piece: due when the reader\'s byte is')
  reader.release()
  t.same(deadlines(ledger), [], 'released: every deadline cleared')
  t.equal(clock.pending, 0, 'no timer left with no reader')
})

t.test('a startup delay: nothing is urgent until the horizon reaches the first byte', async (t) => {
  const { clock, ledger, board: b } = board({ minPieces: 0 })
  b.reader(10 * PIECE, 20 * PIECE, { bitrate: PIECE, startupDelay: 5000 })
  t.same(deadlines(ledger), [], 'playback in 5 s, horizon 2 s')
  clock.advance(3000)
  t.same(deadlines(ledger), [[10, 5000]], 'at 3 s the first piece is due within the horizon')
})

t.test('without a bitrate: initialRate first, then the consumption measured', async (t) => {
  const { clock, ledger, board: b } = board({ initialRate: PIECE, minRateSample: 1000, horizon: 10_000, maxPieces: 50 })
  const reader = b.reader(0, 100 * PIECE)
  t.equal(reader.rate, PIECE, 'initialRate')
  for (let k = 1; k <= 4; k++) { clock.advance(500); reader.progress(k * 2 * PIECE, false) } // 4 piece/s for 2 s
  t.equal(reader.rate, 4 * PIECE, 'measured: 4 pieces a second')
  // on schedule: deadlines 250 ms apart from the reader's position
  const d = deadlines(ledger)
  t.equal(d[0]![0], 8)
  t.equal(d[1]![1] - d[0]![1], 250)
  t.equal(d.length, 41, 'due within 10 s (both ends) at 4 pieces/s')
})

t.test('several readers: a piece gets the earliest deadline, and keeps one while any reader wants it', async (t) => {
  const { ledger, board: b } = board()
  const early = b.reader(0, 100 * PIECE, { bitrate: PIECE }) // piece 1 due at 1000
  const late = b.reader(PIECE, 100 * PIECE, { bitrate: PIECE, startupDelay: 500 }) // piece 1 due at 500
  t.equal(ledger.deadline(1), 500, 'the earliest wins')
  t.equal(ledger.deadline(0), 0)
  late.release()
  t.equal(ledger.deadline(1), 1000, 'back to the other reader\'s')
  early.release()
  t.equal(ledger.deadline(1), Infinity)
  t.equal(b.readers, 0)
})

t.test('a stalled reader pushes its schedule back; close() releases everything', async (t) => {
  const { clock, ledger, board: b } = board()
  const reader = b.reader(0, 100 * PIECE, { bitrate: PIECE })
  reader.progress(0, true) // waits for piece 0
  clock.advance(3000)
  t.equal(ledger.deadline(0), 0, 'while it waits the deadline stands (the piece is late)')
  ledger.markWritten(0)
  reader.progress(PIECE, false) // at 3 s it gets piece 0 and moves to piece 1 (due at 1 s: behind)
  t.equal(ledger.deadline(1), 3000, 'the schedule restarts from here')
  t.equal(ledger.deadline(2), 4000)
  b.close()
  t.same(deadlines(ledger), [])
  t.equal(clock.pending, 0)
  const after = b.reader(0, PIECE)
  after.progress(10, false)
  t.same(deadlines(ledger), [], 'a closed board sets nothing')
})
