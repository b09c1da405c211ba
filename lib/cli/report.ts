/**
 * How the command line ends: an error becomes one line on stderr (`zentorrent: MESSAGE [CODE]`, the message a
 * sentence the user can act on, the code stable for scripts) and an exit status from the table below, which
 * `--help` and the README show.
 */
import { ZentorrentError, type ErrorCode } from '../errors.js'
import { wrapText } from './args.js'
import { safeText } from './safe-text.js'

/** Codes that mean "what you gave cannot be used as given": exit status 2. Every other code is 1. */
export const USER_INPUT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  // arguments and the things they name
  'BAD_ARGUMENT', 'BAD_SELECTION', 'NOT_SINGLE_FILE', 'NOT_FOUND', 'NOT_A_FILE', 'PORT_IN_USE', 'READ_ONLY',
  'PERMISSION_DENIED', 'NO_TRACKERS',
  // a .torrent that cannot be used is the user's input too
  'NOT_BENCODE', 'TRUNCATED', 'TOO_DEEP', 'NO_INFO', 'BAD_PIECE_LENGTH', 'BAD_PIECES', 'PIECE_COUNT_MISMATCH',
  'BAD_LENGTH', 'NO_FILES', 'BAD_NAME', 'BAD_PATH', 'PATH_ESCAPES_ROOT', 'DUPLICATE_PATH',
  // a link where the torrent's files go: the user must remove it (or pass --replace-links)
  'PATH_IS_LINK',
  // so is a magnet link, an info hash or a path that names no usable torrent
  'BAD_MAGNET', 'NO_INFO_HASH', 'BAD_INFO_HASH', 'BAD_SELECT_ONLY', 'BAD_PEER_ADDRESS', 'V2_ONLY',
  // a torrent read two ways (repeated keys in info), or past what we hold in memory
  'DUPLICATE_KEY', 'TORRENT_TOO_LARGE',
  // the environment forbids the public DHT routers and no local node was named; a port that cannot be had
  'DHT_PUBLIC_REFUSED',
  // `-o -` onto a terminal: the user must pipe it somewhere; an HTTP port that cannot be had
  'STDOUT_IS_TERMINAL', 'HTTP_LISTEN_FAILED'
])

/** The exit statuses, for `--help` and the README. */
export const EXIT_STATUSES: ReadonlyArray<{ readonly status: number, readonly meaning: string }> = [
  { status: 0, meaning: 'success: every selected byte verified on disk; seeding stopped at --seed-ratio or --seed-time; info, create, announce done' },
  { status: 1, meaning: 'failure while running: no peers (no source, --stall-timeout), disk full, a disk error, no tracker answered (announce)' },
  { status: 2, meaning: 'bad input: an unknown option or a bad value; a missing, malformed or unsafe .torrent; a directory given as the .torrent; a busy port; an output that cannot be written' },
  { status: 130, meaning: 'interrupted (Ctrl-C or SIGTERM): run the same command again to resume' }
]

/** The table as `--help` prints it (wrapped to 78 columns, meanings aligned). */
export const EXIT_STATUS_TEXT = EXIT_STATUSES.map(({ status, meaning }) => wrapText(String(status).padEnd(4), meaning, 78)).join('\n')

export interface ReportOptions {
  stream?: { write: (text: string) => unknown, isTTY?: boolean }
}

/** Print an error as one line a user can act on; return the exit status for it. */
export function reportError (err: unknown, opts: ReportOptions = {}): number {
  const stream = opts.stream ?? process.stderr
  // On a terminal a progress display may still be drawn below the cursor (lib/cli/progress.ts parks the cursor at
  // its first line): clear it so the error is not mixed with a stale status line.
  const clear = stream.isTTY === true ? '\r\x1b[0J' : ''
  if (err instanceof ZentorrentError) {
    stream.write(`${clear}zentorrent: ${safeText(err.message)} [${err.code}]\n`)
    return exitStatusFor(err)
  }
  const message = err instanceof Error ? err.message : String(err)
  stream.write(`${clear}zentorrent: ${safeText(message)}\n`)
  return 1
}

/** 2: the user's input is wrong (arguments, what they name, a bad .torrent); 1: everything else. */
export function exitStatusFor (err: ZentorrentError): number {
  return USER_INPUT_CODES.has(err.code) ? 2 : 1
}
