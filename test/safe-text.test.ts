/**
 * safeText, and every command that prints text from a torrent, a tracker or a peer (issue 17, item 6): names,
 * comments, URLs, paths, tracker failures and warnings are shown with visible escapes, never raw; `--json` keeps
 * the exact strings.
 */
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatResult, run as announce } from '../lib/cli/announce.js'
import { TerminalProgress } from '../lib/cli/progress.js'
import { reportError } from '../lib/cli/report.js'
import { safeText } from '../lib/cli/safe-text.js'
import { ZentorrentError } from '../lib/errors.js'
import type { TorrentStats } from '../lib/torrent.js'
import { tempDir } from './helpers/temp.js'
import { buildTorrent, rawTorrent, infoFor, writeLayout, type Layout } from './helpers/torrent-fixtures.js'
import { bencoded, scriptedHttp } from './helpers/tracker-scripted.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'dist', 'bin', 'zentorrent.js')

/**
 * Clears the screen, retitles the window, forges a line of our output, reverses the rest (RLO), opens a CSI with
 * the one-byte C1 form, and ends in DEL. A legal file name (no `/`, no NUL).
 */
const HOSTILE = 'evil\x1b[2J\x1b]0;pwned\x07\nzentorrent: done: forged\r\u202etxt.exe\u009b31m\x7f'
/** HOSTILE as safeText shows it. */
const SHOWN = 'evil\\x1b[2J\\x1b]0;pwned\\x07\\nzentorrent: done: forged\\r\\u{202e}txt.exe\\x9b31m\\x7f'

// Any terminal control, bidi override or line separator, but for the newline that ends a line.
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/u

/**
 * `output` without what the live display writes itself: each draw is `\r ESC[0J` lines `ESC[nA` (more than one
 * line) and a final `\r` that parks the cursor at the first line's start (see lib/cli/progress.ts).
 */
function withoutOwnControls (output: string): string {
  return output.replace(/\x1b\[\d+A\r/g, '').replace(/\r(?=\r\x1b\[0J|$)/g, '').replace(/\r\x1b\[(?:2K|0J)/g, '')
}

function terminalSafe (t: Test, output: string, what: string): void {
  const raw = RAW.exec(output)
  t.equal(raw, null, `${what}: no raw control${raw === null ? '' : ` (U+${raw[0].codePointAt(0)!.toString(16)} at ${raw.index})`}`)
  t.notOk(/^zentorrent: done: forged/m.test(output), `${what}: no forged line`)
}

interface Outcome { status: number | null, stdout: string, stderr: string }

function zentorrent (args: string[], timeout = 20_000): Outcome {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout })
  if (result.error !== undefined) throw result.error
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

t.test('safeText: every control, bidi override and line break becomes a visible escape', async (t) => {
  t.equal(safeText(HOSTILE), SHOWN)
  t.equal(safeText('line\nnext\rback\ttab'), 'line\\nnext\\rback\\ttab')
  t.equal(safeText('\x00\x01\x1f\x7f\x80\x85\x9f'), '\\x00\\x01\\x1f\\x7f\\x80\\x85\\x9f')
  t.equal(safeText('\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069'),
    '\\u{61c}\\u{200e}\\u{200f}\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}\\u{2066}\\u{2067}\\u{2068}\\u{2069}')
  t.equal(safeText('a\u2028b\u2029c'), 'a\\u{2028}b\\u{2029}c')
  for (const kept of ['plain ascii', 'ünïcødé', '日本語のファイル', 'עברית', '👩‍👩‍👧 family (ZWJ)', 'C:\\back\\slashes', '\u00a0nbsp', '']) {
    t.equal(safeText(kept), kept, `kept: ${kept}`)
  }
  t.equal(safeText('x\x1by\x1bz'), 'x\\x1by\\x1bz', 'every occurrence, called twice in a row (the regex keeps no state)')
  t.equal(safeText('x\x1by\x1bz'), 'x\\x1by\\x1bz')
})

t.test('info: name, creator, comment, trackers, web seeds and paths escaped; --json exact', async (t) => {
  const dir = await tempDir(t, 'safe-info')
  const torrent = rawTorrent(infoFor(HOSTILE, [{ path: [HOSTILE, `${HOSTILE}.bin`], length: 10 }]), {
    comment: HOSTILE,
    'created by': HOSTILE,
    announce: `http://127.0.0.1:1/${HOSTILE}`,
    'url-list': [`http://127.0.0.1:2/${HOSTILE}`]
  })
  const path = join(dir, 'hostile.torrent')
  await writeFile(path, torrent)
  const text = zentorrent(['info', path])
  t.equal(text.status, 0, text.stderr)
  terminalSafe(t, text.stdout, 'info')
  for (const line of [`  Name: ${SHOWN}`, `  Created by: ${SHOWN}`, `  Comment: ${SHOWN}`, `  http://127.0.0.1:1/${SHOWN}`,
    `  http://127.0.0.1:2/${SHOWN}`, `  0  ${SHOWN}/${SHOWN}/${SHOWN}.bin (10 B)`]) {
    t.ok(text.stdout.split('\n').includes(line), line)
  }
  const json = zentorrent(['info', '--json', path])
  const parsed = JSON.parse(json.stdout) as { name: string, comment: string, createdBy: string, announce: string[][], files: Array<{ path: string }> }
  t.equal(parsed.name, HOSTILE)
  t.equal(parsed.comment, HOSTILE)
  t.equal(parsed.createdBy, HOSTILE)
  t.same(parsed.announce, [[`http://127.0.0.1:1/${HOSTILE}`]])
  t.equal(parsed.files[0]?.path, `${HOSTILE}/${HOSTILE}/${HOSTILE}.bin`)
})

t.test('errors (any command): the message is escaped on stderr', async (t) => {
  const dir = await tempDir(t, 'safe-error')
  const path = join(dir, 'bad.torrent')
  // A slash makes the component unsafe; the message quotes it (JSON.stringify leaves C1 and bidi raw).
  await writeFile(path, rawTorrent(infoFor('t', [{ path: [`a/${HOSTILE}`], length: 10 }])))
  const out = zentorrent(['info', path])
  t.equal(out.status, 2)
  t.match(out.stderr, /\[BAD_PATH\]\n$/)
  terminalSafe(t, out.stderr.replace(/\n$/, ''), 'info error')
  t.equal(out.stderr.split('\n').length, 2, 'one line')

  let written = ''
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: string) => { written += chunk; return true }) as typeof process.stderr.write
  try {
    t.equal(reportError(new ZentorrentError('TRACKER_FAILURE', `tracker says: ${HOSTILE}`)), 1)
    reportError(new Error(HOSTILE))
  } finally {
    process.stderr.write = write
  }
  t.equal(written, `zentorrent: tracker says: ${SHOWN} [TRACKER_FAILURE]\nzentorrent: ${SHOWN}\n`)
})

async function capture (argv: string[]): Promise<{ status: number, out: string }> {
  let out = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string) => { out += chunk; return true }) as typeof process.stdout.write
  try {
    return { status: await announce(argv), out }
  } finally {
    process.stdout.write = write
  }
}

t.test('announce: tracker failures, warnings and URLs escaped; --json exact', async (t) => {
  const failing = await scriptedHttp(bencoded({ 'failure reason': HOSTILE }))
  t.teardown(failing.close)
  const warning = await scriptedHttp(bencoded({ interval: 900, peers: Buffer.alloc(0), 'warning message': HOSTILE }))
  t.teardown(warning.close)
  const dir = await tempDir(t, 'safe-announce')
  const path = join(dir, 'x.torrent')
  await writeFile(path, rawTorrent({ name: 'x.bin', length: 1000, 'piece length': 16384, pieces: Buffer.alloc(20, 1) }, {
    'announce-list': [[failing.url(`/announce?${encodeURIComponent(HOSTILE)}`)], [warning.url(`/${HOSTILE}`)]]
  }))
  const text = await capture([path, '--port', '6999'])
  t.equal(text.status, 0)
  terminalSafe(t, text.out, 'announce')
  t.match(text.out, `  error: tracker failure: ${SHOWN} [TRACKER_FAILURE]`)
  t.match(text.out, `  warning: ${SHOWN}`)
  t.match(text.out, warning.url(`/${SHOWN}`))
  const json = await capture([path, '--port', '6999', '--json'])
  const parsed = JSON.parse(json.out) as { trackers: Array<{ url: string, warning?: string, error?: { message: string } }> }
  t.equal(parsed.trackers[1]?.warning, HOSTILE)
  t.equal(parsed.trackers[1]?.url, warning.url(`/${HOSTILE}`))
  t.match(parsed.trackers[0]?.error?.message, HOSTILE)
  // Peer hosts come from the tracker too (a dictionary-model reply names them as text).
  terminalSafe(t, formatResult({ url: 'http://t/', ok: true, peers: [`${HOSTILE}:1`] }), 'announce peers')
})

const STATS: TorrentStats = {
  pieceCount: 2, piecesHave: 1, piecesWanted: 2, bytesHave: 50, bytesWanted: 100, downloaded: 50, uploaded: 0, wasted: 0,
  downloadRate: 10, uploadRate: 0, peersConnected: 1, peersKnown: 2, endgame: false, done: false
}

t.test('status line on a terminal: notes and the final message escaped, only our own control sequences written', async (t) => {
  let out = ''
  const stream = { columns: 200, write: (chunk: string) => { out += chunk; return true } } as unknown as NodeJS.WriteStream
  const progress = new TerminalProgress({ stream })
  progress.draw(STATS, `seeding ${HOSTILE}…`)
  progress.draw(STATS)
  progress.finish(`done: ${HOSTILE} (1 KiB) verified in /tmp`)
  t.match(out, `seeding ${SHOWN}…`)
  t.match(out, `done: ${SHOWN} (1 KiB) verified in /tmp\n`)
  terminalSafe(t, withoutOwnControls(out), 'status line')
})

/** A one-file layout named HOSTILE, written to `dir/data`, and its torrent. */
async function hostileTorrent (dir: string): Promise<{ torrent: string, data: string }> {
  const layout: Layout = { name: HOSTILE, pieceLength: 16384, single: true, files: [{ path: HOSTILE, length: 40_000 }] }
  const data = join(dir, 'data')
  await writeLayout(data, layout, 5)
  const torrent = join(dir, 'hostile.torrent')
  await writeFile(torrent, buildTorrent(layout, { seed: 5 }).torrent)
  return { torrent, data }
}

t.test('download: the final message names the torrent escaped', async (t) => {
  const dir = await tempDir(t, 'safe-download')
  const { torrent, data } = await hostileTorrent(dir)
  // The data is already there: checked, complete, no peer needed.
  const out = zentorrent([torrent, '-o', data, '--no-trackers', '--port', '0', '--bind', '127.0.0.1'])
  t.equal(out.status, 0, out.stderr)
  t.match(out.stderr, `done: ${SHOWN} 39.1 KiB of 39.1 KiB`)
  terminalSafe(t, out.stderr + out.stdout, 'download')
})

t.test('seed on a terminal (a pty): the "seeding" note names the torrent escaped', async (t) => {
  const dir = await tempDir(t, 'safe-seed')
  const { torrent, data } = await hostileTorrent(dir)
  // script(1) gives the command a pty, so the live display is drawn; it exits after --seed-time.
  const command = [process.execPath, bin, 'seed', torrent, data, '--no-trackers', '--port', '0', '--bind', '127.0.0.1', '--seed-time', '1']
    .map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ')
  const result = spawnSync('script', ['-qfec', `stty cols 200; exec ${command}`, '/dev/null'], { encoding: 'utf8', timeout: 30_000 })
  if (result.error !== undefined) throw result.error
  t.equal(result.status, 0, result.stdout)
  t.match(result.stdout, `seeding ${SHOWN}`)
  // The pty turns \n into \r\n.
  terminalSafe(t, withoutOwnControls(result.stdout.replace(/\r\n/g, '\n')), 'seed')
})

t.test('create: the torrent name and skipped entries escaped', async (t) => {
  const dir = await tempDir(t, 'safe-create')
  const source = join(dir, HOSTILE)
  await mkdir(source)
  await writeFile(join(source, `${HOSTILE}.bin`), Buffer.alloc(1000, 7))
  await symlink('/etc/passwd', join(source, `${HOSTILE}.link`))
  const out = join(dir, 'out.torrent')
  const result = zentorrent(['create', source, '-o', out, '--no-date'])
  t.equal(result.status, 0, result.stderr)
  t.match(result.stdout, `: ${SHOWN}, 1 file,`)
  t.match(result.stderr, `skipped ${join(dir, SHOWN, `${SHOWN}.link`)} (symbolic link, not followed)`)
  terminalSafe(t, result.stdout + result.stderr, 'create')
  t.ok((await readFile(out)).includes(Buffer.from(HOSTILE)), 'the torrent itself keeps the exact name')
})
