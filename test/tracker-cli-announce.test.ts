import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import bencode from 'bencode'
import { run } from '../lib/cli/announce.js'
import { startTracker, HttpTracker } from '../lib/tracker/index.js'
import { closedPort } from './helpers/tracker-scripted.js'

/** A minimal single-file torrent with the given tiers. */
async function torrentFile (dir: string, tiers: string[][]): Promise<string> {
  const path = join(dir, 'x.torrent')
  const torrent = {
    announce: tiers[0]?.[0] ?? '',
    'announce-list': tiers,
    info: { name: 'x.bin', length: 1000, 'piece length': 16384, pieces: Buffer.alloc(20, 1) }
  }
  await writeFile(path, bencode.encode(torrent))
  return path
}

/** Run the command with stdout and stderr captured. */
async function capture (argv: string[]): Promise<{ status: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) }
  process.stdout.write = ((chunk: string) => { out += chunk; return true }) as typeof process.stdout.write
  process.stderr.write = ((chunk: string) => { err += chunk; return true }) as typeof process.stderr.write
  try {
    return { status: await run(argv), out, err }
  } finally {
    process.stdout.write = write.out
    process.stderr.write = write.err
  }
}

t.test('every tracker is asked; answers and errors are shown per tracker', async (t) => {
  const tracker = await startTracker({ interval: 900 })
  t.teardown(() => tracker.close())
  const dead = `http://127.0.0.1:${await closedPort()}/announce`
  const path = await torrentFile(t.testdir(), [[dead], [tracker.url, 'wss://tracker.example']])
  // Someone already in the swarm, so the announce has a peer to show.
  const { infoHash } = await (await import('../lib/metainfo.js')).parseMetainfo(await (await import('node:fs/promises')).readFile(path))
  await new HttpTracker(tracker.url).announce({ infoHash, peerId: Buffer.alloc(20, 5), port: 7777, uploaded: 0, downloaded: 0, left: 0 })

  // leechers 1: ourselves, until our `stopped`.
  const text = await capture([path, '--port', '6999'])
  t.equal(text.status, 0, 'one tracker answered')
  t.match(text.out, new RegExp(`${tracker.url}\\n  seeders 1, leechers 1, interval 900 s \\(min 450 s\\)\\n  peers: 1: 127\\.0\\.0\\.1:7777`))
  t.match(text.out, new RegExp(`${dead}\\n  error: .*\\[TRACKER_UNREACHABLE\\]`))
  t.match(text.out, /wss:\/\/tracker\.example\n {2}error: .*\[TRACKER_UNSUPPORTED\]/)

  const scrape = await capture([path, '--scrape', '--json'])
  t.equal(scrape.status, 0)
  const json = JSON.parse(scrape.out) as { infoHash: string, trackers: { url: string, ok: boolean, seeders?: number, leechers?: number }[] }
  t.equal(json.infoHash, infoHash.toString('hex'))
  t.match(json.trackers.find((r) => r.url === tracker.url), { ok: true, seeders: 1, leechers: 0, completed: 0 }, 'our announce was followed by stopped')
})

t.test('no tracker answering exits 1; bad arguments exit 2', async (t) => {
  const path = await torrentFile(t.testdir(), [[`udp://127.0.0.1:${await closedPort()}`]])
  const result = await capture([path])
  t.equal(result.status, 1)
  t.match(result.out, /TRACKER_UNREACHABLE/)
  t.equal((await capture(['--port', 'x', path])).status, 2)
  t.equal((await capture([])).status, 2)
})
