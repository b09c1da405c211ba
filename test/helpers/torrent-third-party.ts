/**
 * .torrent files made and read by third-party tools: mktorrent, and libtorrent through its Python bindings
 * (Debian's python3-libtorrent, only in the system /usr/bin/python3). Missing tools throw with a message saying
 * what to install: these tests must fail, not skip, when the reference is absent (scripts/install-peers.sh).
 * Every call is synchronous with a timeout, so nothing outlives the test.
 */
import { spawnSync } from 'node:child_process'

const TIMEOUT_MS = 30_000
const PYTHON = '/usr/bin/python3'

function run (command: string, args: readonly string[], input?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: TIMEOUT_MS, input })
  if (result.error !== undefined) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT'
    throw new Error(missing
      ? `${command} is not installed: run scripts/install-peers.sh (apt-get install mktorrent python3-libtorrent)`
      : `${command} failed: ${result.error.message}`)
  }
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${String(result.status)}: ${result.stderr}`)
  return result.stdout
}

/** `mktorrent -a http://127.0.0.1:1/announce -l 15 -o out source` (32 KiB pieces). */
export function mktorrent (source: string, out: string, extra: readonly string[] = []): void {
  run('mktorrent', ['-a', 'http://127.0.0.1:1/announce', '-l', '15', ...extra, '-o', out, source])
}

const PRELUDE = `
import json, sys
try:
    import libtorrent as lt
except ImportError as e:
    sys.stderr.write('python3-libtorrent is not installed: run scripts/install-peers.sh (%s)\\n' % e)
    sys.exit(3)
args = json.loads(sys.stdin.read())
`

export type LibtorrentMode = 'v1' | 'v1-pad' | 'hybrid' | 'v2'

/**
 * Create a torrent of `source` (file or directory) with libtorrent 2.0: 'v1' (v1_only, no pad files), 'v1-pad'
 * (v1_only | canonical_files: BEP 47 pad files align every file to a piece), 'hybrid' (v1 + v2, pad files too),
 * 'v2' (v2_only: BEP 52 `file tree` and `piece layers`, no v1 `pieces`).
 */
export function libtorrentCreate (source: string, out: string, mode: LibtorrentMode, pieceLength = 32768): void {
  const script = PRELUDE + `
import os
flags = {'v1': lt.create_torrent.v1_only,
         'v1-pad': lt.create_torrent.v1_only | lt.create_torrent.canonical_files,
         'hybrid': 0,
         'v2': lt.create_torrent.v2_only}[args['mode']]
fs = lt.file_storage()
lt.add_files(fs, args['source'])
ct = lt.create_torrent(fs, args['pieceLength'], flags)
ct.add_tracker('http://127.0.0.1:1/announce')
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(args['source'])))
with open(args['out'], 'wb') as f:
    f.write(lt.bencode(ct.generate()))
`
  run(PYTHON, ['-c', script], JSON.stringify({ source, out, mode, pieceLength }))
}

export interface LibtorrentView {
  readonly infoHashHex: string
  readonly name: string
  readonly pieceLength: number
  readonly pieceCount: number
  readonly totalSize: number
  readonly private: boolean
  readonly files: ReadonlyArray<{ path: string, size: number, offset: number, pad: boolean }>
}

/** What libtorrent makes of a .torrent file: info hash (v1), and its file list with '/'-joined paths. */
export function libtorrentInspect (torrentPath: string): LibtorrentView {
  const script = PRELUDE + `
ti = lt.torrent_info(args['path'])
fs = ti.files()
print(json.dumps({
  'infoHashHex': str(ti.info_hashes().v1),
  'name': ti.name(),
  'pieceLength': ti.piece_length(),
  'pieceCount': ti.num_pieces(),
  'totalSize': ti.total_size(),
  'private': ti.priv(),
  'files': [{'path': fs.file_path(i).replace('\\\\', '/'), 'size': fs.file_size(i), 'offset': fs.file_offset(i),
             'pad': bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)} for i in range(fs.num_files())]
}))
`
  return JSON.parse(run(PYTHON, ['-c', script], JSON.stringify({ path: torrentPath }))) as LibtorrentView
}

/** What libtorrent made of one .torrent's bytes: its v1 view, or the error it refused them with. */
export type LibtorrentRead =
  | { readonly ok: true, readonly infoHashHex: string, readonly name: string,
      readonly files: ReadonlyArray<{ path: string, size: number, offset: number, pad: boolean }> }
  | { readonly ok: false, readonly error: string }

/**
 * Hand many .torrent buffers to one libtorrent process (its C++ bdecode and torrent_info, from the bytes: the
 * Python `bdecode` would go through a dict, which keeps the last of two equal keys and re-encodes).
 */
export function libtorrentReadMany (torrents: readonly Buffer[]): LibtorrentRead[] {
  const script = PRELUDE + `
import base64
out = []
for data in args['torrents']:
    try:
        ti = lt.torrent_info(base64.b64decode(data))
        fs = ti.files()
        out.append({'ok': True, 'infoHashHex': str(ti.info_hashes().v1), 'name': ti.name(),
                    'files': [{'path': fs.file_path(i).replace('\\\\', '/'), 'size': fs.file_size(i), 'offset': fs.file_offset(i),
                               'pad': bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)} for i in range(fs.num_files())]})
    except Exception as e:
        out.append({'ok': False, 'error': str(e)})
print(json.dumps(out))
`
  return JSON.parse(run(PYTHON, ['-c', script], JSON.stringify({ torrents: torrents.map((b) => b.toString('base64')) }))) as LibtorrentRead[]
}
