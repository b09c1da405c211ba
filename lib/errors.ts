/**
 * One error type for the whole library. Every failure a user can meet carries a stable `code`;
 * tests assert on the code and the CLI maps codes to messages and exit statuses.
 */
export type ErrorCode =
  // metainfo (.torrent) problems
  | 'NOT_BENCODE'
  | 'TRUNCATED'
  | 'TOO_DEEP'
  | 'NO_INFO'
  | 'BAD_PIECE_LENGTH'
  | 'BAD_PIECES'
  | 'PIECE_COUNT_MISMATCH'
  | 'BAD_LENGTH'
  | 'NO_FILES'
  | 'BAD_NAME'
  | 'BAD_PATH'
  | 'PATH_ESCAPES_ROOT'
  | 'DUPLICATE_PATH'
  | 'PATH_IS_LINK'
  // wire (peer protocol) problems
  | 'BAD_HANDSHAKE'
  | 'INFO_HASH_MISMATCH'
  | 'UNKNOWN_INFO_HASH'
  | 'MESSAGE_TOO_LONG'
  | 'BAD_MESSAGE'
  | 'BAD_BITFIELD'
  | 'INDEX_OUT_OF_RANGE'
  | 'REQUEST_TOO_LONG'
  | 'REQUEST_FLOOD'
  | 'UNREQUESTED_PIECE'
  | 'PEER_TIMEOUT'
  | 'CONNECT_TIMEOUT'
  | 'HANDSHAKE_TIMEOUT'
  | 'SEND_BUFFER_FULL'
  // Message Stream Encryption (lib/wire/mse/)
  | 'MSE_BAD_KEY'
  | 'MSE_NO_SYNC'
  | 'MSE_BAD_VC'
  | 'MSE_BAD_PADDING'
  | 'MSE_BAD_SELECT'
  | 'MSE_NO_METHOD'
  | 'MSE_REFUSED'
  | 'MSE_CLOSED'
  | 'MSE_TIMEOUT'
  | 'MSE_REQUIRED'
  | 'MSE_DISABLED'
  // trackers
  | 'TRACKER_FAILURE'
  | 'TRACKER_HTTP_STATUS'
  | 'TRACKER_BAD_REPLY'
  | 'TRACKER_TIMEOUT'
  | 'TRACKER_UNREACHABLE'
  | 'TRACKER_UNSUPPORTED'
  | 'NO_TRACKERS'
  // download engine
  | 'HASH_MISMATCH'
  | 'PEER_BANNED'
  | 'NO_PEERS'
  | 'DISK_FULL'
  | 'PERMISSION_DENIED'
  | 'IO_ERROR'
  | 'NOT_SINGLE_FILE'
  | 'BAD_SELECTION'
  | 'BAD_ARGUMENT'
  // making a torrent (lib/create.ts)
  | 'NOT_FOUND'
  | 'ABORTED'
  // naming a torrent: magnet links, info hashes, URLs, paths (lib/magnet.ts, lib/torrent-input.ts)
  | 'BAD_MAGNET'
  | 'NO_INFO_HASH'
  | 'BAD_INFO_HASH'
  | 'BAD_SELECT_ONLY'
  | 'BAD_PEER_ADDRESS'
  | 'V2_ONLY'
  | 'IS_DIRECTORY'
  | 'FETCH_HTTP_STATUS'
  | 'FETCH_REDIRECTS'
  | 'FETCH_TOO_LARGE'
  | 'FETCH_TIMEOUT'
  | 'FETCH_UNREACHABLE'
  // metadata exchange (BEP 9, lib/metadata/)
  | 'BAD_METADATA_MESSAGE'
  | 'BAD_METADATA_SIZE'
  | 'BAD_METADATA_PIECE'
  | 'METADATA_MISMATCH'
  | 'METADATA_TIMEOUT'
  // the HTTP server (lib/http/)
  | 'HTTP_LISTEN_FAILED'
  | 'STDOUT_IS_TERMINAL'

export class ZentorrentError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ZentorrentError'
    this.code = code
  }
}

export function isZentorrentError (err: unknown, code?: ErrorCode): err is ZentorrentError {
  return err instanceof ZentorrentError && (code === undefined || err.code === code)
}

/** Map a Node file-system error to a typed one a user can act on. */
export function fromFsError (err: unknown, path: string): ZentorrentError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ZentorrentError('DISK_FULL', `disk full while writing ${path}`, { cause: err })
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new ZentorrentError('PERMISSION_DENIED', `permission denied: ${path}`, { cause: err })
  const message = err instanceof Error ? err.message : String(err)
  return new ZentorrentError('IO_ERROR', `cannot access ${path}: ${message}`, { cause: err })
}
