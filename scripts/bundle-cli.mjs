/**
 * The CLI as one file: bin/zentorrent.ts and everything it imports, our modules and the packages, bundled by
 * esbuild into dist/bin/zentorrent.js (after tsc has built dist/ for library users and checked the types).
 *
 * Why: Node 20 loads an ES module graph file by file (resolve, read, compile, link), and the download command's
 * graph is ~120 files: ~110 ms of the main thread before the first announce, against ~55 ms as one file. The
 * time from start to the first block request fell from 0.305 to 0.250 s (bench/download.ts; issue 15's target is
 * 0.3 s). Two packages stay outside, loaded only when used: bittorrent-dht (when a DHT starts) and undici (the
 * first HTTP request; lib/http-get.ts loads two of its modules). The library (dist/lib) is not bundled.
 */
import { build } from 'esbuild'

await build({
  entryPoints: ['bin/zentorrent.ts'],
  outfile: 'dist/bin/zentorrent.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['bittorrent-dht', 'undici'],
  // CommonJS packages inside an ES module bundle call require() for Node's built-ins
  banner: { js: "import { createRequire as __zentorrentCreateRequire } from 'node:module'; const require = __zentorrentCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning'
})
