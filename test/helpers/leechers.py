#!/usr/bin/python3
"""A libtorrent leecher for the upload tests: download TORRENT into SAVE from the peer at 127.0.0.1:PORT only,
then exit 0 (exit 2 on timeout). Loopback settings: no DHT/LSD/UPnP/NAT-PMP, TCP only (uTP crawls on loopback),
several connections per IP (every peer is 127.0.0.1). Further arguments: "forced": Message Stream Encryption both
ways, RC4 only (out_enc_policy and in_enc_policy forced, allowed_enc_level rc4); "rate=N": download at most N bytes
a second, loopback included (ignore_limits_on_local_network off): a slow reader."""
import sys
import time
import json
import libtorrent as lt

torrent, save, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
extra = sys.argv[5:]
forced = 'forced' in extra
rates = [int(a[5:]) for a in extra if a.startswith('rate=')]
settings = {
    'listen_interfaces': '127.0.0.1:0',
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'allow_multiple_connections_per_ip': True,
    # hermetic: a network interface appearing elsewhere on the machine (another test's namespace) must not make
    # libtorrent reopen its listen socket and drop connections mid-test
    'enable_ip_notifier': False,
    'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.peer_notification,
}
if forced:
    settings.update({
        'out_enc_policy': lt.enc_policy.forced,
        'in_enc_policy': lt.enc_policy.forced,
        'allowed_enc_level': lt.enc_level.rc4,
        'prefer_rc4': True,
    })
if rates:
    settings.update({'download_rate_limit': rates[0], 'ignore_limits_on_local_network': False})
ses = lt.session(settings)
info = lt.torrent_info(torrent)
params = lt.add_torrent_params()
params.ti = info
params.save_path = save
params.trackers = []  # only the peer we are given: the test proves that peer served everything
h = ses.add_torrent(params)
h.connect_peer(('127.0.0.1', port))
deadline = time.time() + timeout
last_connect = time.time()
while time.time() < deadline:
    s = h.status()
    if s.is_seeding:
        print(json.dumps({'done': True, 'downloaded': s.total_payload_download}), flush=True)
        sys.exit(0)
    if s.num_peers == 0 and time.time() - last_connect > 1:
        h.connect_peer(('127.0.0.1', port))
        last_connect = time.time()
    for a in ses.pop_alerts():
        if a.category() & lt.alert.category_t.error_notification:
            print(json.dumps({'alert': a.message()}), file=sys.stderr, flush=True)
    time.sleep(0.1)
s = h.status()
print(json.dumps({'timeout': True, 'progress': s.progress, 'peers': s.num_peers, 'state': str(s.state)}), flush=True)
sys.exit(2)
