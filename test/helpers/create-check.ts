/**
 * Third-party checks for test/create.test.ts: libtorrent (system python3 bindings) and mktorrent. A missing
 * tool rejects (the test fails, never skips). Every child process is bounded by `timeout` (killed on expiry).
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const PYTHON = '/usr/bin/python3'

export interface LibtorrentReport {
  info_hash: string
  name: string
  private: boolean
  piece_length: number
  num_pieces: number
  files: Array<[string, number]>
  hashlib_ok: boolean
  libtorrent_pieces: boolean[] | null
}

const SCRIPT = `# Check a .torrent with libtorrent (the system /usr/bin/python3 has the bindings).
#   python3 -c SCRIPT TORRENT SAVE_PATH  →  one JSON object on stdout:
#   info_hash, name, private, piece_length, num_pieces, files [[path, size]], hashlib_ok (every piece hash
#   recomputed here with hashlib over the data), and libtorrent_pieces (libtorrent's own check of the data in
#   a session: one boolean per piece, after its torrent_checked_alert).
import hashlib
import json
import os
import sys
import time

import libtorrent as lt

torrent, save = sys.argv[1], sys.argv[2]
ti = lt.torrent_info(torrent)
fs = ti.files()
files = [[fs.file_path(i), fs.file_size(i)] for i in range(fs.num_files())]

pl = ti.piece_length()
index, good, filled, cur = 0, 0, 0, hashlib.sha1()
for path, _size in files:
    with open(os.path.join(save, path), 'rb') as f:
        while True:
            block = f.read(pl - filled)
            if not block:
                break
            cur.update(block)
            filled += len(block)
            if filled == pl:
                good += cur.digest() == ti.hash_for_piece(index)
                index, filled, cur = index + 1, 0, hashlib.sha1()
if filled:
    good += cur.digest() == ti.hash_for_piece(index)
    index += 1

session = lt.session({
    'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.error_notification,
})
handle = session.add_torrent({'ti': ti, 'save_path': save})
checked = False
deadline = time.time() + 30
while not checked and time.time() < deadline:
    session.wait_for_alert(200)
    for alert in session.pop_alerts():
        if isinstance(alert, lt.torrent_checked_alert):
            checked = True
pieces = list(handle.status().pieces) if checked else None
session.remove_torrent(handle)

print(json.dumps({
    'info_hash': str(ti.info_hash()), 'name': ti.name(), 'private': ti.priv(), 'piece_length': pl,
    'num_pieces': ti.num_pieces(), 'files': files, 'hashlib_ok': good == ti.num_pieces() and index == ti.num_pieces(),
    'libtorrent_pieces': pieces,
}))
`

/** Load TORRENT with libtorrent, re-hash its data under SAVE with hashlib, and let libtorrent check it too. */
export async function checkWithLibtorrent (torrent: string, save: string): Promise<LibtorrentReport> {
  const { stdout } = await run(PYTHON, ['-c', SCRIPT, torrent, save], { timeout: 60_000 })
  return JSON.parse(stdout) as LibtorrentReport
}

/** Run mktorrent (quietly); resolves when it has written its output. */
export async function mktorrent (args: string[]): Promise<void> {
  await run('mktorrent', args, { timeout: 60_000 })
}
