/**
 * Streaming benchmark (issue 14): the setting of Shah & Pâris (IPCCC 2007) on loopback, time scaled down keeping the
 * ratios. One origin seeder with limited upload (a `zentorrent seed` process, `--upload-limit`), `--leechers`
 * zentorrent leechers as separate processes (`zentorrent download --http 0 --seed`, each with an upload cap relative
 * to the video rate R), joining as a flash crowd (all at once) and as a staggered arrival (one every `--gap` s). A
 * viewer plays the video from D (`--delay`) after its leecher joined: the bench reads the file over the leecher's
 * HTTP server at R from then on (ahead of that by at most `--player-buffer` s, as a player's buffer does). Every
 * leecher reports when each piece arrived (`--json` 'piece' events); piece i is due at join + D + i × pieceLength / R.
 *
 * Per policy (ZENTORRENT_STREAM_POLICY for the leechers, lib/streaming/policy.ts): rarest-first, sequential, the
 * fixed window (the readahead of lib/file-stream.ts: its default 16 MiB, here the whole remaining file, is scaled
 * to `--window` s of playback), and the deadline picker (window + deadlines + routing; its 4 s horizon scaled as the
 * window is, to `--horizon` s). Measured, medians over
 * `--runs` repetitions (policies interleaved, order rotated):
 * - success: leechers whose every piece arrived before it was due (the study's uninterrupted viewers);
 * - on time: pieces that arrived before they were due, all leechers together;
 * - startup delay: the delay D a leecher would have needed to play without interruption (median over leechers):
 *   max over pieces of (arrival − join − i × pieceLength / R), at least 0;
 * - completion: from the first join to the last leecher done; the seeder's upload ÷ the file's size.
 *
 *   npm run build && node dist/bench/streaming.js [--leechers 6] [--runs 3] [--rate-kib 256] [--duration 24]
 *        [--delay 5] [--gap 3] [--seeder-upload 2] [--leecher-upload 1.2] [--window 6] [--horizon 1.5] [--player-buffer 2]
 *        [--piece-kib 64] [--policies rarest,sequential,window,deadline] [--patterns flash,staggered]
 *
 * Outputs a Markdown table on stdout; progress on stderr. Each run is bounded: its deadline is the last join + D +
 * the video's duration + 20 s.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { tmpdir, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { startTracker } from '../lib/tracker/server.js'
import { createTorrent } from '../lib/create.js'
import { STREAM_HORIZON_ENV, STREAM_POLICIES, STREAM_POLICY_ENV, STREAM_READAHEAD_ENV, type StreamPolicy } from '../lib/streaming/policy.js'
import { MiB, median, projectRoot, runMain, writeRandomFile } from './util.js'

const CLI = join(projectRoot, 'dist', 'bin', 'zentorrent.js')
const FILE_NAME = 'video.bin'
const RUN_SLACK_MS = 20_000

interface Config {
  leechers: number
  rate: number
  duration: number
  delay: number
  gap: number
  seederUpload: number
  leecherUpload: number
  window: number
  horizon: number
  playerBuffer: number
  pieceLength: number
  size: number
}

interface Proc {
  child: ChildProcess
  events: Array<Record<string, unknown>>
  exited: Promise<void>
  on: (test: (e: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>
}

/** Every process started, so a bench stopped by a signal leaves none behind. */
const running = new Set<ChildProcess>()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { for (const child of running) child.kill('SIGKILL'); process.exit(130) })
}

function spawnCli (args: string[], env: Record<string, string> = {}): Proc {
  // loopback only: no DHT, and the guard set in case a flag is ever forgotten
  const child = spawn(process.execPath, [CLI, ...args, '--no-dht'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ZENTORRENT_NO_PUBLIC_DHT: '1', ...env } })
  running.add(child)
  child.once('exit', () => running.delete(child))
  const events: Array<Record<string, unknown>> = []
  const waiters: Array<{ test: (e: Record<string, unknown>) => boolean, resolve: (e: Record<string, unknown>) => void }> = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return
    let e: Record<string, unknown>
    try { e = JSON.parse(line) as Record<string, unknown> } catch { return }
    events.push(e)
    for (const w of [...waiters]) if (w.test(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e) }
  })
  const tag = `${args[0]}-${Math.random().toString(36).slice(2, 6)}`
  createInterface({ input: child.stderr! }).on('line', (line) => { if (!line.startsWith('{')) process.stderr.write(`  ${tag}: ${line}\n`) })
  return {
    child,
    events,
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
    on: async (test) => await new Promise((resolve) => {
      const seen = events.find(test)
      if (seen !== undefined) resolve(seen)
      else waiters.push({ test, resolve })
    })
  }
}

async function stop (p: Proc, graceMs = 3000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill('SIGTERM')
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs)
  await p.exited
  clearTimeout(timer)
}

/** A viewer: reads the file over HTTP at `rate` from `startAt`, at most `buffer` bytes ahead of the playback. */
function play (url: string, startAt: number, rate: number, buffer: number): { stop: () => void } {
  let stopped = false
  let body: NodeJS.ReadableStream & { destroy: () => void } | null = null
  let consumed = 0
  const allowed = (): number => Math.max(0, (Date.now() - startAt) * rate / 1000) + buffer
  const timer = setInterval(() => { if (body !== null && consumed < allowed()) body.resume() }, 20)
  request(url, { headersTimeout: 120_000, bodyTimeout: 0 }).then((res) => {
    if (stopped) { res.body.destroy(); return }
    body = res.body
    res.body.on('data', (chunk: Buffer) => {
      consumed += chunk.length
      if (consumed >= allowed()) res.body.pause()
    })
    res.body.on('error', () => {})
  }, () => {})
  return { stop: () => { stopped = true; clearInterval(timer); body?.destroy() } }
}

interface LeecherResult { success: boolean, onTime: number, pieces: number, neededDelay: number, binding: number, doneAt: number | null, joinedAt: number, late: string[] }
interface RunResult { leechers: LeecherResult[], completion: number, seederShare: number }

async function runOnce (root: string, torrentPath: string, dataDir: string, pattern: string, policy: StreamPolicy, c: Config, label: string): Promise<RunResult> {
  const runDir = await mkdtemp(join(root, 'run-'))
  const procs: Proc[] = []
  const players: Array<{ stop: () => void }> = []
  try {
    const seeder = spawnCli(['seed', torrentPath, dataDir, '--port', '0', '--bind', '127.0.0.1', '--json', '--upload-limit', String(Math.round(c.seederUpload * c.rate))])
    procs.push(seeder)
    await seeder.on((e) => e.event === 'started')
    await new Promise((resolve) => setTimeout(resolve, 500)) // its first announce reaches the tracker
    const pieceCount = Math.ceil(c.size / c.pieceLength)
    const leechers: Array<{ proc: Proc, joinedAt: number }> = []
    for (let i = 0; i < c.leechers; i++) {
      if (pattern === 'staggered' && i > 0) await new Promise((resolve) => setTimeout(resolve, c.gap * 1000))
      const dir = join(runDir, `leecher-${i}`)
      await mkdir(dir)
      const proc = spawnCli(['download', torrentPath, '-o', dir, '--port', '0', '--bind', '127.0.0.1', '--json', '--seed',
        '--upload-limit', String(Math.round(c.leecherUpload * c.rate)), '--http', '0',
        '--bitrate', String(c.rate), '--startup-delay', String(c.delay)],
      { [STREAM_POLICY_ENV]: policy, [STREAM_READAHEAD_ENV]: String(Math.round(c.window * c.rate)), [STREAM_HORIZON_ENV]: String(Math.round(c.horizon * 1000)) })
      procs.push(proc)
      const entry = { proc, joinedAt: NaN }
      leechers.push(entry)
      // joined: the torrent started; the viewer opens the file at once and plays from D on
      void Promise.all([proc.on((e) => e.event === 'started'), proc.on((e) => e.event === 'http')]).then(([started, http]) => {
        entry.joinedAt = started.time as number
        players.push(play(`${http.url as string}/files/0`, entry.joinedAt + c.delay * 1000, c.rate, c.playerBuffer * c.rate))
      })
    }
    const deadline = Date.now() + c.delay * 1000 + c.duration * 1000 + RUN_SLACK_MS
    while (Date.now() < deadline && !leechers.every((l) => l.proc.events.some((e) => e.event === 'done'))) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const uploads = seeder.events.filter((e) => e.event === 'progress')
    const seederUploaded = (uploads.at(-1)?.uploaded as number | undefined) ?? NaN
    const results: LeecherResult[] = leechers.map(({ proc, joinedAt }) => {
      const arrival = new Map<number, number>()
      for (const e of proc.events) if (e.event === 'piece' && !arrival.has(e.index as number)) arrival.set(e.index as number, e.time as number)
      let onTime = 0
      let needed = 0
      let binding = 0
      const late: string[] = []
      for (let i = 0; i < pieceCount; i++) {
        const at = arrival.get(i) ?? Infinity
        const due = joinedAt + c.delay * 1000 + i * c.pieceLength / c.rate * 1000
        if (at <= due) onTime++
        else if (late.length < 4) late.push(`${i}+${((at - due) / 1000).toFixed(1)}`)
        const need = at - (joinedAt + i * c.pieceLength / c.rate * 1000)
        if (need > needed) { needed = need; binding = i }
      }
      const done = proc.events.find((e) => e.event === 'done')
      return { success: onTime === pieceCount, onTime, pieces: pieceCount, neededDelay: needed / 1000, binding, doneAt: done === undefined ? null : done.time as number, joinedAt, late }
    })
    const firstJoin = Math.min(...results.map((r) => r.joinedAt))
    const completion = results.every((r) => r.doneAt !== null) ? (Math.max(...results.map((r) => r.doneAt!)) - firstJoin) / 1000 : NaN
    const run: RunResult = { leechers: results, completion, seederShare: seederUploaded / c.size }
    process.stderr.write(`bench: ${label} ${pattern} ${policy}: ${results.filter((r) => r.success).length}/${results.length} played through, ` +
      `on time ${(results.reduce((n, r) => n + r.onTime, 0) / results.reduce((n, r) => n + r.pieces, 0) * 100).toFixed(1)} %, ` +
      `needed D ${results.map((r) => `${r.neededDelay.toFixed(1)}@${r.binding}`).join(' ')} s (@ the piece that needs it), completion ${completion.toFixed(1)} s, seeder ${run.seederShare.toFixed(2)}× ` +
      `(load ${loadavg()[0]!.toFixed(1)}); first late pieces (index+s): ${results.map((r) => r.late.join(',') || '-').join(' ')}\n`)
    return run
  } finally {
    for (const p of players) p.stop()
    await Promise.all(procs.map(async (p) => await stop(p)))
    await rm(runDir, { recursive: true, force: true })
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      leechers: { type: 'string', default: '6' },
      runs: { type: 'string', default: '3' },
      'rate-kib': { type: 'string', default: '256' },
      duration: { type: 'string', default: '24' },
      delay: { type: 'string', default: '5' },
      gap: { type: 'string', default: '3' },
      'seeder-upload': { type: 'string', default: '2' },
      'leecher-upload': { type: 'string', default: '1.2' },
      window: { type: 'string', default: '6' },
      horizon: { type: 'string', default: '1.5' },
      'player-buffer': { type: 'string', default: '2' },
      'piece-kib': { type: 'string', default: '64' },
      policies: { type: 'string', default: STREAM_POLICIES.join(',') },
      patterns: { type: 'string', default: 'flash,staggered' }
    }
  })
  const rate = Number(values['rate-kib']) * 1024
  const c: Config = {
    leechers: Number(values.leechers),
    rate,
    duration: Number(values.duration),
    delay: Number(values.delay),
    gap: Number(values.gap),
    seederUpload: Number(values['seeder-upload']),
    leecherUpload: Number(values['leecher-upload']),
    window: Number(values.window),
    horizon: Number(values.horizon),
    playerBuffer: Number(values['player-buffer']),
    pieceLength: Number(values['piece-kib']) * 1024,
    size: Math.round(rate * Number(values.duration))
  }
  const policies = values.policies!.split(',') as StreamPolicy[]
  for (const p of policies) if (!(STREAM_POLICIES as readonly string[]).includes(p)) throw new Error(`unknown policy ${p}`)
  const patterns = values.patterns!.split(',')
  const runs = Number(values.runs)
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-streaming-bench-'))
  const startedAt = Date.now()
  const loads: number[] = []
  try {
    const dataDir = join(root, 'seed')
    await mkdir(dataDir)
    await writeRandomFile(join(dataDir, FILE_NAME), c.size)
    const results = new Map<string, RunResult[]>()
    for (let run = 0; run < runs; run++) {
      for (const pattern of patterns) {
        const order = policies.map((_, k) => policies[(k + run) % policies.length]!)
        for (const policy of order) {
          // a fresh tracker per run, named in a fresh .torrent (the info hash stays: the announce list is outside it)
          const tracker = await startTracker({ host: '127.0.0.1', port: 0, interval: 2 })
          try {
            const torrentPath = join(root, `run.torrent`)
            await writeFile(torrentPath, await createTorrent(join(dataDir, FILE_NAME), { announce: tracker.url, pieceLength: c.pieceLength }))
            loads.push(loadavg()[0]!)
            const key = `${pattern} ${policy}`
            const r = await runOnce(root, torrentPath, dataDir, pattern, policy, c, `run ${run + 1}/${runs}`)
            results.set(key, [...results.get(key) ?? [], r])
          } finally {
            await tracker.close()
          }
        }
      }
    }
    const lines = [
      `Streaming: ${c.leechers} zentorrent leechers (upload ${c.leecherUpload}×R each) and one zentorrent seeder (upload ${c.seederUpload}×R), ` +
        `video rate R = ${values['rate-kib']} KiB/s, ${c.duration} s (${(c.size / MiB).toFixed(1)} MiB in ${values['piece-kib']} KiB pieces), ` +
        `playback delay D = ${c.delay} s, staggered arrivals every ${c.gap} s, window ${c.window} s, deadline horizon ${c.horizon} s, player buffer ${c.playerBuffer} s; ` +
        `loopback; median of ${runs} ` +
        `(load average during the runs ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; ${((Date.now() - startedAt) / 60_000).toFixed(1)} min)`,
      '',
      '| arrival | policy | success (played through) | pieces on time | startup delay needed (s) | swarm completion (s) | × rarest-first | seeder upload ÷ size |',
      '|---|---|---|---|---|---|---|---|'
    ]
    for (const pattern of patterns) {
      const base = median((results.get(`${pattern} rarest`) ?? []).map((r) => r.completion))
      for (const policy of policies) {
        const rs = results.get(`${pattern} ${policy}`) ?? []
        const success = median(rs.map((r) => r.leechers.filter((l) => l.success).length / r.leechers.length * 100))
        const onTime = median(rs.map((r) => r.leechers.reduce((n, l) => n + l.onTime, 0) / r.leechers.reduce((n, l) => n + l.pieces, 0) * 100))
        const needed = median(rs.map((r) => median(r.leechers.map((l) => l.neededDelay))))
        const completion = median(rs.map((r) => r.completion))
        const done = Number.isFinite(completion)
        lines.push(`| ${pattern} | ${policy} | ${success.toFixed(1)} % | ${onTime.toFixed(1)} % | ${Number.isFinite(needed) ? needed.toFixed(1) : 'never'} | ` +
          `${done ? completion.toFixed(1) : 'not done by the run\'s end'} | ${done && Number.isFinite(base) ? `${(completion / base).toFixed(2)}×` : '–'} | ` +
          `${median(rs.map((r) => r.seederShare)).toFixed(2)}× |`)
      }
    }
    process.stdout.write(lines.join('\n') + '\n')
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

runMain(main)
