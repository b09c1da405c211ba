/**
 * One error type for the whole library. Every failure a user can meet carries a stable `code`;
 * tests assert on the code and the CLI maps codes to messages and exit statuses.
 */
import { accessSync, constants } from 'node:fs'
import { dirname, resolve } from 'node:path'

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
  | 'DUPLICATE_KEY'
  | 'TORRENT_TOO_LARGE'
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
  // peer discovery (lib/discovery/)
  | 'DHT_PUBLIC_REFUSED'
  | 'DHT_UNAVAILABLE'
  | 'LSD_UNAVAILABLE'
  // the command line's own checks (lib/cli/)
  | 'NOT_A_FILE'
  | 'READ_ONLY'
  | 'PORT_IN_USE'
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
  | 'NO_METADATA'
  | 'PEER_EVICTED'
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

/**
 * Map a Node file-system error to a typed one a user can act on. `path` is what we were working on (the file
 * we write, the directory we walk). Node's recursive mkdir (fs-extra's ensureDir) reports a read-only file
 * system as ENOENT; that case is told apart by asking the nearest existing ancestor whether it is writable.
 */
export function fromFsError (err: unknown, path: string): ZentorrentError {
  const errno = err as NodeJS.ErrnoException | undefined
  const code = errno?.code
  const options = { cause: err }
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new ZentorrentError('DISK_FULL', `disk full while writing ${path} (free some space, then run the same command again: it resumes)`, options)
    case 'EROFS':
      return new ZentorrentError('READ_ONLY', `${path} is on a read-only file system (choose a writable place)`, options)
    case 'EACCES':
    case 'EPERM':
      return new ZentorrentError('PERMISSION_DENIED', `permission denied: ${path} (check its owner and mode, or choose another place)`, options)
    case 'ENOTDIR':
      return new ZentorrentError('IO_ERROR', `cannot use ${path}: a part of that path is a file, not a directory`, options)
    case 'EISDIR':
      return new ZentorrentError('IO_ERROR', `${path} is a directory, where a file was expected`, options)
    case 'EMFILE':
    case 'ENFILE':
      return new ZentorrentError('IO_ERROR', `too many open files while opening ${path} (raise the limit: ulimit -n)`, options)
    case 'EIO':
      return new ZentorrentError('IO_ERROR', `input/output error on ${path} (is the disk failing or unplugged?)`, options)
    case 'ENOENT':
      if (errno?.syscall === 'mkdir' && readOnlyAncestor(errno.path ?? path)) {
        return new ZentorrentError('READ_ONLY', `${path} is on a read-only file system (choose a writable place)`, options)
      }
      return new ZentorrentError('IO_ERROR', `no such file or directory: ${path}`, options)
  }
  const message = err instanceof Error ? err.message : String(err)
  return new ZentorrentError('IO_ERROR', `cannot access ${path}: ${message}`, options)
}

/** Whether the nearest existing directory above `path` answers EROFS to a write-access check. */
function readOnlyAncestor (path: string): boolean {
  let dir = resolve(path)
  for (;;) {
    try {
      accessSync(dir, constants.W_OK)
      return false
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EROFS') return true
      if (code !== 'ENOENT') return false
    }
    const parent = dirname(dir)
    if (parent === dir) return false
    dir = parent
  }
}
