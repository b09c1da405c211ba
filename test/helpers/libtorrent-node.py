#!/usr/bin/python3
"""A libtorrent session for zentorrent's discovery tests (DHT, PEX) on loopback (system python3,
Debian python3-libtorrent 2.0.x).

  libtorrent-node.py CONFIG_JSON

CONFIG_JSON keys:
  port        listen port on 127.0.0.1 (0 = any free port); the DHT uses the same port over UDP
  torrent     path of a .torrent to add (optional)
  magnet      a magnet URI to add instead (optional; no trackers, so peers come from the DHT or PEX)
  save_path   where the torrent's data is (seed) or goes (leech)
  seed        true: seed_mode (pieces hashed lazily when first requested)
  download_limit, upload_limit   bytes/s for the torrent (optional)
  dht         null: DHT off; {"bootstrap": "127.0.0.1:PORT"} (or "") to run a DHT node bootstrapping from it

The DHT settings are the ones that make libtorrent's DHT work on loopback (checked on this machine):
dht_restrict_routing_ips and dht_restrict_search_ips off, several nodes per IP allowed. LSD, UPnP, NAT-PMP and uTP
are always off. Never a public router: dht_bootstrap_nodes is only what the test gives.

Prints one JSON object per line on stdout:
  {"event": "ready", "port": P}
  {"event": "finished"}                                   (a leech has every piece)
  {"event": "peers", "peers": [{"ip", "port", "source", "outgoing", "seed"}]}   (reply to `peers`)
  {"event": "dht_peers", "info_hash": HEX, "peers": [[ip, port], ...]}         (reply to `dht_get_peers`)
  {"event": "dht_nodes", "count": N}                                           (reply to `dht_nodes`)
  {"event": "dht_announced", "info_hash": HEX}                                 (a dht_announce_alert for us)
Commands on stdin, one a line:
  connect IP PORT | peers | dht_get_peers HEX | dht_announce HEX PORT | dht_nodes | add_dht_node IP PORT
  force_dht_announce   (the torrent's own DHT get_peers + announce, now)

A torrent added while the DHT is still starting is not announced by libtorrent 2.0.8 on its own ("not starting
DHT announce timer: m_dht == nullptr" in its log, then nothing for 15 minutes), so on the DHT's bootstrap alert the
torrent is announced with force_dht_announce.
Alerts go to stderr. Exits when stdin closes or on SIGTERM / SIGINT.
"""
import json
import os
import signal
import sys
import threading
import time

import libtorrent as lt


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def main(config):
    port = int(config.get('port', 0))
    dht = config.get('dht')
    settings = {
        'listen_interfaces': '127.0.0.1:%d' % port,
        'enable_dht': dht is not None,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        'allow_multiple_connections_per_ip': True,
        # hermetic: a network interface appearing elsewhere on the machine (another test's namespace) must not make
        # libtorrent reopen its listen socket and drop connections mid-test
        'enable_ip_notifier': False,
        'dht_bootstrap_nodes': (dht or {}).get('bootstrap', '') if dht is not None else '',
        'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
        | lt.alert.category_t.dht_notification | lt.alert.category_t.dht_operation_notification
        | lt.alert.category_t.peer_notification | lt.alert.category_t.connect_notification
        | (0x7fffffff if os.environ.get('ZT_LT_DEBUG') else 0),
    }
    if dht is not None:
        settings.update({
            'dht_restrict_routing_ips': False,
            'dht_restrict_search_ips': False,
            'dht_max_peers_reply': 100,
        })
    ses = lt.session(settings)

    handle = None
    if config.get('torrent') or config.get('magnet'):
        if config.get('magnet'):
            params = lt.parse_magnet_uri(config['magnet'])
        else:
            params = lt.add_torrent_params()
            params.ti = lt.torrent_info(config['torrent'])
        params.save_path = config['save_path']
        params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
        if config.get('seed'):
            params.flags |= lt.torrent_flags.seed_mode
        handle = ses.add_torrent(params)
        if config.get('download_limit'):
            handle.set_download_limit(int(config['download_limit']))
        if config.get('upload_limit'):
            handle.set_upload_limit(int(config['upload_limit']))

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

    ready = (lt.torrent_status.downloading, lt.torrent_status.seeding, lt.torrent_status.finished,
             lt.torrent_status.downloading_metadata)
    deadline = time.time() + 30
    while time.time() < deadline and not stop.is_set():
        if ses.listen_port() != 0 and (handle is None or handle.status().state in ready):
            break
        time.sleep(0.01)
    emit({'event': 'ready', 'port': ses.listen_port()})

    gathered = {}  # info hash hex -> set of (ip, port) from dht_get_peers replies
    finished = False
    while not stop.is_set():
        with lock:
            pending, commands[:] = list(commands), []
        for cmd in pending:
            if len(cmd) == 3 and cmd[0] == 'connect' and handle is not None:
                handle.connect_peer((cmd[1], int(cmd[2])))
            elif cmd == ['peers'] and handle is not None:
                peers = [{'ip': p.ip[0], 'port': p.ip[1], 'source': int(p.source),
                          'outgoing': bool(p.flags & lt.peer_info.outgoing_connection),
                          'seed': bool(p.flags & lt.peer_info.seed)} for p in handle.get_peer_info()]
                emit({'event': 'peers', 'peers': peers})
            elif len(cmd) == 2 and cmd[0] == 'dht_get_peers':
                gathered.setdefault(cmd[1], set())
                ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(cmd[1])))
            elif len(cmd) == 3 and cmd[0] == 'dht_announce':
                ses.dht_announce(lt.sha1_hash(bytes.fromhex(cmd[1])), int(cmd[2]), 0)
            elif cmd == ['dht_nodes']:
                ses.post_dht_stats()
            elif cmd == ['force_dht_announce'] and handle is not None:
                handle.force_dht_announce()
            elif len(cmd) == 3 and cmd[0] == 'add_dht_node':
                ses.add_dht_node((cmd[1], int(cmd[2])))
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.dht_get_peers_reply_alert):
                key = str(alert.info_hash)
                found = gathered.setdefault(key, set())
                for p in alert.peers():
                    found.add((p[0], p[1]))
                emit({'event': 'dht_peers', 'info_hash': key, 'peers': sorted(found)})
            elif isinstance(alert, lt.dht_stats_alert):
                count = sum(b['num_nodes'] for b in alert.routing_table) if alert.routing_table else 0
                emit({'event': 'dht_nodes', 'count': count})
            elif isinstance(alert, lt.dht_bootstrap_alert) and handle is not None:
                handle.force_dht_announce()
            elif isinstance(alert, lt.dht_announce_alert):
                emit({'event': 'dht_announced', 'info_hash': str(alert.info_hash), 'ip': str(alert.ip), 'port': alert.port})
            sys.stderr.write('libtorrent: %s\n' % alert.message())
        if handle is not None and not finished and not config.get('seed') and handle.status().is_seeding:
            finished = True
            emit({'event': 'finished'})
        stop.wait(0.05)
    ses.pause()


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    main(json.loads(sys.argv[1]))
