import t from 'tap'
import { availabilityMap, formatBytes, formatDuration, statusLine, TerminalProgress } from '../lib/cli/progress.js'
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

/** Availability written one digit a piece ('9' stands for 9 or more), have as '*' where we hold the piece. */
function map (availability: string, have: string, cells: number): string {
  const values = Uint16Array.from([...availability].map(Number))
  return availabilityMap(values, (i) => have[i] === '*', cells)
}

t.test('formatBytes: binary units, one decimal above bytes', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0 B'], [1023, '1023 B'], [1024, '1.0 KiB'], [1536, '1.5 KiB'], [MiB - 1, '1024.0 KiB'],
    [MiB, '1.0 MiB'], [2.25 * 1024 * MiB, '2.3 GiB'], [1024 ** 4, '1.0 TiB'], [1024 ** 5, '1024.0 TiB']
  ]
  for (const [n, s] of cases) t.equal(formatBytes(n), s, `${n}`)
})

t.test('formatDuration: mm:ss, h:mm:ss from an hour, --:-- when unknown', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '00:00'], [59.4, '00:59'], [59.5, '01:00'], [61, '01:01'], [3599, '59:59'], [3600, '1:00:00'],
    [36_061, '10:01:01'], [Infinity, '--:--'], [NaN, '--:--'], [-1, '--:--']
  ]
  for (const [n, s] of cases) t.equal(formatDuration(n), s, `${n}`)
})

t.test('statusLine: percent, bytes, rates, eta, peers, pieces', async (t) => {
  const line = statusLine(stats(), 200)
  t.equal(line, `[${'#'.repeat(8)}${'-'.repeat(22)}]  25.0% 25.0 MiB/100.0 MiB ↓1.5 MiB/s ↑512 B/s eta 00:50 peers 7/30 pieces 25/100`)
  t.match(statusLine(stats({ endgame: true }), 200), / endgame$/, 'endgame shown')
  const done = statusLine(stats({ done: true, endgame: true, bytesHave: 100 * MiB, piecesHave: 100, downloadRate: 0 }), 200)
  t.match(done, /100\.0% .* eta 00:00 .* pieces 100\/100$/, 'done: 100%, eta 00:00, no endgame')
  t.match(statusLine(stats({ downloadRate: 0 }), 200), /eta --:--/, 'no rate: unknown eta')
  t.match(statusLine(stats({ bytesWanted: 0, bytesHave: 0 }), 200), /^\[#{30}\] 100\.0%/, 'nothing wanted counts as complete')
  t.match(statusLine(stats(), 100), /^\[#{3}-{7}\]/, 'a narrow terminal gets the shortest bar (10)')
  t.equal(statusLine(stats(), 60).length, 60, 'cut to the width')
})

t.test('availabilityMap: one character a piece, by the fewest peers holding it', async (t) => {
  t.equal(map('0123456789', '', 10), ' .:--====#', '0 space, 1 ., 2 :, 3-4 -, 5-8 =, more #')
  t.equal(map('0123', '* * ', 4), '█.█-', 'pieces we have are solid')
  t.equal(map('00000000', '********', 8), '████████')
})

t.test('availabilityMap: groups show their least available piece we lack', async (t) => {
  t.equal(map('99195599', '', 4), '#.=#', 'pairs: min of each')
  t.equal(map('09999999', '*       ', 4), '####', 'a piece we have does not count towards the minimum')
  t.equal(map('09999999', '**      ', 4), '█###', 'a group held entirely is solid')
  t.equal(map('1234', '', 10), '.:--', 'more cells than pieces: one cell a piece')
  t.equal(map('123', '', 0), '.', 'at least one cell')
  t.equal(map('9999990', '', 2).length, 2)
  t.equal(map('9999990', '', 2), '# ', 'an uneven split keeps every piece in some cell')
})

class FakeTerminal {
  readonly writes: string[] = []
  constructor (readonly columns?: number) {}
  write (s: string): boolean { this.writes.push(s); return true }
  get stream (): NodeJS.WriteStream { return this as unknown as NodeJS.WriteStream }
}

t.test('TerminalProgress: one line is redrawn in place', async (t) => {
  const term = new FakeTerminal(81)
  const progress = new TerminalProgress({ stream: term.stream })
  progress.draw(stats())
  progress.draw(stats({ piecesHave: 26 }))
  t.equal(term.writes.length, 2)
  t.equal(term.writes[0], `\r\x1b[2K${statusLine(stats(), 80)}`, 'carriage return, clear line, status at the width - 1')
  t.notMatch(term.writes[1]!, /\x1b\[\d+A/, 'no cursor-up for a single line')
  progress.draw(stats(), 'checking 40%')
  t.equal(term.writes[2], '\r\x1b[2Kchecking 40%', 'a note replaces the status')
  progress.finish('done')
  t.equal(term.writes[3], '\r\x1b[0Jdone\n')
})

t.test('TerminalProgress: with the availability map, two lines and the cursor moved up to redraw', async (t) => {
  const term = new FakeTerminal()
  let avail: { values: Uint16Array, have: (i: number) => boolean } | null = null
  const progress = new TerminalProgress({ stream: term.stream, availability: () => avail })
  progress.draw(stats())
  t.equal(term.writes[0]!.split('\n').length, 1, 'no map yet (availability() gave null)')
  avail = { values: Uint16Array.from([0, 1, 2, 9]), have: (i) => i === 3 }
  progress.draw(stats())
  t.equal(term.writes[1], `\r\x1b[2K${statusLine(stats(), 99)}\n\r\x1b[2Kavailability | .:█|`,
    'status then map, each line cleared; the previous draw was one line: no cursor-up')
  progress.draw(stats())
  t.ok(term.writes[2]!.startsWith('\x1b[1A\r\x1b[2K'), 'up one line before redrawing two')
  t.equal(term.writes[2]!.split('\n').length, 2)
  progress.finish('bye')
  t.same(term.writes.slice(3), ['\x1b[1A', '\r\x1b[0Jbye\n'], 'finish clears both lines')
  progress.draw(stats())
  t.notOk(term.writes[5]!.startsWith('\x1b['), 'after finish, drawing starts afresh')
})

t.test('TerminalProgress: the map is as wide as the terminal allows', async (t) => {
  const term = new FakeTerminal(41)
  const values = new Uint16Array(1000).fill(3)
  const progress = new TerminalProgress({ stream: term.stream, availability: () => ({ values, have: () => false }) })
  progress.draw(stats())
  const [status, mapLine] = term.writes[0]!.split('\n')
  t.equal(status, `\r\x1b[2K${statusLine(stats(), 40)}`)
  t.equal(mapLine, `\r\x1b[2Kavailability |${'-'.repeat(25)}|`, '40 columns - 15 for the label')
})
