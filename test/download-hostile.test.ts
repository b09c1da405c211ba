/**
 * The CLI against bad peers and bad input: a peer that answers every request with wrong bytes (scripted here with
 * our own Wire, in the responder role) next to an honest libtorrent seeder; a garbage .torrent; --stdout with a
 * multi-file torrent; a torrent with no way to find peers; a peer address where nobody listens.
 */
import t, { type Test } from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import net from 'node:net'
import pump from 'pump'
import { Wire } from '../lib/wire/wire.js'
import { BitField } from '../lib/wire/bitfield.js'
import { generatePeerId } from '../lib/wire/handshake.js'
import { writeTree, seededBytes } from './helpers/create-fixtures.js'
import { explain, singleFileTorrent, freePort, makeTorrent, requireBuiltCli, runDownload, startLibtorrentSeeder, type DownloadResult } from './helpers/seeders.js'
import { tempDir } from './helpers/temp.js'
import { startGate } from './helpers/gate.js'

// One block per piece: each bad piece has one contributor, so only the corrupter can collect strikes. Enough
// pieces that the first requests to both peers leave most blocks unrequested (no endgame duplicates yet), so the
// corrupter's answers are used rather than raced by the honest seeder's.
const PIECE_LENGTH = 16384
const LENGTH = 200 * PIECE_LENGTH + 999
const PIECE_COUNT = Math.ceil(LENGTH / PIECE_LENGTH)

/** One line on stderr, from zentorrent, with no stack trace. */
function oneLineError (t: Test, result: DownloadResult, what: RegExp): void {
  const lines = result.stderr.trim().split('\n')
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`)
  t.match(lines[0], /^zentorrent: /, 'it names the program')
  t.match(lines[0], what, 'it says what is wrong')
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
}

/**
 * A peer that claims every piece, unchokes at once and answers each request with the right length of wrong
 * bytes. Listens on loopback; the downloader dials it (--peer).
 */
async function startCorrupter (t: Test, infoHash: Buffer, layout = { pieceLength: PIECE_LENGTH, length: LENGTH }, corrupt = (_n: number): boolean => true, data?: Buffer): Promise<{ port: number, served: () => number }> {
  const pieceCount = Math.ceil(layout.length / layout.pieceLength)
  let served = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    // without it Nagle holds our block behind its 13-byte header until the downloader's delayed ACK (~40 ms)
    socket.setNoDelay(true)
    socket.once('close', () => sockets.delete(socket))
    const wire = new Wire({ peerId: generatePeerId() })
    pump(socket, wire, socket, () => {})
    wire.once('handshake', (hs) => {
      if (!hs.infoHash.equals(infoHash)) { wire.destroy(); return }
      wire.accept({ infoHash, pieceCount, pieceLength: layout.pieceLength, lastPieceLength: layout.length - (pieceCount - 1) * layout.pieceLength })
      if (wire.supportsFast) {
        wire.haveAll()
      } else {
        const all = new BitField(pieceCount)
        all.setAll()
        wire.bitfield(all)
      }
      wire.unchoke()
    })
    wire.on('request', (index, offset, length) => {
      const start = index * layout.pieceLength + offset
      const good = data?.subarray(start, start + length)
      wire.piece(index, offset, corrupt(served) || good === undefined ? Buffer.alloc(length, 0xa5) : good)
      served++
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const address = server.address() as net.AddressInfo
  return { port: address.port, served: () => served }
}

t.before(requireBuiltCli)

t.test('a corrupting peer next to an honest libtorrent seeder: the download completes and the corrupter is banned', { timeout: 60_000 }, async (t) => {
  const { dir, data, torrentPath, infoHash } = await singleFileTorrent(t, 'hostile', LENGTH, 5, PIECE_LENGTH)
  const corrupter = await startCorrupter(t, infoHash)
  const honest = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
  t.teardown(honest.stop)

  // the honest seeder is reachable only once the corrupter has answered a request, so the corrupter is used
  const honestPort = await startGate(t, honest.port, () => corrupter.served() > 0)

  const out = join(dir, 'out')
  const result = await runDownload([torrentPath, '-o', out, '--json', '--port', '0',
    '--peer', `127.0.0.1:${corrupter.port}`, '--peer', `127.0.0.1:${honestPort}`], { timeoutMs: 45_000 })
  t.equal(result.code, 0, `exit 0 (${explain(result)})`)
  t.ok(corrupter.served() > 0, `the corrupter was asked for blocks (${corrupter.served()})`)
  const invalid = result.events.filter((e) => e.event === 'piece-invalid')
  t.ok(invalid.length > 0, `bad pieces were reported (${invalid.length})`)
  const bans = result.events.filter((e) => e.event === 'peer-banned').map((e) => e.id)
  t.same(bans, [`127.0.0.1:${corrupter.port}`], 'the corrupter, and only it, is banned')
  const done = result.events.find((e) => e.event === 'done')
  t.ok((done?.wasted as number) > 0, 'the corrupt bytes are counted as wasted')
  t.ok((await readFile(join(out, 'data.bin'))).equals(data), 'the file is identical')
})

t.test('a liar that corrupts one block in five, next to an honest seeder from the start: only the liar is ever banned', { timeout: 120_000 }, async (t) => {
  // pieces of four blocks, both peers contributing to the same pieces: a failed piece has two contributors, and
  // blaming both (as zentorrent once did) banned the honest seeder in about a third of such runs
  const pieceLength = 4 * 16384
  const length = 60 * pieceLength + 1234
  for (let run = 0; run < 4; run++) {
    const { dir, data, torrentPath, infoHash } = await singleFileTorrent(t, `liar-${run}`, length, 40 + run, pieceLength)
    const liar = await startCorrupter(t, infoHash, { pieceLength, length }, (n) => n % 5 === 2, data)
    const honest = await startLibtorrentSeeder({ torrentPath, dataDir: dir })
    const out = join(dir, 'out')
    const result = await runDownload([torrentPath, '-o', out, '--json', '--port', '0', '--no-trackers',
      '--peer', `127.0.0.1:${liar.port}`, '--peer', `127.0.0.1:${honest.port}`], { timeoutMs: 45_000 })
    await honest.stop()
    t.equal(result.code, 0, `run ${run}: exit 0 (${explain(result)})`)
    const bans = result.events.filter((e) => e.event === 'peer-banned').map((e) => e.id)
    t.notOk(bans.includes(`127.0.0.1:${honest.port}`), `run ${run}: the honest seeder is never banned (bans: ${bans.join(', ')})`)
    if (result.events.some((e) => e.event === 'piece-invalid')) t.same(bans, [`127.0.0.1:${liar.port}`], `run ${run}: the liar is banned`)
    t.ok((await readFile(join(out, 'data.bin'))).equals(data), `run ${run}: the file is identical`)
  }
})

t.test('a garbage .torrent: non-zero exit with a one-line error', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'garbage')
  const path = join(dir, 'garbage.torrent')
  await writeFile(path, seededBytes(3000, 9))
  const result = await runDownload([path, '-o', join(dir, 'out'), '--peer', '127.0.0.1:9'], { timeoutMs: 15_000 })
  t.not(result.code, 0, `non-zero exit (${explain(result)})`)
  t.notOk(result.timedOut, 'it exits by itself')
  oneLineError(t, result, /torrent|bencod|metainfo/i)
})

t.test('--stdout with a multi-file torrent: exit 2 with a clear error', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'stdout-multi')
  await writeTree(dir, { 'tree/a': 100, 'tree/b/c': 200 })
  const torrentPath = join(dir, 'tree.torrent')
  await makeTorrent(join(dir, 'tree'), torrentPath, 'http://127.0.0.1:1/announce')
  for (const flag of [['--stdout'], ['-o', '-']]) {
    const result = await runDownload([torrentPath, ...flag, '--peer', '127.0.0.1:9'], { timeoutMs: 15_000, rawStdout: true })
    t.equal(result.code, 2, `${flag.join(' ')}: exit 2 (${explain(result)})`)
    t.equal(result.stdout.length, 0, 'nothing on stdout')
    oneLineError(t, result, /single-file/)
  }
})

t.test('a torrent with no tracker and no --peer: a clear error', { timeout: 30_000 }, async (t) => {
  const { dir, torrentPath } = await singleFileTorrent(t, 'no-peers', 50_000, 3)
  const result = await runDownload([torrentPath, '-o', join(dir, 'out'), '--json'], { timeoutMs: 15_000 })
  t.not(result.code, 0, `non-zero exit (${explain(result)})`)
  t.notOk(result.timedOut, 'it exits by itself')
  oneLineError(t, result, /tracker.*--peer|--peer.*tracker/)
  t.match(result.stderr, /NO_PEERS/, 'with its code')
})

t.test('--stall-timeout 3 with a peer where nobody listens: NO_PEERS within bounds', { timeout: 30_000 }, async (t) => {
  const { dir, torrentPath } = await singleFileTorrent(t, 'stall', 50_000, 4)
  const nobody = await freePort()
  const result = await runDownload([torrentPath, '-o', join(dir, 'out'), '--json', '--port', '0',
    '--peer', `127.0.0.1:${nobody}`, '--stall-timeout', '3'], { timeoutMs: 20_000 })
  t.not(result.code, 0, `non-zero exit (${explain(result)})`)
  t.notOk(result.timedOut, 'it exits by itself')
  t.ok(result.elapsed >= 3000 && result.elapsed < 10_000, `after the stall timeout, not much later (${result.elapsed} ms)`)
  t.equal(result.events.find((e) => e.event === 'error')?.code, 'NO_PEERS', 'the error event has code NO_PEERS')
})
