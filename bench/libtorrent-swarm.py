"""One libtorrent leecher of the swarm benchmark (bench/swarm.ts): `libtorrent-swarm.py TORRENT DIR`.
Finds peers through the torrent's tracker (and through peers that connect to it), downloads into DIR, and keeps
seeding until stdin closes, as a real leecher would. One JSON object a line on stdout:
  {"event": "started", "time": epoch s}       the torrent is added (the leecher has joined)
  {"event": "done", "time": epoch s}          every piece verified
  {"event": "stats", "uploaded": B, "downloaded": B, "cpu": s, "peers": N}   after stdin closes, then exit 0
Loopback settings: no DHT/LSD/UPnP/NAT-PMP, no uTP (it crawls on loopback), several peers per IP."""
import sys, time, json, resource, threading, libtorrent as lt

torrent, directory = sys.argv[1], sys.argv[2]
ses = lt.session({'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False,
                  'enable_upnp': False, 'enable_natpmp': False, 'enable_outgoing_utp': False,
                  'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True,
                  'alert_mask': 0})
h = ses.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': directory})


def say(event):
    print(json.dumps(event), flush=True)


say({'event': 'started', 'time': time.time()})
closed = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
done = False
while not closed.wait(0.02):
    if not done and h.status().is_seeding:
        done = True
        say({'event': 'done', 'time': time.time()})
s = h.status()
usage = resource.getrusage(resource.RUSAGE_SELF)
say({'event': 'stats', 'uploaded': s.total_payload_upload, 'downloaded': s.total_payload_download,
     'cpu': usage.ru_utime + usage.ru_stime, 'peers': s.num_peers})
