/**
 * Connections that never become peers cannot lock real ones out (an outside run: 50 handshaken connections from
 * one address that only sent keep-alives kept a libtorrent downloader out for 90 s; 1,200 idle TCP connections
 * before any handshake exhausted file descriptors). `zentorrent seed`, the CLI, against raw sockets and Wires, then a
 * real libtorrent leecher that must get in and finish.
 */
import t, { type Test } from 'tap'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import net from 'node:net'
import pump from 'pump'
import { makeTorrent, requireBuiltCli, startDownload } from './helpers/seeders.js'
import { libtorrentLeech } from './helpers/leechers.js'
import { tempDir } from './helpers/temp.js'
import { seededBytes } from './helpers/create-fixtures.js'
import { parseMetainfo } from '../lib/metainfo.js'
import { Wire } from '../lib/wire/wire.js'
import { generatePeerId } from '../lib/wire/handshake.js'
import { SWARM_DEFAULTS } from '../lib/swarm.js'
import { LISTENER_DEFAULTS } from '../lib/listener.js'

t.before(requireBuiltCli)

async function seeding (t: Test): Promise<{ dir: string, data: Buffer, torrentPath: string, port: number, pid: number, infoHash: Buffer }> {
  const dir = await tempDir(t, 'slots')
  await mkdir(join(dir, 'seed'))
  const data = seededBytes(1024 * 1024 + 7, 3)
  await writeFile(join(dir, 'seed', 'data.bin'), data)
  const torrentPath = join(dir, 'data.torrent')
  await makeTorrent(join(dir, 'seed', 'data.bin'), torrentPath, '', 64 * 1024)
  const seed = startDownload(['seed', torrentPath, join(dir, 'seed'), '--json', '--port', '0', '--bind', '127.0.0.1', '--no-trackers'], { timeoutMs: 110_000 })
  t.teardown(() => { seed.kill() })
  const started = await seed.waitFor((e) => e.event === 'started')
  await seed.waitFor((e) => e.event === 'done')
  return { dir, data, torrentPath, port: started.port as number, pid: seed.child.pid!, infoHash: parseMetainfo(await readFile(torrentPath)).infoHash }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

t.test('50 handshaken connections from one address that only keep alive: a libtorrent leecher still gets in', { timeout: 100_000 }, async (t) => {
  const s = await seeding(t)
  const wires: Wire[] = []
  let closedByUs = 0
  for (let i = 0; i < 50; i++) {
    const socket = net.connect(s.port, '127.0.0.1')
    const wire = new Wire({ peerId: generatePeerId(), infoHash: s.infoHash, keepAliveInterval: 2000 })
    wire.on('error', () => {})
    wire.once('close', () => { closedByUs++ })
    wire.resume() // read and ignore what the seeder sends
    pump(socket, wire, socket, () => {})
    wires.push(wire)
  }
  t.teardown(() => { for (const w of wires) w.destroy() })
  await sleep(3000)
  const open = wires.filter((w) => !w.destroyed && w.handshakeComplete).length
  t.ok(open <= SWARM_DEFAULTS.maxPerHost, `at most ${SWARM_DEFAULTS.maxPerHost} of them kept from one address (${open}; ${closedByUs} closed)`)
  await sleep(SWARM_DEFAULTS.idleGrace + 1000) // the idle ones are now past their grace
  const save = join(s.dir, 'lt')
  await mkdir(save)
  const run = await libtorrentLeech(t, s.torrentPath, save, s.port, 40_000)
  t.equal(run.code, 0, `libtorrent finished: ${run.stderr.slice(-500)}`)
  t.ok((await readFile(join(save, 'data.bin'))).equals(s.data), 'byte-identical')
})

t.test('300 idle TCP connections before any handshake: bounded, closed in time, then a real leecher gets in', { timeout: 100_000 }, async (t) => {
  const s = await seeding(t)
  const sockets: net.Socket[] = []
  for (let i = 0; i < 300; i++) {
    const socket = net.connect(s.port, '127.0.0.1')
    socket.on('error', () => {})
    sockets.push(socket)
  }
  t.teardown(() => { for (const so of sockets) so.destroy() })
  await sleep(1500)
  const fds = (await readdir(`/proc/${s.pid}/fd`)).length
  t.ok(fds < LISTENER_DEFAULTS.maxPending + 60, `the seeder holds ${fds} descriptors, not one per idle connection`)
  await sleep(LISTENER_DEFAULTS.handshakeTimeout + 1500)
  const stillOpen = sockets.filter((so) => !so.destroyed && so.readyState === 'open').length
  t.equal(stillOpen, 0, 'every idle connection was closed (at once, or at the handshake timeout)')
  const save = join(s.dir, 'lt')
  await mkdir(save)
  const run = await libtorrentLeech(t, s.torrentPath, save, s.port, 40_000)
  t.equal(run.code, 0, `libtorrent finished: ${run.stderr.slice(-500)}`)
  t.ok((await readFile(join(save, 'data.bin'))).equals(s.data), 'byte-identical')
})
