/**
 * Swarm benchmark (issue 6): one zentorrent seeder whose upload is limited to R, and `--leechers` leechers joining
 * at once through an embedded tracker. Measured: the time until the last leecher has every piece, against the
 * physical limit (torrent size / R: the seeder must send every byte once), and the seeder's upload in multiples
 * of the torrent's size (1× is ideal: everything beyond the first copy came from leechers trading). Median of
 * `--runs`. The same swarm with libtorrent leechers (python3-libtorrent) runs in the same invocation, runs
 * interleaved, for comparison. Targets: zentorrent's leechers done within 1.3× the limit, seeder upload ≤ 1.5×,
 * and no worse than the libtorrent swarm.
 *
 *   npm run build && node dist/bench/swarm.js [--size-mib 32] [--piece-kib 256] [--rate-mib 8] [--leechers 6]
 *                                             [--runs 3] [--kinds zentorrent,libtorrent] [--trace]
 *                                             [--request-queue-time S]
 *
 * `--trace` prints the seeder's upload every half second; `--request-queue-time` overrides zentorrent leechers'
 * scheduler `requestQueueTime` (for experiments: the table is meant to show the defaults).
 *
 * Every leecher is its own process (CPU is accounted per peer, as in real use): zentorrent's run bench/swarm-leecher.ts
 * (startTorrent with the CLI's defaults: what `zentorrent FILE.torrent --seed` does, but listening on
 * loopback only); libtorrent's run bench/libtorrent-swarm.py. Leechers keep seeding until all are done. The seeder
 * and tracker are fresh for every run, as are the output directories. Outputs a Markdown table; progress on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startTracker } from '../lib/tracker/server.js'
import { startTorrent } from '../lib/client.js'
import { createTorrent } from '../lib/create.js'
import { parseMetainfo } from '../lib/metainfo.js'
import { createTokenBucket } from '../lib/rate-limit.js'
import type { LeecherEvent } from './swarm-leecher.js'
import { CLI_RUNTIME, MiB, PYTHON, median, projectRoot, runMain, sha1File, writeRandomFile } from './util.js'

const leecherScript = join(dirname(fileURLToPath(import.meta.url)), 'swarm-leecher.js')
const libtorrentScript = join(projectRoot, 'bench', 'libtorrent-swarm.py')
const FILE_NAME = 'swarm.bin'
/** A run that takes longer than this many times the physical limit (plus start-up) has failed. */
const DEADLINE_FACTOR = 6
const DEADLINE_SLACK_MS = 15_000

interface Leecher {
  child: ChildProcess
  dir: string
  started: number | null
  done: number | null
  stats: { uploaded: number, downloaded: number, cpu: number, peers: number } | null
  exited: Promise<void>
}

interface RunResult {
  /** Seconds from the first leecher joining to the last one done; NaN when the deadline passed. */
  seconds: number
  seederShare: number
  leecherCpu: number
  correct: boolean
}

function spawnLeecher (kind: string, torrentPath: string, dir: string, requestQueueTime: number | undefined): Leecher {
  const child = kind === 'zentorrent'
    // the CLI's own runtime settings (bin/zentorrent.ts's shebang: V8 flag and malloc settings), so memory and CPU
    // behaviour match what a user runs
    ? spawn(process.execPath, [...CLI_RUNTIME.nodeFlags, leecherScript, torrentPath, dir,
      ...(requestQueueTime !== undefined ? ['--request-queue-time', String(requestQueueTime)] : [])],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...CLI_RUNTIME.env } })
    : spawn(PYTHON, [libtorrentScript, torrentPath, dir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const leecher: Leecher = {
    child,
    dir,
    started: null,
    done: null,
    stats: null,
    exited: new Promise((resolve) => child.once('exit', () => resolve()))
  }
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let event: LeecherEvent
    try { event = JSON.parse(line) as LeecherEvent } catch { process.stderr.write(`bench: ${kind}: ${line}\n`); return }
    if (event.event === 'started') leecher.started = event.time
    else if (event.event === 'done') leecher.done = event.time
    else leecher.stats = { uploaded: event.uploaded, downloaded: event.downloaded, cpu: event.cpu, peers: event.peers }
  })
  return leecher
}

/** Close stdin (the leecher reports and exits); SIGKILL whatever is still there after `graceMs`. */
async function stopLeecher (leecher: Leecher, graceMs: number): Promise<void> {
  leecher.child.stdin?.end()
  const timer = setTimeout(() => leecher.child.kill('SIGKILL'), graceMs)
  await leecher.exited
  clearTimeout(timer)
}

async function waitFor (condition: () => boolean, deadline: number): Promise<boolean> {
  while (!condition()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}

interface SwarmConfig { trace: boolean, requestQueueTime: number | undefined, root: string, file: string, expected: string, size: number, pieceLength: number, rate: number, leechers: number }

async function runSwarm (kind: string, run: number, config: SwarmConfig): Promise<RunResult> {
  const runDir = join(config.root, `run-${run}-${kind}`)
  await mkdir(runDir, { recursive: true })
  // interval 2 s: a peer that re-announces finds the others quickly (zentorrent's announcer floors it at 60 s,
  // libtorrent at its own minimum; either way leechers mostly learn of each other from incoming connections)
  const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 2 })
  const leechers: Leecher[] = []
  let seeder: Awaited<ReturnType<typeof startTorrent>> | null = null
  try {
    const bytes = await createTorrent(config.file, { announce: tracker.url, pieceLength: config.pieceLength })
    const torrentPath = join(runDir, `${FILE_NAME}.torrent`)
    await writeFile(torrentPath, bytes)
    seeder = await startTorrent(parseMetainfo(bytes), {
      dht: false, output: dirname(config.file),
      seed: true,
      listen: { host: '127.0.0.1', ports: [0] },
      ownAddresses: [],
      uploader: { uploadLimit: createTokenBucket({ rate: config.rate }) }
    })
    // the seeder is in the tracker's list before any leecher asks
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the seeder did not announce')), 10_000)
      seeder!.announcer!.once('response', () => { clearTimeout(timer); resolve() })
    })

    const spawnedAt = Date.now() / 1000
    for (let i = 0; i < config.leechers; i++) {
      const dir = join(runDir, `leecher-${i}`)
      await mkdir(dir)
      leechers.push(spawnLeecher(kind, torrentPath, dir, config.requestQueueTime))
    }
    const limitMs = config.size / config.rate * 1000
    const deadline = Date.now() + limitMs * DEADLINE_FACTOR + DEADLINE_SLACK_MS
    // --trace: the seeder's upload rate each half second, to see where the time goes
    const trace = config.trace
      ? setInterval(() => {
        const stats = seeder!.torrent.stats()
        process.stderr.write(`  seeder ${(stats.uploaded / config.size).toFixed(2)}× ${(stats.uploadRate / MiB).toFixed(1)} MiB/s, ` +
          `${stats.peersConnected} peers, ${leechers.filter((l) => l.done !== null).length} done\n`)
      }, 500)
      : null
    const finished = await waitFor(() => leechers.every((l) => l.done !== null), deadline)
    if (trace !== null) clearInterval(trace)
    const seederUploaded = seeder.torrent.stats().uploaded
    await Promise.all(leechers.map(async (l) => await stopLeecher(l, 5000)))

    let correct = finished
    for (const [i, l] of leechers.entries()) {
      const same = await sha1File(join(l.dir, FILE_NAME)).catch(() => '') === config.expected
      if (!same) process.stderr.write(`bench: ${kind} run ${run + 1}: leecher ${i}'s data is wrong or missing\n`)
      correct &&= same
    }
    const firstStart = Math.min(...leechers.map((l) => l.started ?? Infinity))
    const lastDone = Math.max(...leechers.map((l) => l.done ?? Infinity))
    const result: RunResult = {
      seconds: finished ? lastDone - firstStart : NaN,
      seederShare: seederUploaded / config.size,
      leecherCpu: median(leechers.map((l) => l.stats?.cpu ?? NaN)),
      correct
    }
    const spawned = leechers.map((l) => ((l.started ?? NaN) - spawnedAt).toFixed(1)).join(' ')
    const leecherUploads = leechers.map((l) => `${((l.stats?.uploaded ?? NaN) / config.size).toFixed(2)}` +
      `(${l.stats?.peers ?? '?'}p,${((l.done ?? NaN) - firstStart).toFixed(1)}s)`).join(' ')
    process.stderr.write(`bench: ${kind} run ${run + 1}: ${finished ? `${result.seconds.toFixed(2)} s` : 'DEADLINE PASSED'}, ` +
      `seeder ${result.seederShare.toFixed(2)}× size, leechers uploaded ${leecherUploads} × size (peers connected, done at), ` +
      `CPU ${result.leecherCpu.toFixed(2)} s a leecher, joined ${spawned} s after spawn, ${correct ? 'data correct' : 'DATA WRONG'}\n`)
    return result
  } finally {
    await Promise.all(leechers.map(async (l) => await stopLeecher(l, 1000)))
    await seeder?.stop()
    await tracker.close()
    await rm(runDir, { recursive: true, force: true })
  }
}

async function main (): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'size-mib': { type: 'string', default: '32' },
      'piece-kib': { type: 'string', default: '256' },
      'rate-mib': { type: 'string', default: '8' },
      leechers: { type: 'string', default: '6' },
      runs: { type: 'string', default: '3' },
      kinds: { type: 'string', default: 'zentorrent,libtorrent' },
      trace: { type: 'boolean' },
      'request-queue-time': { type: 'string' }
    }
  })
  const requestQueueTime = values['request-queue-time'] === undefined ? undefined : Number(values['request-queue-time'])
  const size = Math.round(Number(values['size-mib']) * MiB)
  const pieceLength = Number(values['piece-kib']) * 1024
  const rate = Number(values['rate-mib']) * MiB
  const leecherCount = Number(values.leechers)
  const runs = Number(values.runs)
  const kinds = values.kinds!.split(',')
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-swarm-bench-'))
  try {
    await mkdir(join(root, 'seed'))
    const file = join(root, 'seed', FILE_NAME)
    process.stderr.write(`bench: writing ${values['size-mib']} MiB…\n`)
    await writeRandomFile(file, size)
    const config: SwarmConfig = { trace: values.trace === true, requestQueueTime, root, file, expected: await sha1File(file), size, pieceLength, rate, leechers: leecherCount }
    const results = new Map<string, RunResult[]>(kinds.map((k) => [k, []]))
    for (let run = 0; run < runs; run++) {
      // alternate which kind goes first, so neither always runs on a machine the other has just warmed
      const order = run % 2 === 0 ? kinds : [...kinds].reverse()
      for (const kind of order) results.get(kind)!.push(await runSwarm(kind, run, config))
    }

    const limit = size / rate
    const lines = [
      `Swarm of ${leecherCount} leechers and one zentorrent seeder limited to ${values['rate-mib']} MiB/s, ` +
        `${values['size-mib']} MiB in ${values['piece-kib']} KiB pieces, loopback; physical limit ${limit.toFixed(2)} s; median of ${runs}`,
      '',
      '| leechers | s to all done | × limit | seeder upload ÷ size | worst run (s, ÷ size) | CPU s a leecher | all correct |',
      '|---|---|---|---|---|---|---|'
    ]
    for (const [kind, rs] of results) {
      const seconds = median(rs.map((r) => r.seconds))
      const worstSeconds = rs.some((r) => Number.isNaN(r.seconds)) ? 'failed' : Math.max(...rs.map((r) => r.seconds)).toFixed(2)
      const worstShare = Math.max(...rs.map((r) => r.seederShare))
      lines.push(`| ${kind} | ${seconds.toFixed(2)} | ${(seconds / limit).toFixed(2)}× | ${median(rs.map((r) => r.seederShare)).toFixed(2)}× | ` +
        `${worstSeconds}, ${worstShare.toFixed(2)}× | ${median(rs.map((r) => r.leecherCpu)).toFixed(2)} | ${rs.every((r) => r.correct) ? 'yes' : 'NO'} |`)
    }
    process.stdout.write(lines.join('\n') + '\n')
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

runMain(main)
