/**
 * `zentorrent demo`: a whole swarm on loopback, no internet needed. Generates a sample file, starts an embedded
 * tracker, seeds the file with one zentorrent peer and downloads it with another through the tracker, showing
 * the progress display and the availability map; then checks the copy byte for byte.
 */
import { mkdtemp, rm, writeFile, readFile, mkdir } from 'node:fs/promises'
import { createCipheriv, createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTracker } from '../tracker/server.js'
import { createTorrent } from '../create.js'
import { parseMetainfo } from '../metainfo.js'
import { startTorrent } from '../client.js'
import { createTokenBucket } from '../rate-limit.js'
import { TerminalProgress, formatBytes, statusLine } from './progress.js'
import { parseCommand } from './args.js'
import { DEMO_COMMAND } from './commands.js'
import { sessionFacts } from './facts.js'

/**
 * Deterministic sample bytes (the demo's info hash is the same every run): an AES-128-CTR keystream under a fixed
 * key — as good as random for a demo, at memory speed (a hash chain took seconds for 48 MiB).
 */
function sampleData (length: number): Buffer {
  const key = createHash('sha256').update('zentorrent demo').digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  return cipher.update(Buffer.alloc(length))
}

export async function run (argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, DEMO_COMMAND)
  if (parsed === null) return 0
  const { size, rate, keep } = parsed.values
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-demo-'))
  const out = process.stderr
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 5 })
  const stops: Array<() => Promise<void>> = [async () => await tracker.close()]
  try {
    const seedDir = join(root, 'seed')
    const leechDir = join(root, 'download')
    await mkdir(seedDir)
    const data = sampleData(size)
    await writeFile(join(seedDir, 'demo.bin'), data)
    const torrentBytes = await createTorrent(join(seedDir, 'demo.bin'), { announce: tracker.url, pieceLength: 256 * 1024 })
    const meta = parseMetainfo(torrentBytes)
    await writeFile(join(root, 'demo.torrent'), torrentBytes)
    out.write(`demo: ${formatBytes(size)} file, info hash ${meta.infoHashHex}, tracker ${tracker.url}\n`)
    out.write(`demo: seeder uploads at most ${formatBytes(rate)}/s; downloading into ${leechDir}\n`)

    const local = { host: '127.0.0.1', ports: [0] }
    const seeder = await startTorrent(meta, {
      dht: false, output: seedDir,
      seed: true,
      listen: local,
      ownAddresses: [],
      uploader: { uploadLimit: createTokenBucket({ rate }) }
    })
    stops.push(seeder.stop)
    const leecher = await startTorrent(meta, { dht: false, output: leechDir, listen: local, ownAddresses: [] })
    stops.push(leecher.stop)
    const progress = out.isTTY === true
      ? new TerminalProgress({ stream: out, availability: () => ({ values: leecher.torrent.availability(), have: (i) => leecher.torrent.hasPiece(i) }) })
      : null
    const started = Date.now()
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const facts = sessionFacts(leecher.torrent)
        if (progress !== null) progress.draw(facts)
        else out.write(statusLine(facts) + '\n')
      }, progress !== null ? 200 : 1000)
      leecher.torrent.once('error', (err) => { clearInterval(timer); reject(err) })
      const done = (): void => { clearInterval(timer); resolve() }
      if (leecher.torrent.done) done()
      else leecher.torrent.once('done', done)
    })
    if (progress === null) out.write(statusLine(sessionFacts(leecher.torrent, { state: 'downloading' })) + '\n') // the final state, even when quick
    const seconds = (Date.now() - started) / 1000
    const copy = await readFile(join(leechDir, 'demo.bin'))
    const same = copy.equals(data)
    const message = `demo: downloaded ${formatBytes(size)} in ${seconds.toFixed(1)} s` +
      ` (${formatBytes(size / seconds)}/s), copy ${same ? 'identical to' : 'DIFFERS from'} the original`
    if (progress !== null) progress.finish(message)
    else out.write(message + '\n')
    return same ? 0 : 1
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    if (keep) out.write(`demo: kept ${root}\n`)
    else await rm(root, { recursive: true, force: true })
  }
}
