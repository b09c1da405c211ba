export const COMMANDS = ['download', 'info', 'announce', 'seed', 'serve', 'create', 'demo'] as const
export type CommandName = typeof COMMANDS[number]

export const USAGE = `zentorrent — a BitTorrent client built from Node streams

Usage:
  zentorrent FILE.torrent [-o DIR] [options]     download (same as \`zentorrent download\`)
  zentorrent download FILE.torrent [-o DIR] [options]
  zentorrent info FILE.torrent [--json]          show what a .torrent holds
  zentorrent announce FILE.torrent [--scrape] [--json] [--port N]
                                                 ask each tracker for peers and counts
                                                 (--scrape: counts only, without joining)
  zentorrent seed FILE.torrent DIR [options]     verify DIR's data and seed it
  zentorrent serve FILE.torrent [-p PORT]        download while serving the files over HTTP (players
                                                 seek in them); loopback only unless --http-host
  zentorrent create PATH -o OUT.torrent [--announce URL]... [--piece-length N] [--private]
                  [--comment C] [--web-seed URL] [--name N] [--no-date] [--force]
                                                 make a .torrent from a file or directory
                                                 (each --announce is a tier)
  zentorrent demo [--size BYTES] [--rate B/s]    a local swarm on loopback: one seeder, one downloader

Download options:
  -o, --output DIR       where files go (default: the current directory); \`-o -\` means --stdout
      --stdout           stream a single-file torrent's verified bytes, in order, to stdout
                         (or the one file --select N names; refused when stdout is a terminal)
      --select LIST      only these files of a multi-file torrent (indexes from \`info\`, e.g. 0,2-4)
      --peer HOST:PORT   connect to this peer (repeatable); with or without trackers
      --no-trackers      do not announce (use with --peer)
  -c, --connections N    peer connections at most (default 50)
  -p, --port N           port to accept peers on (default: first free in 6881-6889, else any)
      --bind HOST        address to accept peers on (default 0.0.0.0; 127.0.0.1 for loopback only)
      --seed             keep seeding after the download completes (until Ctrl-C)
      --seed-ratio R     stop seeding at this upload/size ratio
      --seed-time T      stop seeding after T seconds
      --upload-limit B   bytes per second up (0: no limit)
      --download-limit B bytes per second down (0: no limit)
      --availability     show how many peers have each piece, live
      --json             progress as one JSON object per line (for scripts)
      --stall-timeout S  give up (exit 1) after S seconds without progress (default: never)
  -q, --quiet            no progress display
      --http PORT        also serve the files over HTTP on PORT (0: any), and keep running (see serve)
      --http-host HOST   address for --http (default 127.0.0.1: this machine only; 0.0.0.0 lets
                         anyone who can reach this machine read the torrent's files)
      --bitrate B        bytes per second streamed files play at (default: measured per reader)
      --startup-delay S  seconds a viewer waits before playback starts (deadlines; default 0)

General:
  -h, --help             this text
  -V, --version          the version
`
