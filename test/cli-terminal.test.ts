/**
 * The CLI in a real pseudo-terminal: tmux (on a private socket, killed at the end) runs the built CLI in panes
 * 40, 80 and 160 columns wide, downloading from a libtorrent seeder on loopback (slowed by --download-limit so
 * the display is live when the screenshot is taken), and seeding; the screen is captured (capture-pane) and
 * checked: the fields the width has room for, no number cut (every token with a digit matches a whole-number
 * pattern), no line as wide as the pane (the display keeps to columns - 1), and after Ctrl-C no stale line.
 */
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ZENTORRENT, requireBuiltCli, singleFileTorrent, startLibtorrentSeeder } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'

const WIDTHS = [40, 80, 160] as const
const HEIGHT = 12
const WAIT_MS = 20_000

t.before(requireBuiltCli)

/** tmux on its own socket and config; every call bounded. */
function tmux (socket: string, conf: string, ...args: string[]): string {
  const result = spawnSync('tmux', ['-u', '-L', socket, '-f', conf, ...args], { encoding: 'utf8', timeout: 10_000 })
  if (result.error !== undefined) throw new Error(`tmux is not installed (apt-get install tmux): ${result.error.message}`)
  if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`)
  return result.stdout
}

function quote (s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** The pane's lines (trailing blanks trimmed, empty lines at the end dropped). */
function screen (socket: string, conf: string, target: string): string[] {
  const lines = tmux(socket, conf, 'capture-pane', '-p', '-t', target).split('\n').map((l) => l.trimEnd())
  while (lines.length > 0 && lines.at(-1) === '') lines.pop()
  return lines
}

async function waitFor (what: string, check: () => string[] | null): Promise<string[]> {
  const deadline = Date.now() + WAIT_MS
  let last: unknown = null
  while (Date.now() < deadline) {
    try {
      const lines = check()
      if (lines !== null) return lines
    } catch (err) { last = err }
    await sleep(200)
  }
  throw new Error(`${what} not seen within ${WAIT_MS} ms${last !== null ? ` (last: ${String(last)})` : ''}`)
}

const SIZE = '\\d+(?:\\.\\d)?'
const UNIT = '(?:B|KiB|MiB|GiB|TiB)'
/** A token of the status line that holds a digit must be one of these, whole. */
const WHOLE_TOKENS = [
  new RegExp(`^${SIZE}%$`), // percent
  new RegExp(`^[↓↑]?${SIZE}$`), // a size's number (its unit is the next token)
  new RegExp(`^${UNIT}\\/${SIZE}$`), // have/size: "MiB/19.1"
  /^\d\d:\d\d$|^\d+:\d\d:\d\d$/, // eta
  /^\d+\/\d+$/, // peers, pieces
  /^\d+\.\d\d$/, // ratio
  /^\d+[,)]$/, // a count in the per-source list: "(tracker 2, pex 1)"
  new RegExp(`^\\(${SIZE}%\\)$`), // the summary's "(3.8%)"
  /^\d+\.\d\d\)$/ // the summary's "(ratio 0.00)"
]

/** Checks every status-like line: no cut number, a unit after each size, nothing as wide as the pane. */
function checkLines (t: Test, lines: readonly string[], width: number, label: string): void {
  for (const line of lines) {
    t.ok([...line].length < width, `${label}: "${line}" is narrower than ${width} columns`)
    if (/^(done {2}|peers )\|/.test(line)) {
      t.match(line, /^(done {2}\|[·░▒▓█]+\||peers \|\d+\|)$/, `${label}: a whole map row`)
      continue
    }
    const tokens = line.split(' ').filter((tok) => tok !== '')
    tokens.forEach((token, i) => {
      if (!/\d/.test(token) || token.startsWith('[')) return
      if (!WHOLE_TOKENS.some((re) => re.test(token))) t.fail(`${label}: "${token}" in "${line}" is not a whole number`)
      if (new RegExp(`^[↓↑]?${SIZE}$`).test(token) && !/\.\d\d$/.test(token)) {
        const next = tokens[i + 1]
        const ok = next !== undefined && (new RegExp(`^${UNIT}(\\/s|\\/${SIZE})?$`).test(next) || /^(s|min|h)$/.test(next))
        if (!ok && !/^\d+$/.test(token)) t.fail(`${label}: "${token}" in "${line}" lacks its unit (next: ${String(next)})`)
      }
    })
  }
}

t.test('download, seeding and Ctrl-C in panes 40, 80 and 160 columns wide', { timeout: 120_000 }, async (t) => {
  const work = await tempDir(t, 'terminal')
  const socket = `zentorrent-test-${process.pid}`
  const conf = join(work, 'tmux.conf')
  await writeFile(conf, 'set -g status off\n')
  t.teardown(() => { spawnSync('tmux', ['-L', socket, 'kill-server'], { timeout: 5_000 }) })

  const { dir, torrentPath } = await singleFileTorrent(t, 'terminal-seed', 24 * 1024 * 1024, 52)
  const seeder = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(seeder.stop)
  const start = (name: string, width: number, args: string[]): void => {
    // The pane's shell waits on after the CLI ends, so its last screen can be captured, and says how it ended;
    // its INT trap keeps Ctrl-C from ending the shell too (the CLI, in the same process group, still gets it).
    // loopback only: no DHT (with the guard set it would only say, on a line of its own, that it refused the routers)
    const command = [process.execPath, ZENTORRENT, ...args, '--no-dht'].map(quote).join(' ')
    tmux(socket, conf, 'new-session', '-d', '-s', name, '-x', String(width), '-y', String(HEIGHT),
      `trap : INT; ${command}; echo "exited $?"; exec sleep 600`)
  }

  // download: three panes at once, each limited to 1 MiB/s (24 s for the whole file: live while we look)
  for (const width of WIDTHS) {
    start(`d${width}`, width, [torrentPath, '-o', join(work, `out-${width}`), '--peer', `127.0.0.1:${seeder.port}`,
      '--no-trackers', '-p', '0', '--bind', '127.0.0.1', '--download-limit', '1M', '--availability'])
  }
  for (const width of WIDTHS) {
    const lines = await waitFor(`a live status at ${width} columns`, () => {
      const s = screen(socket, conf, `d${width}`)
      return s.length >= 3 && /[1-9]\d*\.\d% /.test(s[0]!) && /↓[1-9]/.test(s[0]!) && /peers \|[1-9]/.test(s[2] ?? '') ? s : null
    })
    t.comment(`${width} columns:\n${lines.join('\n')}`)
    t.equal(lines.length, 3, `${width}: the status line and the two map rows, nothing else`)
    checkLines(t, lines, width, `download at ${width}`)
    const status = lines[0]!
    t.match(status, /\d+\.\d% /, `${width}: the percentage`)
    t.match(status, /↓\d/, `${width}: the download rate`)
    t.match(lines[1]!, /^done {2}\|[·░▒▓█]+\|$/, `${width}: the map's done row`)
    t.equal([...lines[1]!].length, width - 1, `${width}: the map as wide as the room`)
    if (width === 160) {
      t.match(status, new RegExp(`^data\\.bin \\[#*-*\\] ${SIZE}% ${SIZE} ${UNIT}\\/24\\.0 MiB ↓${SIZE} ${UNIT}\\/s ↑${SIZE} ${UNIT}\\/s eta (\\d\\d:\\d\\d|--:--) peers \\d+\\/\\d+( \\([a-z]+ \\d+(, [a-z]+ \\d+)*\\))? pieces \\d+\\/1536$`),
        '160: every field, the bar at its widest room')
    } else if (width === 80) {
      t.match(status, new RegExp(`\\/24\\.0 MiB ↓.* (\\d\\d:\\d\\d|--:--) peers \\d+\\/\\d+$`), '80: bytes, rates, the eta, peers')
      t.notMatch(status, /pieces/, '80: the piece count is the first to go')
    } else {
      t.notMatch(status, /pieces|\/24\.0 MiB/, '40: no piece count, no byte counts')
      t.match(status, /↓/, '40: the download rate stays')
    }
  }

  // Ctrl-C: the display is cleared, the final line alone remains, exit status 130
  for (const width of WIDTHS) {
    tmux(socket, conf, 'send-keys', '-t', `d${width}`, 'C-c')
  }
  for (const width of WIDTHS) {
    const lines = await waitFor(`the end at ${width} columns`, () => {
      const s = screen(socket, conf, `d${width}`)
      return s.some((l) => l.startsWith('exited ')) ? s : null
    })
    t.comment(`${width} columns after Ctrl-C:\n${lines.join('\n')}`)
    t.equal(lines.length, 2, `${width}: only the final line and the exit status; no stale status, map or ^C`)
    t.match(lines[0], /^interrupted\b/, `${width}: the summary says interrupted`)
    if (width >= 80) t.match(lines[0], /run the same command again to resume$/, `${width}: and how to resume`)
    if (width >= 160) t.match(lines[0], /^interrupted: data\.bin .* in [\d.]+ (s|min) /, `${width}: with the name and the elapsed time`)
    t.equal(lines[1], 'exited 130')
    checkLines(t, lines, width, `after Ctrl-C at ${width}`)
  }

  // seeding: the data the libtorrent seeder serves, seeded by zentorrent
  for (const width of WIDTHS) start(`s${width}`, width, ['seed', torrentPath, dir, '-p', '0', '--bind', '127.0.0.1', '--no-trackers'])
  for (const width of WIDTHS) {
    const lines = await waitFor(`seeding at ${width} columns`, () => {
      const s = screen(socket, conf, `s${width}`)
      return s.length > 0 && /^seeding .*ratio/.test(s[0]!) ? s : null
    })
    t.comment(`${width} columns, seeding:\n${lines.join('\n')}`)
    t.equal(lines.length, 1, `${width}: one line`)
    checkLines(t, lines, width, `seeding at ${width}`)
    t.match(lines[0]!, /uploaded 0 B ratio 0\.00/, `${width}: the upload total and the ratio`)
    if (width >= 80) t.match(lines[0]!, /^seeding (data\.bin )?↑0 B\/s uploaded 0 B ratio 0\.00 peers 0\/0$/, `${width}: every field`)
    tmux(socket, conf, 'send-keys', '-t', `s${width}`, 'C-c')
  }
  for (const width of WIDTHS) {
    const lines = await waitFor(`the seed's end at ${width} columns`, () => {
      const s = screen(socket, conf, `s${width}`)
      return s.some((l) => l.startsWith('exited ')) ? s : null
    })
    t.equal(lines.length, 2, `${width}: seeding stopped, no stale line`)
    t.match(lines[0], /^interrupted\b/)
    t.equal(lines[1], 'exited 130')
  }
})

t.test('create shows its hashing on a terminal and clears it when done', { timeout: 60_000 }, async (t) => {
  const work = await tempDir(t, 'terminal-create')
  const socket = `zentorrent-create-${process.pid}`
  const conf = join(work, 'tmux.conf')
  await writeFile(conf, 'set -g status off\n')
  t.teardown(() => { spawnSync('tmux', ['-L', socket, 'kill-server'], { timeout: 5_000 }) })
  const big = join(work, 'big.bin')
  await writeFile(big, '')
  await truncate(big, 512 * 1024 * 1024) // sparse: hashing speed without a disk's worth of data
  const raw = join(work, 'raw')
  // in the file's directory, without -o: the output is named after the input
  const command = `cd ${quote(work)} && ${[process.execPath, ZENTORRENT, 'create', 'big.bin'].map(quote).join(' ')}`
  // a pause first, so the recording (pipe-pane) is on before the CLI writes
  tmux(socket, conf, 'new-session', '-d', '-s', 'c', '-x', '80', '-y', String(HEIGHT), `sleep 0.5; ${command}; echo "exited $?"; exec sleep 600`)
  tmux(socket, conf, 'pipe-pane', '-t', 'c', '-o', `cat >> ${quote(raw)}`)
  const lines = await waitFor('create to finish', () => {
    const s = screen(socket, conf, 'c')
    return s.some((l) => l.startsWith('exited ')) ? s : null
  })
  t.comment(lines.join('\n'))
  t.equal(lines.length, 3)
  t.match(lines[0]!, /^info hash: [0-9a-f]{40}$/)
  t.equal(lines[1], 'big.bin.torrent: big.bin, 1 file, 512 MiB in 1024 pieces of 512 KiB')
  t.equal(lines[2], 'exited 0', 'no stale hashing line left')
  const drawn = (await readFile(raw, 'utf8')).split('\r\x1b[0J').filter((s) => s.startsWith('hashing ')).map((s) => s.replace(/\r$/, ''))
  t.ok(drawn.length >= 2, `the hashing line was drawn as it went (${drawn.length} times)`)
  for (const line of drawn) {
    t.match(line, /^hashing big\.bin \[[#-]+\] \d+\.\d% [\d.]+ (B|KiB|MiB)\/512\.0 MiB [\d.]+ (B|KiB|MiB|GiB)\/s eta (\d\d:\d\d|--:--)$/, line)
    checkLines(t, [line], 80, 'hashing')
  }
})
