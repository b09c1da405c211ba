"""libtorrent (python3-libtorrent 2.0) as the benchmarks' seeder and reference leecher, on loopback.

  libtorrent-peer.py make-torrent SOURCE OUT.torrent PIECE_LENGTH TRACKER_URL
      Write a v1-only .torrent of SOURCE (a file or a directory) announcing to TRACKER_URL; print the info hash.
      (libtorrent's maker, not mktorrent: mktorrent 1.1 refuses pieces below 32 KiB.)

  libtorrent-peer.py seed TORRENT DIR [--encryption=forced]
      Seed TORRENT from DIR. The data is checked in full before "ready" (not seed_mode, which hashes each piece on
      its first request, inside the first client's timing), then announced to the tracker. One JSON object a line:
        {"event": "ready", "port": N}                 checked, listening, the tracker has answered
        {"event": "announced"}                        after `announce`: the tracker has answered again
        {"event": "first-request", "id": ID, "time": epoch s}   after `arm ID`: the first block request since
        {"event": "stats", "uploaded": B}             after `stats`: payload uploaded so far
      Commands on stdin, one a line: `announce` (a fresh tracker knows nobody), `arm ID`, `stats`. Exits when stdin
      closes (the parent's end of the pipe: a killed benchmark cannot leave a seeder behind).

  libtorrent-peer.py leech TORRENT DIR [--encryption=forced]
      Download TORRENT into DIR with peers from its tracker, as a user's client would; exit 0 once every piece is
      verified (1 after the deadline).

  libtorrent-peer.py resume-leech TORRENT DIR PORT RATE
      bench/kill-resume.ts's leecher: download TORRENT into DIR from 127.0.0.1:PORT only, at most RATE bytes/s
      (local peers limited too), printing "started" once its check of what DIR holds is over and "finished" when
      every piece is verified; no resume data, as after a kill.

Both add the torrent with `auto_managed` and `paused` cleared: a user's client starts a torrent at once, while the
default flags put libtorrent's queueing and start-up checks inside the timing. Loopback settings: listen on
127.0.0.1, TCP only (uTP crawls on loopback), no DHT/LSD/UPnP/NAT-PMP, several connections per IP (every peer is
127.0.0.1). --encryption=forced: MSE/PE both ways, RC4 only (out_enc_policy and in_enc_policy forced,
allowed_enc_level rc4); plain connections are refused and never dialled.
"""
import faulthandler
import json
import os
import select
import sys
import time

import libtorrent as lt

faulthandler.enable()  # a crash inside the bindings says where it happened

LEECH_DEADLINE_S = 600
READY_DEADLINE_S = 300
ANNOUNCE_RETRY_S = 3
BASE_ALERTS = lt.alert.category_t.status_notification | lt.alert.category_t.error_notification \
    | lt.alert.category_t.tracker_notification


def say(event):
    sys.stdout.write(json.dumps(event) + '\n')
    sys.stdout.flush()


def session(encryption):
    settings = {
        'listen_interfaces': '127.0.0.1:0',
        'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'enable_outgoing_utp': False, 'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        # hermetic: an interface appearing elsewhere on this shared machine must not make libtorrent reopen its
        # listen sockets (on a new port, given 0) in the middle of a run
        'enable_ip_notifier': False,
        'alert_mask': BASE_ALERTS,
    }
    if encryption:
        settings.update({'out_enc_policy': lt.enc_policy.forced, 'in_enc_policy': lt.enc_policy.forced,
                         'allowed_enc_level': lt.enc_level.rc4, 'prefer_rc4': True})
    return lt.session(settings)


def alert_wakeup(ses):
    """A pipe libtorrent writes a byte to when alerts arrive: select() on it instead of wait_for_alert, whose binding
    wraps a pointer into the unpopped alert queue (a burst of alerts reallocates the queue under it: SIGSEGV)."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    ses.set_alert_fd(w)
    return r


def drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def add(ses, torrent, directory):
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = directory
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    return ses.add_torrent(params)


def make_torrent(source, out, piece_length, tracker):
    fs = lt.file_storage()
    lt.add_files(fs, source)
    ct = lt.create_torrent(fs, int(piece_length), flags=lt.create_torrent.v1_only)
    ct.add_tracker(tracker)
    ct.set_creator('zentorrent bench (libtorrent %s)' % lt.__version__)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(source)))
    with open(out, 'wb') as f:
        f.write(lt.bencode(ct.generate()))
    print(str(lt.torrent_info(out).info_hashes().v1), flush=True)


def seed(torrent, directory, encryption):
    # One thread: libtorrent's alerts and our stdin are both waited for here (one select), so no binding call ever
    # races another Python thread.
    ses = session(encryption)
    wakeup = alert_wakeup(ses)
    handle = add(ses, torrent, directory)
    armed = None
    want_reply = True
    asked_at = time.time()
    ready = False
    pending = b''
    deadline = time.time() + READY_DEADLINE_S
    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([wakeup] + ([stdin] if ready else []), [], [], 0.05)
        drain(wakeup)
        for alert in ses.pop_alerts():
            what = alert.what()
            if what == 'incoming_request' and armed is not None:
                say({'event': 'first-request', 'id': armed, 'time': time.time()})
                armed = None
                ses.apply_settings({'alert_mask': BASE_ALERTS})
            elif what == 'tracker_reply' and want_reply:
                want_reply = False
                if ready:
                    say({'event': 'announced'})
            elif what in ('tracker_error', 'tracker_warning', 'torrent_error', 'file_error', 'listen_failed') \
                    or (what == 'listen_succeeded' and ready):  # a listen socket reopened while serving: say so
                sys.stderr.write('libtorrent seeder %d: %s\n' % (ses.listen_port(), alert.message()))
        if ready and want_reply and time.time() - asked_at > ANNOUNCE_RETRY_S:
            # no answer yet: ask again (an announce can be lost to a tracker restarted while it was in flight)
            sys.stderr.write('libtorrent seeder %d: no tracker reply after %.0f s, announcing again\n' % (ses.listen_port(), ANNOUNCE_RETRY_S))
            asked_at = time.time()
            handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        if not ready:
            if handle.status().is_seeding and ses.listen_port() != 0 and not want_reply:
                ready = True
                say({'event': 'ready', 'port': ses.listen_port()})
            elif time.time() > deadline:
                sys.stderr.write('libtorrent seeder: not seeding and announced after %d s\n' % READY_DEADLINE_S)
                sys.exit(1)
            continue
        if stdin not in readable:
            continue
        chunk = os.read(stdin, 4096)
        if chunk == b'':
            break
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            command, _, argument = line.decode().strip().partition(' ')
            if command == 'announce':
                want_reply = True
                asked_at = time.time()
                handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
            elif command == 'arm':
                armed = argument
                ses.apply_settings({'alert_mask': BASE_ALERTS | lt.alert.category_t.incoming_request_notification})
            elif command == 'stats':
                say({'event': 'stats', 'uploaded': handle.status().total_payload_upload})
    ses.pause()


def leech(torrent, directory, encryption):
    ses = session(encryption)
    wakeup = alert_wakeup(ses)
    handle = add(ses, torrent, directory)
    deadline = time.time() + LEECH_DEADLINE_S
    done = handle.status().is_finished
    while not done and time.time() < deadline:
        select.select([wakeup], [], [], 0.2)
        drain(wakeup)
        for alert in ses.pop_alerts():
            if alert.what() == 'torrent_finished':
                done = True
            elif alert.what() in ('torrent_error', 'file_error'):
                sys.stderr.write('libtorrent leecher: %s\n' % alert.message())
    sys.exit(0 if done else 1)


def resume_leech(torrent, directory, port, rate):
    ses = session(False)
    ses.apply_settings({'download_rate_limit': int(rate), 'ignore_limits_on_local_network': False})
    handle = add(ses, torrent, directory)
    while handle.status().state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
        time.sleep(0.01)
    print('started', flush=True)
    handle.connect_peer(('127.0.0.1', int(port)))
    deadline = time.time() + LEECH_DEADLINE_S
    while not handle.status().is_seeding and time.time() < deadline:
        time.sleep(0.05)
    print('finished', flush=True)
    sys.exit(0 if handle.status().is_seeding else 1)


def main(argv):
    flags = set(argv[4:]) if len(argv) >= 4 and argv[1] in ('seed', 'leech') else set()
    encryption = '--encryption=forced' in flags
    if len(argv) == 6 and argv[1] == 'make-torrent':
        make_torrent(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) >= 4 and argv[1] == 'seed' and flags <= {'--encryption=forced'}:
        seed(argv[2], argv[3], encryption)
    elif len(argv) == 6 and argv[1] == 'resume-leech':
        resume_leech(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) >= 4 and argv[1] == 'leech' and flags <= {'--encryption=forced'}:
        leech(argv[2], argv[3], encryption)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == '__main__':
    main(sys.argv)
