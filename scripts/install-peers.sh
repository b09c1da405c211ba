#!/usr/bin/env bash
# Installs the third-party BitTorrent software the interop tests and benchmarks run against on loopback:
# libtorrent (python bindings), aria2, opentracker, mktorrent, and ffmpeg (ffprobe/ffmpeg play what `serve` streams).
# Debian packages; needs root (or sudo).
set -euo pipefail
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v opentracker >/dev/null || need+=(opentracker)
command -v mktorrent >/dev/null || need+=(mktorrent)
{ command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; } || need+=(ffmpeg)
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || need+=(python3-libtorrent)
if [ ${#need[@]} -eq 0 ]; then
  echo "install-peers: aria2, libtorrent, opentracker, mktorrent and ffmpeg are present"
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}"
