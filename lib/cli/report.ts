import { ZentorrentError } from '../errors.js'

/** Print an error as one line a user can act on; return the exit status for it. */
export function reportError (err: unknown): number {
  if (err instanceof ZentorrentError) {
    process.stderr.write(`zentorrent: ${err.message} [${err.code}]\n`)
    return exitStatusFor(err)
  }
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`zentorrent: ${message}\n`)
  return 1
}

/** 2: the user's input is wrong (arguments, a bad .torrent); 1: everything else. */
export function exitStatusFor (err: ZentorrentError): number {
  switch (err.code) {
    case 'BAD_ARGUMENT':
    case 'BAD_SELECTION':
    case 'NOT_SINGLE_FILE':
    case 'NOT_FOUND':
    // a .torrent that cannot be used is the user's input too
    case 'NOT_BENCODE':
    case 'TRUNCATED':
    case 'TOO_DEEP':
    case 'NO_INFO':
    case 'BAD_PIECE_LENGTH':
    case 'BAD_PIECES':
    case 'PIECE_COUNT_MISMATCH':
    case 'BAD_LENGTH':
    case 'NO_FILES':
    case 'BAD_NAME':
    case 'BAD_PATH':
    case 'PATH_ESCAPES_ROOT':
    case 'DUPLICATE_PATH':
    // a link where the torrent's files go: the user must remove it (or pass --replace-links)
    case 'PATH_IS_LINK':
    // so is a magnet link, an info hash or a path that names no usable torrent
    case 'BAD_MAGNET':
    case 'NO_INFO_HASH':
    case 'BAD_INFO_HASH':
    case 'BAD_SELECT_ONLY':
    case 'BAD_PEER_ADDRESS':
    case 'V2_ONLY':
    case 'IS_DIRECTORY':
    // `-o -` onto a terminal: the user must pipe it somewhere
    case 'STDOUT_IS_TERMINAL':
      return 2
    default:
      return 1
  }
}
