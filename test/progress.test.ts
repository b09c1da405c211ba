import t from 'tap'
import {
  availabilityMap, availabilityLines, factsFromStats, fitWords, formatBytes, formatDuration, formatElapsed, formatPercent,
  layoutLine, peerFlags, peerTable, statusLine, stoppedEvent, summaryLine, TerminalProgress, DOWNLOAD_DROP_ORDER,
  RESUME_HINT, type DisplayFacts, type PeerFacts
} from '../lib/cli/progress.js'
import type { TorrentStats } from '../lib/torrent.js'

const MiB = 1024 * 1024

function stats (over: Partial<TorrentStats> = {}): TorrentStats {
  return {
    pieceCount: 100,
    piecesHave: 25,
    piecesWanted: 100,
    bytesHave: 25 * MiB,
    bytesWanted: 100 * MiB,
    downloaded: 26 * MiB,
    uploaded: 3 * MiB,
    wasted: 0,
    downloadRate: 1.5 * MiB,
    uploadRate: 512,
    peersConnected: 7,
    peersKnown: 30,
    endgame: false,
    done: false,
    ...over
  }
}

function facts (over: Partial<DisplayFacts> = {}): DisplayFacts {
  return factsFromStats(stats({ endgame: true }), {
    name: 'ubuntu-24.04.iso',
    peers: { connected: 7, known: 30, bySource: { tracker: 5, incoming: 2 } },
    ...over
  })
}

/** Number-like tokens of a line: digits with their separators and units' neighbours. */
function numbers (line: string): string[] {
  return line.match(/[0-9][0-9.:/%,]*/g) ?? []
}

/** Availability written one digit a piece, have as '*' where we hold the piece. */
function map (availability: string, have: string, cells: number): { done: string, peers: string } {
  const values = Uint16Array.from([...availability].map(Number))
  return availabilityMap(values, (i) => have[i] === '*', cells)
}

t.test('formatBytes, formatDuration, formatElapsed, formatPercent', async (t) => {
  const bytes: Array<[number, string]> = [
    [0, '0 B'], [1023, '1023 B'], [1024, '1.0 KiB'], [1536, '1.5 KiB'], [MiB - 1, '1024.0 KiB'],
    [MiB, '1.0 MiB'], [2.25 * 1024 * MiB, '2.3 GiB'], [1024 ** 4, '1.0 TiB'], [1024 ** 5, '1024.0 TiB']
  ]
  for (const [n, s] of bytes) t.equal(formatBytes(n), s, `${n}`)
  const durations: Array<[number, string]> = [
    [0, '00:00'], [59.4, '00:59'], [59.5, '01:00'], [61, '01:01'], [3599, '59:59'], [3600, '1:00:00'],
    [36_061, '10:01:01'], [Infinity, '--:--'], [NaN, '--:--'], [-1, '--:--']
  ]
  for (const [n, s] of durations) t.equal(formatDuration(n), s, `${n}`)
  const elapsed: Array<[number, string]> = [[4.24, '4.2 s'], [59.94, '59.9 s'], [185, '3 min 05 s'], [7620, '2 h 07 min'], [NaN, '?']]
  for (const [n, s] of elapsed) t.equal(formatElapsed(n), s, `${n}`)
  t.equal(formatPercent(99.96), '99.9%', 'rounded down: not 100 % before it is')
  t.equal(formatPercent(100), '100.0%')
  t.equal(formatPercent(0), '0.0%')
})

t.test('the download line: name, bar, percent, bytes, rates, eta, peers with sources, pieces, endgame', async (t) => {
  const line = statusLine(facts(), 200)
  t.equal(line, `ubuntu-24.04.iso [${'#'.repeat(10)}${'-'.repeat(30)}] 25.0% 25.0 MiB/100.0 MiB ↓1.5 MiB/s ↑512 B/s eta 00:50` +
    ' peers 7/30 (tracker 5, incoming 2) pieces 25/100 endgame')
  t.match(statusLine(facts({ eta: null }), 200), / eta --:-- /, 'unknown eta')
  t.match(statusLine(facts({ size: 0, have: 0 }), 200), / 100\.0% /, 'nothing wanted counts as complete')
  t.match(statusLine(stats(), 200), /^\[#+-+\]  ?25\.0% 25\.0 MiB\/100\.0 MiB .* peers 7\/30 pieces 25\/100$/, 'TorrentStats are converted')
})

t.test('narrow terminals: fields dropped whole, in the stated order, the bar shrinking first; never wider than the width', async (t) => {
  const full = statusLine(facts(), 1000)
  const fullTokens = new Set([...full.split(' '), '00:50'])
  let previous: string[] | null = null
  const gone: string[] = []
  const present = (line: string): Record<string, boolean> => ({
    name: line.includes('ubuntu-24.04.iso'),
    endgame: line.includes('endgame'),
    pieces: line.includes('pieces 25/100'),
    'eta label': line.includes('eta 00:50'),
    'peers detail': line.includes('(tracker 5'),
    up: line.includes('↑512 B/s'),
    bytes: line.includes('25.0 MiB/100.0 MiB'),
    bar: line.includes('['),
    peers: line.includes('peers 7/30'),
    eta: line.includes('00:50'),
    down: line.includes('↓1.5 MiB/s'),
    percent: line.includes('25.0%')
  })
  for (let width = 200; width >= 1; width--) {
    const line = statusLine(facts(), width)
    t.ok([...line].length <= width, `width ${width}: ${line.length} columns`)
    for (const token of line.split(' ').filter((tok) => tok !== '' && !tok.startsWith('['))) {
      if (!fullTokens.has(token)) t.fail(`width ${width}: "${token}" is not a whole field of the full line`)
    }
    for (const n of numbers(line)) if (!numbers(full).includes(n) && n !== '00:50') t.fail(`width ${width}: number ${n} cut`)
    const fields = present(line)
    const names = Object.keys(fields).filter((k) => fields[k])
    if (previous !== null) {
      for (const name of previous) if (!names.includes(name) && !gone.includes(name)) gone.push(name)
      for (const name of names) t.ok(previous.includes(name), `width ${width}: ${name} does not come back when narrower`)
    }
    previous = names
  }
  t.same(gone, ['name', 'endgame', 'pieces', 'eta label', 'peers detail', 'up', 'bytes', 'bar', 'peers', 'eta', 'down', 'percent'],
    'dropped in DOWNLOAD_DROP_ORDER, then the percent only when nothing fits')
  t.equal(DOWNLOAD_DROP_ORDER[0], 'name')
  const everything = full.replace(/\[[#-]+\]/, `[${'#'.repeat(2)}${'-'.repeat(8)}]`)
  t.equal(statusLine(facts(), [...everything].length), everything, 'with the bar at its least, every field still fits')
  t.ok(statusLine(facts(), [...everything].length - 1).length < everything.length - 1 || !statusLine(facts(), [...everything].length - 1).includes('ubuntu'),
    'one column less and the first field is dropped')
  t.match(statusLine(facts(), 39), /^\[#+-+\] 25\.0% ↓1\.5 MiB\/s 00:50 peers 7\/30$|^25\.0%/, 'at 40 columns: bar, percent, rate, eta, peers')
})

t.test('the bar keeps its width while the numbers change length', async (t) => {
  const barOf = (line: string): number => /\[([#-]+)\]/.exec(line)?.[1]?.length ?? -1
  // (the same fields kept in each case: a field dropped at one width and kept at another changes the room)
  for (const width of [70, 150, 160]) {
    const widths = new Set([9, 9.9 * 1024, 1000 * 1024, 2.5 * MiB].flatMap((rate) =>
      [0, 3.3 * MiB, 99 * MiB].map((have) => barOf(statusLine(facts({ downloadRate: rate, uploadRate: rate, have, eta: 50, name: '' }), width)))))
    t.equal(widths.size, 1, `at ${width} columns one bar width: ${[...widths].join(', ')}`)
  }
})

t.test('seeding shows the upload, its total and the ratio; stalled says when peers are asked for again', async (t) => {
  const seeding = facts({ state: 'seeding', uploaded: 30 * MiB, ratio: 0.3, uploadRate: 2 * MiB })
  t.equal(statusLine(seeding, 200), 'seeding ubuntu-24.04.iso ↑2.0 MiB/s uploaded 30.0 MiB ratio 0.30 peers 7/30 (tracker 5, incoming 2)')
  t.equal(statusLine(seeding, 40), 'seeding uploaded 30.0 MiB ratio 0.30', 'narrow: the name, the peers, then the rate go first')
  const stalled = facts({ state: 'stalled', retryIn: 24.2, asking: ['trackers', 'DHT'], peers: { connected: 0, known: 0 } })
  t.match(statusLine(stalled, 200), /25\.0% .* no peers yet — asking trackers\/DHT again in 25 s peers 0\/0 pieces 25\/100$/)
  t.match(statusLine(stalled, 50), /no peers yet/, 'the message stays, shortened')
  t.match(statusLine(facts({ state: 'stalled', retryIn: null }), 200), /no peers yet — asking trackers peers/, 'default source, unknown retry')
  const checking = facts({ state: 'checking', checking: { checked: 40, total: 100, valid: 38 } })
  t.match(statusLine(checking, 200), /^checking ubuntu-24\.04\.iso \[#+-+\] 40\.0% 40\/100 pieces 38 valid$/)
  t.equal(statusLine(facts({ state: 'metadata', name: '', size: null }), 200), 'fetching metadata peers 7/30 (tracker 5, incoming 2)')
  t.equal(statusLine(facts({ state: 'metadata' }), 20), 'fetching metadata')
  for (const f of [seeding, stalled, checking]) {
    for (let width = 1; width < 140; width++) t.ok([...statusLine(f, width)].length <= width, `${f.state} at ${width}`)
  }
})

t.test('availabilityMap: a shade for the share of the group done, a digit for its mean availability', async (t) => {
  t.same(map('0123456789', '', 10), { done: '··········', peers: '0123456789' }, 'one cell a piece; 9 means 9 or more')
  t.same(map('0123', '* * ', 4), { done: '█·█·', peers: '0123' })
  t.same(map('0123', '* * ', 2), { done: '▒▒', peers: '13' }, 'half done each; mean 0.5 shows as 1 (someone has something), 2.5 as 3')
  t.same(map('00000000', '*       ', 2), { done: '░·', peers: '00' }, 'under a third')
  t.same(map('999999', '**    ', 2), { done: '▓·', peers: '99' }, 'two of three')
  t.same(map('1234', '', 10).done.length, 4, 'more cells than pieces: one cell a piece')
  t.same(map('123', '', 0).peers, '2', 'at least one cell')
  t.same(map('9999990', '', 2), { done: '··', peers: '97' }, 'an uneven split keeps every piece in some cell')
})

t.test('availabilityMap at 85 % done with the missing pieces spread: every cell mostly done (was 21 % solid)', async (t) => {
  const n = 1000
  const have = (i: number): boolean => i % 20 >= 3 // 85 %
  const rows = availabilityMap(new Uint16Array(n).fill(2), have, 48)
  t.equal(rows.done.length, 48)
  t.ok([...rows.done].every((c) => c === '▓'), `every cell ▓: ${rows.done}`)
  t.equal(rows.peers, '2'.repeat(48))
})

t.test('availabilityLines: labelled rows within the width; none when too narrow', async (t) => {
  const values = new Uint16Array(1000).fill(3)
  const lines = availabilityLines(values, () => false, 39)
  t.same(lines, [`done  |${'·'.repeat(31)}|`, `peers |${'3'.repeat(31)}|`])
  t.same(availabilityLines(values, () => false, 29), [])
  t.same(availabilityLines(new Uint16Array(0), () => false, 80), [])
})

function peer (over: Partial<PeerFacts> = {}): PeerFacts {
  return {
    address: '127.0.0.1:6881',
    client: 'libtorrent/2.0.8',
    amInterested: true,
    amChoking: true,
    peerInterested: false,
    peerChoking: false,
    incoming: false,
    downloadRate: MiB,
    uploadRate: 0,
    progress: 1,
    ...over
  }
}

t.test('peerFlags: qBittorrent\'s letters', async (t) => {
  t.equal(peerFlags(peer()), 'D', 'downloading')
  t.equal(peerFlags(peer({ peerChoking: true })), 'd', 'we want, it chokes')
  t.equal(peerFlags(peer({ amInterested: false })), 'K', 'it unchokes, we want nothing')
  t.equal(peerFlags(peer({ amInterested: false, peerChoking: true, peerInterested: true, amChoking: false })), 'U')
  t.equal(peerFlags(peer({ amInterested: false, peerChoking: true, peerInterested: true })), 'u')
  t.equal(peerFlags(peer({ amInterested: false, peerChoking: true, amChoking: false })), '?')
  t.equal(peerFlags(peer({ incoming: true, encrypted: true, source: 'dht' })), 'DIEH')
  t.equal(peerFlags(peer({ source: 'pex' })), 'DX')
  t.equal(peerFlags(peer({ source: 'lsd' })), 'DL')
})

t.test('peerTable: fastest first, aligned columns, columns dropped to fit, the rest counted', async (t) => {
  const peers = [
    peer({ address: '127.0.0.1:1', downloadRate: 10 * 1024, progress: 0.5 }),
    peer({ address: '[::1]:2', client: 'aria2 1.37.0', downloadRate: 2 * MiB, incoming: true }),
    peer({ address: '127.0.0.1:3', client: '', downloadRate: 0, uploadRate: 5000, peerInterested: true, amChoking: false })
  ]
  const table = peerTable(peers, 120)
  t.same(table, [
    'peer         client            flags           ↓          ↑   has',
    '[::1]:2      aria2 1.37.0      DI      2.0 MiB/s      0 B/s  100%',
    '127.0.0.1:1  libtorrent/2.0.8  D      10.0 KiB/s      0 B/s   50%',
    '127.0.0.1:3  ?                 DU          0 B/s  4.9 KiB/s  100%'
  ], 'fastest first, rates and shares right-aligned')
  for (let width = 1; width <= 120; width++) {
    for (const row of peerTable(peers, width)) t.ok([...row].length <= width, `width ${width}: ${row}`)
  }
  t.notMatch(peerTable(peers, 45).join('\n'), /client/, 'narrow: the client column goes first')
  t.match(peerTable(peers, 45)[0]!, /^peer/)
  t.same(peerTable(peers, 12), ['peer', '[::1]:2', '127.0.0.1:1', '127.0.0.1:3'], 'narrowest table: addresses only')
  t.same(peerTable(peers, 8), ['3 peers'], 'too narrow for the table: the count')
  t.same(peerTable(peers, 5), [], 'too narrow for anything: nothing, never a cut line')
  t.same(peerTable([], 80), [])
  const many = Array.from({ length: 14 }, (_, i) => peer({ address: `127.0.0.1:${1000 + i}`, downloadRate: i }))
  const rows = peerTable(many, 100, 10)
  t.equal(rows.length, 12, 'header, 10 rows, one count line')
  t.equal(rows.at(-1), '… and 4 more')
  t.match(rows[1]!, /^127\.0\.0\.1:1013/)
})

t.test('summaryLine: elapsed, average rate, uploaded, and how to resume when incomplete', async (t) => {
  const f = facts({ downloaded: 30 * MiB, uploaded: 3 * MiB, ratio: 0.03 })
  t.equal(summaryLine(f, { reason: 'interrupted', elapsed: 65 }),
    `interrupted: ubuntu-24.04.iso 25.0 MiB of 100.0 MiB (25.0%) in 1 min 05 s average ↓472.6 KiB/s uploaded 3.0 MiB (ratio 0.03) — ${RESUME_HINT}`)
  const done = summaryLine(facts({ have: 100 * MiB, downloaded: 100 * MiB }), { reason: 'done', elapsed: 10 })
  t.match(done, /^done: ubuntu-24\.04\.iso 100\.0 MiB of 100\.0 MiB \(100\.0%\) in 10\.0 s average ↓10\.0 MiB\/s uploaded/)
  t.notMatch(done, /resume/, 'nothing to resume')
  for (let width = 10; width < 160; width++) {
    const line = summaryLine(f, { reason: 'interrupted', elapsed: 65 }, width)
    t.ok([...line].length <= width, `width ${width}`)
  }
  t.match(summaryLine(f, { reason: 'interrupted', elapsed: 65 }, 100), /^interrupted 25\.0 MiB of 100\.0 MiB \(25\.0%\) in 1 min 05 s .*resume$/,
    'narrower: the name, the ratio and the average go first')
  t.equal(summaryLine(f, { reason: 'interrupted', elapsed: 65 }, 60), `interrupted 25.0% — ${RESUME_HINT}`, 'the hint stays')
})

t.test('stoppedEvent: the same facts for --json', async (t) => {
  const e = stoppedEvent(facts({ downloaded: 30 * MiB }), { reason: 'interrupted', elapsed: 10 })
  t.same(e, {
    event: 'stopped', reason: 'interrupted', name: 'ubuntu-24.04.iso', elapsed: 10, size: 100 * MiB, have: 25 * MiB, percent: 25,
    downloaded: 30 * MiB, uploaded: 3 * MiB, ratio: 3 / 100, averageDownloadRate: 3 * MiB, complete: false, resume: RESUME_HINT
  })
  t.notOk('resume' in stoppedEvent(facts({ have: 100 * MiB }), { reason: 'done', elapsed: 1 }))
})

t.test('layoutLine and fitWords never cut a word', async (t) => {
  t.equal(layoutLine([{ key: 'a', variants: ['aaaa'] }, { key: 'b', variants: ['bbbb'] }], [], 6), 'aaaa', 'fields not in the order: as many as fit, whole')
  t.equal(fitWords('tracker http://x:1/a: connection refused', 30), 'tracker http://x:1/a:…')
  t.equal(fitWords('short', 30), 'short')
  t.equal(fitWords('waytoolongword', 5), '')
})

class FakeTerminal {
  readonly writes: string[] = []
  constructor (readonly columns?: number) {}
  write (s: string): boolean { this.writes.push(s); return true }
  get stream (): NodeJS.WriteStream { return this as unknown as NodeJS.WriteStream }
}

t.test('TerminalProgress: clears, draws, parks the cursor at the first line; finish clears every line', async (t) => {
  const term = new FakeTerminal(81)
  const progress = new TerminalProgress({ stream: term.stream })
  progress.finish()
  t.same(term.writes, [''], 'finish before any draw writes nothing')
  progress.draw(stats())
  t.equal(term.writes[1], `\r\x1b[0J${statusLine(stats(), 80)}\r`, 'clear below, the status at the width - 1, cursor back to column 0')
  progress.draw(stats(), 'checking existing data: 3/10 pieces, 2 valid')
  t.equal(term.writes[2], '\r\x1b[0Jchecking existing data: 3/10 pieces, 2 valid\r', 'a note replaces the status')
  progress.finish('done')
  t.equal(term.writes[3], '\r\x1b[0Jdone\n')
})

t.test('TerminalProgress: warnings, the map and the peers table below the status; cursor parked on the first line', async (t) => {
  const term = new FakeTerminal(61)
  let avail: { values: Uint16Array, have: (i: number) => boolean } | null = null
  const progress = new TerminalProgress({ stream: term.stream, availability: () => avail, peers: () => [peer()] })
  const f = facts({ warnings: ['old', 'tracker http://127.0.0.1:1/announce: connection refused', 'tracker udp://127.0.0.1:2: timed out'] })
  progress.draw(f)
  const lines = progress.lines(f)
  t.equal(lines.length, 5, 'status, two warnings (the newest), peers header and row')
  t.equal(lines[1], 'warning: tracker http://127.0.0.1:1/announce: connection…', 'cut by whole words to the width')
  t.equal(lines[2], 'warning: tracker udp://127.0.0.1:2: timed out')
  avail = { values: Uint16Array.from([0, 1, 2, 9]), have: (i) => i === 3 }
  progress.draw(f)
  const drawn = progress.lines(f)
  t.equal(drawn.length, 7)
  t.equal(drawn[3], 'done  |···█|')
  t.equal(drawn[4], 'peers |0129|')
  t.equal(term.writes[1], `\r\x1b[0J${drawn.join('\n')}\x1b[6A\r`, 'up six lines to the first one')
  for (const line of drawn) t.ok([...line].length <= 60)
  progress.finish('bye')
  t.equal(term.writes[2], '\r\x1b[0Jbye\n', 'from the parked cursor, one clear removes all seven lines')
})
