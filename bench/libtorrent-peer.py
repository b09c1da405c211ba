"""A libtorrent peer for benchmarks: seed (`seed TORRENT DIR`) or download (`leech TORRENT DIR [HOST:PORT]`).
Loopback settings: no DHT/LSD/UPnP/NAT-PMP, no uTP (it crawls on loopback), several peers per IP.
A seeder prints its port and runs until stdin closes; a leecher exits 0 once it has every piece."""
import sys, time, libtorrent as lt

mode, torrent, directory = sys.argv[1], sys.argv[2], sys.argv[3]
ses = lt.session({'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False,
                  'enable_upnp': False, 'enable_natpmp': False, 'enable_outgoing_utp': False,
                  'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True,
                  'alert_mask': 0})
params = {'ti': lt.torrent_info(torrent), 'save_path': directory}
if mode == 'seed':
    params['flags'] = lt.torrent_flags.seed_mode
h = ses.add_torrent(params)
if mode == 'seed':
    print(ses.listen_port(), flush=True)
    sys.stdin.read()
    sys.exit(0)
if len(sys.argv) > 4:
    host, port = sys.argv[4].rsplit(':', 1)
    h.connect_peer((host, int(port)))
deadline = time.time() + 600
while time.time() < deadline:
    s = h.status()
    if s.is_seeding:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
