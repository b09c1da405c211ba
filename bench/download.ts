/**
 * Download benchmark: one libtorrent seeder on loopback, and in the same run the same file downloaded by
 * zentorrent, by libtorrent's own client (python3-libtorrent) and by aria2c. Wall time (including start-up),
 * MB/s, peak RSS and CPU seconds, median of `--runs` runs each, clients interleaved (in an order rotated each run)
 * so machine noise spreads evenly.
 *
 *   npm run build && node dist/bench/download.js [--size-mib 1024] [--runs 3] [--piece-kib 1024] [--clients zentorrent,libtorrent,aria2]
 *
 * Outputs a Markdown table. Peers are found through an embedded tracker (lib/tracker/server.ts) so every client
 * is treated alike. Needs python3-libtorrent, aria2 and mktorrent (scripts/install-peers.sh).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startTracker } from '../lib/tracker/server.js'
import { PYTHON, median, projectRoot, runMain, sha1File, writeRandomFile } from './util.js'

// run as a user does: the executable with its shebang (which sets Node's young-generation size)
const zentorrentBin = join(projectRoot, 'dist', 'bin', 'zentorrent.js')
const peerScript = join(projectRoot, 'bench', 'libtorrent-peer.py')

interface Measure { seconds: number, maxRssKiB: number, cpuSeconds: number, userSeconds: number, ok: boolean }

/** Run a command under GNU time; wall seconds, peak RSS, user+system CPU. */
async function timed (command: string, args: string[], timeoutMs: number): Promise<Measure> {
  return await new Promise((resolve) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %e %M %U %S', command, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      const m = /BENCH ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(stderr)
      if (m === null || code !== 0) process.stderr.write(`bench: ${command} failed (exit ${String(code)}): ${stderr.slice(-400)}\n`)
      resolve({
        seconds: Number(m?.[1] ?? NaN),
        maxRssKiB: Number(m?.[2] ?? NaN),
        cpuSeconds: Number(m?.[3] ?? NaN) + Number(m?.[4] ?? NaN),
        userSeconds: Number(m?.[3] ?? NaN),
        ok: code === 0
      })
    })
  })
}

async function startSeeder (torrent: string, dir: string): Promise<{ port: number, child: ChildProcess }> {
  const child = spawn(PYTHON, [peerScript, 'seed', torrent, dir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('libtorrent seeder did not start')), 20_000)
    child.stdout!.once('data', (d: Buffer) => { clearTimeout(timer); resolve(Number(d.toString().trim())) })
    child.once('exit', () => reject(new Error('libtorrent seeder exited')))
  })
  return { port, child }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '1024' },
      runs: { type: 'string', default: '3' },
      'piece-kib': { type: 'string', default: '1024' },
      clients: { type: 'string', default: 'zentorrent,libtorrent,aria2' }
    }
  })
  const sizeMiB = Number(values['size-mib'])
  const runs = Number(values.runs)
  const pieceExp = Math.log2(Number(values['piece-kib']) * 1024)
  const clients = values.clients!.split(',')
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-bench-'))
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 2 })
  let seeder: ChildProcess | null = null
  try {
    const seedDir = join(root, 'seed')
    spawnSync('mkdir', ['-p', seedDir])
    const file = join(seedDir, 'bench.bin')
    process.stderr.write(`bench: writing ${sizeMiB} MiB…\n`)
    await writeRandomFile(file, sizeMiB * 1024 * 1024)
    // Flush the new file now: otherwise the kernel writes its dirty pages back ~30 s later, in the middle of
    // whichever client's run falls then.
    spawnSync('sync', [file])
    const torrent = join(root, 'bench.torrent')
    const made = spawnSync('mktorrent', ['-l', String(pieceExp), '-a', tracker.url, '-o', torrent, file])
    if (made.status !== 0) throw new Error(`mktorrent failed: ${made.stderr.toString()}`)
    const expected = await sha1File(file)
    const started = await startSeeder(torrent, seedDir)
    seeder = started.child
    const peer = `127.0.0.1:${started.port}`
    // One uncounted download first: libtorrent in seed mode hashes each piece the first time a peer asks for it,
    // and that cost would otherwise fall on whichever client runs first (always the same one: runs are interleaved
    // in a fixed order).
    {
      const warm = join(root, 'out-warm-up')
      spawnSync('mkdir', ['-p', warm])
      const w = await timed(PYTHON, [peerScript, 'leech', torrent, warm, peer], 600_000)
      process.stderr.write(`bench: warm-up (libtorrent, not counted): ${w.seconds.toFixed(2)} s\n`)
      await rm(warm, { recursive: true, force: true })
    }
    const results = new Map<string, Measure[]>(clients.map((c) => [c, []]))
    for (let run = 0; run < runs; run++) {
      // rotate the order each run, so no client always follows the same one (or the warm-up)
      const order = clients.map((_, i) => clients[(i + run) % clients.length]!)
      for (const client of order) {
        const out = join(root, `out-${client}`)
        await rm(out, { recursive: true, force: true })
        spawnSync('mkdir', ['-p', out])
        const timeout = 600_000
        let m: Measure
        if (client === 'zentorrent') {
          m = await timed(zentorrentBin, [torrent, '-o', out, '--peer', peer, '--no-trackers', '--quiet', '--port', '0'], timeout)
        } else if (client === 'libtorrent') {
          m = await timed(PYTHON, [peerScript, 'leech', torrent, out, peer], timeout)
        } else {
          m = await timed('aria2c', ['--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false',
            '--enable-peer-exchange=false', '--seed-time=0', '--bt-external-ip=127.0.0.1', '--listen-port=6990-6999',
            '--file-allocation=none', '--console-log-level=error', '--summary-interval=0', `--dir=${out}`, torrent], timeout)
        }
        const same = m.ok && await sha1File(join(out, 'bench.bin')).catch(() => '') === expected
        if (!same) process.stderr.write(`bench: ${client} run ${run + 1}: output wrong or missing\n`)
        results.get(client)!.push({ ...m, ok: same })
        process.stderr.write(`bench: ${client} run ${run + 1}: ${m.seconds.toFixed(2)} s, ${(m.maxRssKiB / 1024).toFixed(0)} MiB RSS, ` +
          `CPU ${m.cpuSeconds.toFixed(2)} s (user ${m.userSeconds.toFixed(2)})\n`)
        await rm(out, { recursive: true, force: true })
      }
    }
    const bytes = sizeMiB * 1024 * 1024
    const base = median(results.get('zentorrent')?.map((m) => m.seconds) ?? [NaN])
    const lines = [
      `Download of ${sizeMiB} MiB (${values['piece-kib']} KiB pieces) from one libtorrent seeder on loopback, median of ${runs}`,
      '',
      '| client | wall s | MB/s | peak RSS MiB | CPU s | time vs zentorrent | all runs correct |',
      '|---|---|---|---|---|---|---|'
    ]
    for (const [client, ms] of results) {
      const s = median(ms.map((m) => m.seconds))
      lines.push(`| ${client} | ${s.toFixed(2)} | ${(bytes / 1e6 / s).toFixed(0)} | ${(median(ms.map((m) => m.maxRssKiB)) / 1024).toFixed(0)} | ` +
        `${median(ms.map((m) => m.cpuSeconds)).toFixed(2)} | ${(s / base).toFixed(2)}× | ${ms.every((m) => m.ok) ? 'yes' : 'NO'} |`)
    }
    process.stdout.write(lines.join('\n') + '\n')
  } finally {
    seeder?.stdin?.end()
    seeder?.kill()
    await tracker.close()
    await rm(root, { recursive: true, force: true })
  }
}

runMain(main)
