#!/usr/bin/env bash
# Installs the third-party BitTorrent software the interop tests and benchmarks run against on loopback:
# libtorrent (python bindings), aria2, opentracker, mktorrent, rtorrent, ffmpeg (ffprobe/ffmpeg play what `serve` streams); and what the CLI tests drive it with: tmux (a real
# pseudo-terminal), util-linux's unshare and mount (a read-only file system in a private mount namespace), script(1) (bsdutils) for a pty.
# Debian packages; needs root (or sudo).
set -euo pipefail
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v opentracker >/dev/null || need+=(opentracker)
command -v mktorrent >/dev/null || need+=(mktorrent)
command -v rtorrent >/dev/null || need+=(rtorrent)
command -v script >/dev/null || need+=(bsdutils)
{ command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; } || need+=(ffmpeg)
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || need+=(python3-libtorrent)
command -v tmux >/dev/null || need+=(tmux)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -eq 0 ]; then
  echo "install-peers: aria2, libtorrent, opentracker, mktorrent, rtorrent, ffmpeg, tmux, unshare and script are present"
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}"
