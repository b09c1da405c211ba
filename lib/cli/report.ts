import { ZentorrentError } from '../errors.js'
import { safeText } from './safe-text.js'

/**
 * Print an error as one line a user can act on; return the exit status for it. Messages carry text from torrents
 * (paths, names) and trackers (failure reasons), so they go through safeText.
 */
export function reportError (err: unknown): number {
  if (err instanceof ZentorrentError) {
    process.stderr.write(`zentorrent: ${safeText(err.message)} [${err.code}]\n`)
    return exitStatusFor(err)
  }
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`zentorrent: ${safeText(message)}\n`)
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
    case 'DUPLICATE_KEY':
    case 'TORRENT_TOO_LARGE':
    // a v2-only torrent is valid, but not one we can use yet: the user must find its v1 or hybrid form
    case 'V2_ONLY':
      return 2
    default:
      return 1
  }
}
