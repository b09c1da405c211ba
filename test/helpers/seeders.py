"""
A libtorrent peer for zentorrent's interop tests (run by test/helpers/seeders.ts with the system python3).

  seeders.py make-torrent '{"source": ..., "out": ..., "tracker": ..., "pieceLength": ...}'
      write a v1 .torrent of `source` (file or directory) announcing to `tracker` (none if empty); print {"infoHash": hex}
  seeders.py seed '{"torrent": ..., "dir": ..., "port": 0, "seedMode": true, "announce": false, "encryption": null}'
      serve `dir`'s data on 127.0.0.1:port; print one JSON line {"port", "pieces", "numPieces"} once ready,
      then serve until stdin closes (the parent's end of the pipe: a killed test cannot leave us behind).

seedMode true: libtorrent trusts the data (BEP 3 seeder, have-all). seedMode false: libtorrent hashes the data
first and advertises only the pieces that check, in upload mode so it never downloads the rest itself (a
partial seeder in a swarm test must stay partial). announce true: wait for a tracker reply before "ready", so
a downloader that announces after us is told about us. encryption "forced": Message Stream Encryption both ways,
RC4 only (out_enc_policy and in_enc_policy forced, allowed_enc_level rc4); plain peers are refused.
"""
import json
import os
import sys
import threading
import time

try:
    import libtorrent as lt
except ImportError as e:
    sys.stderr.write('python3-libtorrent is not installed: apt-get install python3-libtorrent (%s)\n' % e)
    sys.exit(3)

READY_TIMEOUT_S = 20


def make_torrent(args):
    fs = lt.file_storage()
    lt.add_files(fs, args['source'])
    ct = lt.create_torrent(fs, args.get('pieceLength', 32768), lt.create_torrent.v1_only)
    if args.get('tracker'):
        ct.add_tracker(args['tracker'])
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(args['source'])))
    data = lt.bencode(ct.generate())
    with open(args['out'], 'wb') as f:
        f.write(data)
    ti = lt.torrent_info(args['out'])
    print(json.dumps({'infoHash': str(ti.info_hashes().v1)}), flush=True)


def seed(args):
    ses = lt.session({
        'listen_interfaces': '127.0.0.1:%d' % args.get('port', 0),
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'enable_outgoing_utp': False, 'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        # hermetic: a network interface appearing elsewhere on the machine (another test's namespace) must not make
        # libtorrent reopen its listen socket and drop connections mid-test
        'enable_ip_notifier': False,
        'alert_mask': lt.alert.category_t.all_categories,
        # loopback test peers: no per-IP or rate caps, answer promptly
        'connections_limit': 200,
        'unchoke_slots_limit': -1,
        **({
            'out_enc_policy': lt.enc_policy.forced,
            'in_enc_policy': lt.enc_policy.forced,
            'allowed_enc_level': lt.enc_level.rc4,
            'prefer_rc4': True,
        } if args.get('encryption') == 'forced' else {}),
    })
    ti = lt.torrent_info(args['torrent'])
    seed_mode = args.get('seedMode', True)
    flags = lt.torrent_flags.seed_mode if seed_mode else lt.torrent_flags.upload_mode
    h = ses.add_torrent({'ti': ti, 'save_path': args['dir'], 'flags': flags})
    deadline = time.time() + READY_TIMEOUT_S
    if not seed_mode:
        # wait for the hash check of the existing data to finish
        while True:
            st = h.status()
            if st.state not in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data) and st.has_metadata:
                if st.state != lt.torrent_status.allocating:
                    break
            if time.time() > deadline:
                sys.stderr.write('libtorrent: still checking after %d s\n' % READY_TIMEOUT_S)
                sys.exit(4)
            time.sleep(0.05)
    if args.get('announce', False):
        replied = False
        h.force_reannounce()
        while not replied:
            for a in ses.pop_alerts():
                if isinstance(a, lt.tracker_reply_alert):
                    replied = True
                elif isinstance(a, lt.tracker_error_alert):
                    sys.stderr.write('libtorrent: tracker error: %s\n' % a.message())
            if time.time() > deadline:
                sys.stderr.write('libtorrent: no tracker reply after %d s\n' % READY_TIMEOUT_S)
                sys.exit(5)
            time.sleep(0.05)
    st = h.status()
    pieces = [i for i, p in enumerate(st.pieces) if p] if not seed_mode else list(range(ti.num_pieces()))
    print(json.dumps({'port': ses.listen_port(), 'pieces': pieces, 'numPieces': ti.num_pieces()}), flush=True)
    # drain alerts in the background so the queue never fills; exit when the parent closes our stdin
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            ses.pop_alerts()
            time.sleep(0.2)
    threading.Thread(target=drain, daemon=True).start()
    sys.stdin.read()
    stop.set()


if __name__ == '__main__':
    command, payload = sys.argv[1], json.loads(sys.argv[2])
    {'make-torrent': make_torrent, 'seed': seed}[command](payload)
