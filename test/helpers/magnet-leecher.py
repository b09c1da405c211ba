#!/usr/bin/python3
"""A libtorrent leecher started from a magnet link only, for the BEP 9 interop tests.

  magnet-leecher.py MAGNET SAVE_DIR TIMEOUT_S [--download]

Adds MAGNET (its x.pe peers are dialed; connect_peer is repeated for them while no peer is connected), prints one
JSON line when the metadata arrives ({"metadata": true, "infoHash": hex, "name": ..., "info": hex of the info
section}), and with --download another when the download completes ({"done": true}); then exits 0. Exit 2 on
timeout, with a JSON line saying where it stood. Loopback settings: no DHT/LSD/UPnP/NAT-PMP, TCP only, several
connections per IP. Exits when stdin closes, too (the test ended).
"""
import json
import sys
import threading
import time

import libtorrent as lt

uri, save, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
download = '--download' in sys.argv[4:]
ses = lt.session({
    'listen_interfaces': '127.0.0.1:0',
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'allow_multiple_connections_per_ip': True,
    # hermetic: a network interface appearing elsewhere on the machine (another test's namespace) must not make
    # libtorrent reopen its listen socket and drop connections mid-test
    'enable_ip_notifier': False,
    'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
    | lt.alert.category_t.peer_notification,
})
params = lt.parse_magnet_uri(uri)
params.save_path = save
params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
peers = list(params.peers)
h = ses.add_torrent(params)

stop = threading.Event()
def read_stdin():
    for _ in sys.stdin:
        pass
    stop.set()
threading.Thread(target=read_stdin, daemon=True).start()

deadline = time.time() + timeout
have_metadata = False
last_connect = 0.0
while time.time() < deadline and not stop.is_set():
    for a in ses.pop_alerts():
        if isinstance(a, lt.metadata_received_alert) and not have_metadata:
            have_metadata = True
            ti = h.torrent_file()
            print(json.dumps({'metadata': True, 'infoHash': str(ti.info_hashes().v1), 'name': ti.name(),
                              'info': bytes(ti.info_section()).hex()}), flush=True)
        elif a.category() & lt.alert.category_t.error_notification:
            print(json.dumps({'alert': a.message()}), file=sys.stderr, flush=True)
    s = h.status()
    if have_metadata and (not download or s.is_seeding):
        if download:
            print(json.dumps({'done': True, 'downloaded': s.total_payload_download}), flush=True)
        sys.exit(0)
    if s.num_peers == 0 and time.time() - last_connect > 1:
        for p in peers:
            h.connect_peer(p)
        last_connect = time.time()
    time.sleep(0.05)
s = h.status()
print(json.dumps({'timeout': True, 'has_metadata': s.has_metadata, 'progress': s.progress, 'peers': s.num_peers}), flush=True)
sys.exit(2)
