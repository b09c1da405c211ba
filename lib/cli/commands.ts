/**
 * Every command's declaration — usage, arguments, options, examples — in one place: lib/cli/args.ts parses argv
 * with it and writes each command's `--help` from it, and `zentorrent --help` lists the commands from it. Pure
 * data (defaults are read from the modules that own them).
 */
import { formatHelp, type CommandSpec, type OptionSpec } from './args.js'
import { AVAILABILITY_LEGEND, PEER_TABLE_LEGEND, STATUS_LEGEND } from './progress.js'
import { EXIT_STATUS_TEXT } from './report.js'
import { SWARM_DEFAULTS } from '../swarm.js'

/** Peers, ports, limits and display: shared by `download` and `seed`. */
const TRANSFER_OPTIONS = {
  peer: { type: 'list', value: 'HOST:PORT', help: 'connect to this peer, with or without trackers ([IPv6]:PORT too)' },
  'no-trackers': { type: 'boolean', help: 'do not announce to the torrent\'s trackers (use with --peer)' },
  connections: { type: 'count', short: 'c', min: 1, default: SWARM_DEFAULTS.maxConnections, help: 'peer connections at most' },
  port: { type: 'port', short: 'p', help: 'port to accept peers on; a busy port is an error; 0: any free port', defaultText: 'the first free of 6881-6889, else any' },
  bind: { type: 'string', value: 'HOST', default: '0.0.0.0', help: 'address to accept peers on (127.0.0.1: this machine only)' },
  seed: { type: 'boolean', help: 'keep seeding after the download completes (until Ctrl-C)' },
  'seed-ratio': { type: 'number', value: 'R', help: 'stop seeding once uploaded ÷ size reaches R' },
  'seed-time': { type: 'duration', help: 'stop seeding after this long' },
  'upload-limit': { type: 'rate', default: 0, defaultText: '0: no limit', help: 'upload at most this fast' },
  'download-limit': { type: 'rate', default: 0, defaultText: '0: no limit', help: 'download at most this fast' },
  'stall-timeout': { type: 'duration', defaultText: 'never', help: 'give up (exit 1) after this long without progress' },
  encryption: { type: 'string', value: 'POLICY', default: 'prefer', help: 'MSE/PE encryption: prefer (try encrypted, fall back to plain), require, or disable' },
  'no-dht': { type: 'boolean', help: 'do not use the DHT (BEP 5) to find peers' },
  'dht-bootstrap': { type: 'string', value: 'HOST:PORT,…', defaultText: 'the public routers', help: 'DHT nodes to join through, instead of the public routers' },
  'dht-state': { type: 'string', value: 'FILE', defaultText: '~/.cache/zentorrent/dht.json', help: 'where the DHT routing table is kept between runs' },
  lsd: { type: 'boolean', help: 'local service discovery (BEP 14): find peers on the local network by multicast' },
  'replace-links': { type: 'boolean', help: 'replace symbolic links where the torrent\'s files go, instead of refusing them' },
  availability: { type: 'boolean', help: 'also show the availability map (see Display below)' },
  peers: { type: 'boolean', help: 'also show a table of the connected peers (see Display below)' },
  json: { type: 'boolean', help: 'progress as one JSON object per line, for scripts' },
  quiet: { type: 'boolean', short: 'q', help: 'no progress display' }
} as const satisfies Record<string, OptionSpec>

/** Serving the files over HTTP while downloading (lib/http/server.ts; its default host is loopback, as here). */
const HTTP_OPTIONS = {
  http: { type: 'port', value: 'PORT', help: 'also serve the files over HTTP on PORT (0: any free port) and keep running, seeding, until Ctrl-C (see serve)' },
  'http-host': { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'address the HTTP server listens on; 127.0.0.1: this machine only; 0.0.0.0 lets anyone who can reach this machine read the torrent\'s files' },
  bitrate: { type: 'rate', min: 1, defaultText: 'measured from each reader', help: 'the rate the served media plays at (the pieces ahead of a reader get deadlines from it)' },
  'startup-delay': { type: 'duration', default: 0, help: 'how long a viewer waits before playback starts (deadlines)' }
} as const satisfies Record<string, OptionSpec>

const DISPLAY_SECTIONS = [
  { title: 'Display', text: `${STATUS_LEGEND}\n\n${AVAILABILITY_LEGEND}\n\n${PEER_TABLE_LEGEND}` },
  { title: 'Exit status', text: EXIT_STATUS_TEXT }
] as const

export const DOWNLOAD_COMMAND = {
  name: 'download',
  summary: 'download a torrent, every piece verified (the default command)',
  usage: ['download TORRENT [-o DIR] [options]', 'TORRENT [-o DIR] [options]'],
  description: `Download what TORRENT describes into DIR, checking every piece against its hash. TORRENT is a .torrent
file, an http(s) URL of one, a magnet link or an info hash (40 hex or 32 base32 characters); for a magnet link
the metadata is fetched from the peers first. Data already in DIR is checked first and kept, so an interrupted
download resumes when run again.`,
  positionals: [{ name: 'TORRENT', help: 'a .torrent file or URL, a magnet link, or an info hash' }],
  options: {
    output: { type: 'string', short: 'o', value: 'DIR', defaultText: 'the current directory', help: 'where the files go; `-o -` means --stdout' },
    stdout: { type: 'boolean', help: 'stream a single-file torrent\'s verified bytes, in order, to stdout' },
    select: { type: 'string', value: 'LIST', help: 'only these files of a multi-file torrent: indexes from `info`, e.g. 0,2-4' },
    only: { type: 'string', value: 'LIST', hidden: true, help: 'the old name of --select' },
    'save-torrent': { type: 'string', value: 'FILE', help: 'write the torrent as FILE once its metadata is known (for a magnet link)' },
    'metadata-timeout': { type: 'duration', default: 120, defaultText: '2m', help: 'give up (exit 1) when no peer sent a magnet link\'s metadata within this' },
    ...TRANSFER_OPTIONS,
    ...HTTP_OPTIONS
  },
  examples: [
    ['zentorrent ubuntu.torrent -o ~/Downloads', 'download into ~/Downloads; run it again after an interruption to resume'],
    ["zentorrent 'magnet:?xt=urn:btih:…' -o DIR --save-torrent x.torrent", 'from a magnet link, keeping the .torrent'],
    ['zentorrent movie.torrent -o - | mpv -', 'stream a single-file torrent to a player as it arrives, in order'],
    ['zentorrent big.torrent -o DIR --select 0,2-3 --download-limit 2M', 'three files only, at most 2 MiB/s'],
    ['zentorrent x.torrent --peer 127.0.0.1:6881 --no-trackers -p 0', 'from a known peer, no tracker, any free port'],
    ['zentorrent x.torrent -o DIR --seed-ratio 1.5 --upload-limit 500k', 'download, then seed to a ratio of 1.5 at 500 KiB/s'],
    ['zentorrent movie.torrent -o DIR --http 8888', 'download and serve the files at http://127.0.0.1:8888/ meanwhile']
  ],
  sections: DISPLAY_SECTIONS
} as const satisfies CommandSpec

const { output: _output, stdout: _stdout, only: _only, http: _http, 'http-host': _host, bitrate: _bitrate, 'startup-delay': _delay, ...SEED_DOWNLOAD_OPTIONS } = DOWNLOAD_COMMAND.options
const { port: PEER_PORT, http: _served, stdout: _out, ...SERVE_DOWNLOAD_OPTIONS } = DOWNLOAD_COMMAND.options

export const SEED_COMMAND = {
  name: 'seed',
  summary: 'verify a directory\'s data and seed it',
  usage: ['seed FILE.torrent DIR [options]'],
  description: `Check DIR's data against FILE.torrent, then seed it until Ctrl-C, --seed-ratio or --seed-time.
Pieces DIR lacks are downloaded first when peers have them (a warning says so when DIR holds none of the files).`,
  positionals: [
    { name: 'FILE.torrent', help: 'the .torrent file' },
    { name: 'DIR', help: 'the directory holding the torrent\'s data: the one you downloaded into (its name inside)' }
  ],
  options: SEED_DOWNLOAD_OPTIONS,
  examples: [
    ['zentorrent seed ubuntu.torrent ~/Downloads', 'seed ~/Downloads/ubuntu… until Ctrl-C'],
    ['zentorrent seed x.torrent DIR --seed-time 2h --upload-limit 1M', 'seed for two hours at most 1 MiB/s'],
    ['zentorrent seed x.torrent DIR -p 6881 --bind 127.0.0.1', 'seed to this machine only, on port 6881']
  ],
  sections: DISPLAY_SECTIONS
} as const satisfies CommandSpec

export const SERVE_COMMAND = {
  name: 'serve',
  summary: 'download while serving the files over HTTP (players seek in them)',
  usage: ['serve TORRENT [-p PORT] [-o DIR] [options]'],
  description: `Download TORRENT (any form download takes) and serve its files over HTTP while it downloads, then keep
seeding and serving until Ctrl-C. A player opens a file by URL and seeks in it; the pieces just ahead of each
reader are fetched first, with deadlines from its rate. The same as \`download TORRENT --http PORT\`.`,
  positionals: [{ name: 'TORRENT', help: 'a .torrent file or URL, a magnet link, or an info hash' }],
  options: {
    port: { type: 'port', short: 'p', default: 8888, help: 'the HTTP port; 0: any free port (printed)' },
    'peer-port': { type: 'port', help: PEER_PORT.help, defaultText: PEER_PORT.defaultText },
    ...SERVE_DOWNLOAD_OPTIONS
  },
  examples: [
    ['zentorrent serve movie.torrent -o DIR', 'then: mpv http://127.0.0.1:8888/files/0 (or open http://127.0.0.1:8888/)'],
    ['zentorrent serve x.torrent -p 0 --select 2 --bitrate 500k', 'one file, any free port, played at 500 KB/s'],
    ['zentorrent serve x.torrent --http-host 0.0.0.0', 'every network this machine is on: anyone who reaches it reads the files']
  ],
  sections: [
    {
      title: 'URLs',
      text: `/                 the files, as a page
/index.json       the same, as JSON
/playlist.m3u     the media files, for a player
/files/N          file N (as the index lists it): Range requests (seeking),
                  HEAD, If-Range and ETag`
    },
    ...DISPLAY_SECTIONS
  ]
} as const satisfies CommandSpec

export const CREATE_COMMAND = {
  name: 'create',
  summary: 'make a .torrent from a file or directory',
  usage: ['create PATH [-o OUT.torrent] [options]'],
  description: `Make a .torrent (BitTorrent v1) from a file or a directory, showing the hashing progress on a terminal.
Each --announce is a tier of its own. Symbolic links and special files inside a directory are skipped (and listed).`,
  positionals: [{ name: 'PATH', help: 'the file or directory to share' }],
  options: {
    output: { type: 'string', short: 'o', value: 'OUT.torrent', defaultText: 'NAME.torrent in the current directory', help: 'where to write the .torrent' },
    announce: { type: 'list', short: 'a', value: 'URL', help: 'a tracker, its own tier' },
    'piece-length': { type: 'size', help: 'a power of two from 16K to 64M', defaultText: '1000-2000 pieces' },
    private: { type: 'boolean', help: 'private torrent (BEP 27): peers from the trackers only' },
    comment: { type: 'string', short: 'c', value: 'TEXT', help: 'a comment' },
    'web-seed': { type: 'list', short: 'w', value: 'URL', help: 'a web seed (BEP 19)' },
    name: { type: 'string', short: 'n', value: 'NAME', defaultText: 'PATH\'s last component', help: 'the torrent\'s name' },
    'no-date': { type: 'boolean', help: 'leave out the creation date (the same input gives the same file)' },
    force: { type: 'boolean', short: 'f', help: 'overwrite OUT.torrent if it exists' },
    quiet: { type: 'boolean', short: 'q', help: 'no hashing progress' }
  },
  examples: [
    ['zentorrent create photos/ -a http://tracker.example/announce', 'write photos.torrent for the directory photos/'],
    ['zentorrent create big.iso -o big.torrent --piece-length 4M --private', 'a private torrent with 4 MiB pieces'],
    ['zentorrent create dir --no-date -n release-1', 'a reproducible release-1.torrent']
  ],
  sections: [{ title: 'Exit status', text: EXIT_STATUS_TEXT }]
} as const satisfies CommandSpec

export const INFO_COMMAND = {
  name: 'info',
  summary: 'show what a torrent holds',
  usage: ['info TORRENT [--json] [--magnet] [--save-torrent FILE]'],
  description: `Show what a torrent holds: name, info hash, size, pieces, trackers, web seeds and files (with the
indexes --select takes). TORRENT is a .torrent file, an http(s) URL of one, a magnet link or an info hash; for a
magnet link or an info hash the metadata is first fetched from the link's peers and trackers.`,
  positionals: [{ name: 'TORRENT', help: 'a .torrent file or URL, a magnet link, or an info hash' }],
  options: {
    json: { type: 'boolean', help: 'one JSON object instead of text' },
    magnet: { type: 'boolean', help: 'print the torrent\'s magnet link only' },
    'save-torrent': { type: 'string', value: 'FILE', help: 'also write the torrent as FILE (a .torrent other clients open)' },
    'metadata-timeout': { type: 'duration', default: 60, defaultText: '60s', help: 'give up (exit 1) when no peer sent the metadata within this' }
  },
  examples: [
    ['zentorrent info ubuntu.torrent', 'name, hash, size, trackers and the files with their indexes'],
    ['zentorrent info x.torrent --json | jq .files', 'the file list, for a script']
  ]
} as const satisfies CommandSpec

export const ANNOUNCE_COMMAND = {
  name: 'announce',
  summary: 'ask each tracker for peers and counts',
  usage: ['announce FILE.torrent [--scrape] [--json] [-p PORT]'],
  description: `Ask every tracker of the torrent (every tier, every URL) for peers and counts, and show each answer or
error. Without --scrape this joins the swarm for a moment (event=started, then stopped). Exit 0 when at least
one tracker answered.`,
  positionals: [{ name: 'FILE.torrent', help: 'the .torrent file' }],
  options: {
    scrape: { type: 'boolean', help: 'counts only (seeders, leechers, completed), without joining the swarm' },
    json: { type: 'boolean', help: 'one JSON object instead of text' },
    port: { type: 'port', short: 'p', min: 1, default: 6881, help: 'the port to announce' }
  },
  examples: [
    ['zentorrent announce ubuntu.torrent', 'what each tracker says, peers included'],
    ['zentorrent announce x.torrent --scrape --json', 'seeders and leechers per tracker, for a script']
  ],
  sections: [{ title: 'Exit status', text: EXIT_STATUS_TEXT }]
} as const satisfies CommandSpec

export const DEMO_COMMAND = {
  name: 'demo',
  summary: 'a local swarm on loopback: one seeder, one downloader',
  usage: ['demo [--size SIZE] [--rate RATE] [--keep]'],
  description: `A whole swarm on this machine, no internet needed: a sample file, an embedded tracker, one zentorrent
seeding it and another downloading it with the live display; then the copy is compared byte for byte.`,
  positionals: [],
  options: {
    size: { type: 'size', min: 1, default: 48 * 1024 * 1024, defaultText: '48M', help: 'the sample file\'s size' },
    rate: { type: 'rate', min: 1, default: 24 * 1024 * 1024, defaultText: '24M', help: 'the seeder\'s upload limit' },
    keep: { type: 'boolean', help: 'keep the temporary directory (its path is printed)' }
  },
  examples: [
    ['zentorrent demo', '48 MiB at 24 MiB/s: two seconds of a real download'],
    ['zentorrent demo --size 1G --rate 100M', 'a longer one']
  ],
  sections: [{ title: 'Display', text: `${STATUS_LEGEND}\n\n${AVAILABILITY_LEGEND}` }]
} as const satisfies CommandSpec

export const COMMAND_SPECS = [DOWNLOAD_COMMAND, SEED_COMMAND, SERVE_COMMAND, CREATE_COMMAND, INFO_COMMAND, ANNOUNCE_COMMAND, DEMO_COMMAND] as const
export type CommandName = typeof COMMAND_SPECS[number]['name']
export const COMMANDS: readonly CommandName[] = COMMAND_SPECS.map((c) => c.name)

/** `zentorrent --help`: the commands, and where to read more. */
export function globalHelp (version: string): string {
  const width = Math.max(...COMMAND_SPECS.map((c) => c.name.length))
  return [
    `zentorrent ${version} — a BitTorrent client built from Node streams`,
    '',
    'Usage: zentorrent COMMAND [arguments] [options]',
    '       zentorrent FILE.torrent [options]   (short for: zentorrent download ...)',
    '',
    'Commands:',
    ...COMMAND_SPECS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `zentorrent COMMAND --help` for its options and examples.',
    '',
    'General:',
    '  -h, --help       this text',
    '  -V, --version    the version',
    '',
    'Exit status:',
    ...EXIT_STATUS_TEXT.split('\n').map((l) => `  ${l}`),
    ''
  ].join('\n')
}

export { formatHelp }
