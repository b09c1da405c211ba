#!/usr/bin/python3
"""A libtorrent peer for zentorrent's loopback tests (system python3, Debian python3-libtorrent 2.0.x).

  libtorrent-seeder.py make-torrent DATA_PATH OUT.torrent PIECE_LENGTH
      Write a v1-only .torrent for DATA_PATH (file or directory); print the info hash (hex).

  libtorrent-seeder.py serve TORRENT DATA_DIR PORT [--leech] [--encryption=forced]
      Seed TORRENT from DATA_DIR (seed_mode: pieces are hashed lazily when first requested), or with --leech
      download it into DATA_DIR. Listens on 127.0.0.1:PORT (0 = any free port) and prints the port on stdout
      once ready. Commands on stdin, one a line:  connect HOST PORT  (dial a peer)
      Prints "finished" when a leech completes. Exits when stdin closes or on SIGTERM / SIGINT.
      --encryption=forced: Message Stream Encryption both ways, RC4 only (out_enc_policy and in_enc_policy
      forced, allowed_enc_level rc4): plain connections are refused and never dialled.

Settings are those that make loopback tests fast and hermetic: no DHT/LSD/UPnP/NAT-PMP, TCP only (uTP on
loopback is slow), several connections per IP (every peer is 127.0.0.1).
"""
import os
import signal
import sys
import threading
import time

import libtorrent as lt


def make_torrent(data_path, out_path, piece_length):
    fs = lt.file_storage()
    lt.add_files(fs, data_path)
    ct = lt.create_torrent(fs, int(piece_length), flags=lt.create_torrent.v1_only)
    ct.set_creator('zentorrent tests (libtorrent %s)' % lt.__version__)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(data_path)))
    with open(out_path, 'wb') as f:
        f.write(lt.bencode(ct.generate()))
    info = lt.torrent_info(out_path)
    print(str(info.info_hashes().v1), flush=True)


def serve(torrent, data_dir, port, leech, encryption):
    settings = {
        'listen_interfaces': '127.0.0.1:%d' % port,
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        # hermetic: a network interface appearing elsewhere on the machine (another test's namespace) must not make
        # libtorrent reopen its listen socket and drop connections mid-test
        'enable_ip_notifier': False,
        'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
        | (0x7fffffff if os.environ.get('ZT_LT_DEBUG') else 0),
    }
    if encryption == 'forced':
        settings.update({
            'out_enc_policy': lt.enc_policy.forced,
            'in_enc_policy': lt.enc_policy.forced,
            'allowed_enc_level': lt.enc_level.rc4,
            'prefer_rc4': True,
        })
    ses = lt.session(settings)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = data_dir
    # Not paused, not auto-managed: a paused torrent turns every incoming connection away.
    params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    if not leech:
        params.flags |= lt.torrent_flags.seed_mode
    handle = ses.add_torrent(params)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    commands = []
    lock = threading.Lock()

    def read_stdin():
        for line in sys.stdin:
            with lock:
                commands.append(line.split())
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()

    # Ready means listening and past loading/checking: a torrent still checking turns peers away.
    ready = (lt.torrent_status.downloading, lt.torrent_status.seeding, lt.torrent_status.finished)
    deadline = time.time() + 30
    while time.time() < deadline and not stop.is_set():
        status = handle.status()
        if ses.listen_port() != 0 and status.state in ready and not status.paused:
            break
        time.sleep(0.01)
    print(ses.listen_port(), flush=True)

    finished = False
    while not stop.is_set():
        with lock:
            pending, commands[:] = list(commands), []
        for cmd in pending:
            if len(cmd) == 3 and cmd[0] == 'connect':
                handle.connect_peer((cmd[1], int(cmd[2])))
        for alert in ses.pop_alerts():
            sys.stderr.write('libtorrent: %s\n' % alert.message())
        if leech and not finished and handle.status().is_seeding:
            finished = True
            print('finished', flush=True)
        stop.wait(0.05)
    ses.pause()


def main(argv):
    if len(argv) == 5 and argv[1] == 'make-torrent':
        make_torrent(argv[2], argv[3], argv[4])
    elif len(argv) >= 5 and argv[1] == 'serve' and set(argv[5:]) <= {'--leech', '--encryption=forced'}:
        flags = set(argv[5:])
        serve(argv[2], argv[3], int(argv[4]), '--leech' in flags, 'forced' if '--encryption=forced' in flags else None)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == '__main__':
    main(sys.argv)
