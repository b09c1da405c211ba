/**
 * What a crash costs (issue 17, item 8): a leecher killed with SIGKILL again and again during a download, restarted
 * each time on the same output directory, until it finishes; the seeder counts what it uploaded, so everything
 * above the torrent's size was fetched again. zentorrent and libtorrent's own client are killed on the same
 * schedule (seeded: the same waits for both), from the same zentorrent seeder, interleaved.
 *
 *   npm run build --silent && node dist/bench/kill-resume.js [--size-mib 256] [--kills 10] [--reps 3]
 *       [--pieces 1048576,8388608] [--rate 15000000]
 *
 * How each leecher runs (both limited to --rate bytes/s, so a kill lands mid-download):
 *   zentorrent  `download T -o OUT --peer SEEDER --no-trackers --no-dht --download-limit RATE --quiet`; after a
 *               kill it resumes from its own state (verified pieces recorded) and rechecks what it cannot trust
 *   libtorrent  bench/libtorrent-peer.py resume-leech: auto_managed and paused cleared, no resume data (a killed
 *               libtorrent saves none), so at each start it checks the files it finds, as its users' clients do
 * Reported per client and piece size, medians over the repetitions: MiB fetched again per kill, runs, wall
 * seconds, and whether the output is identical to the source (cmp).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MiB, PYTHON, median, runMain, writeRandomFile } from './util.js'
import { PEER_SCRIPT, ZENTORRENT_BIN } from './harness.js'

const ENV = { ...process.env, ZENTORRENT_NO_PUBLIC_DHT: '1' }

/** A deterministic sequence in [0, 1): the kill schedule, the same for every client. */
function prng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Lines of `child`'s stdout, one callback each. */
function onLines (child: ChildProcess, fn: (line: string) => void): void {
  let buffer = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8')
    let i: number
    while ((i = buffer.indexOf('\n')) >= 0) { fn(buffer.slice(0, i)); buffer = buffer.slice(i + 1) }
  })
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)))

/** `zentorrent seed` of `data` on loopback; `uploaded()` is the last total it reported. */
async function startSeeder (torrent: string, data: string): Promise<{ port: number, uploaded: () => number, stop: () => Promise<void> }> {
  const child = spawn(ZENTORRENT_BIN, ['seed', torrent, data, '--no-trackers', '--no-dht', '--port', '0', '--bind', '127.0.0.1', '--json'], { env: ENV, stdio: ['ignore', 'pipe', 'inherit'] })
  let port = 0
  let uploaded = 0
  onLines(child, (line) => {
    try {
      const event = JSON.parse(line) as { event?: string, port?: number, uploaded?: number }
      if (event.event === 'started' && typeof event.port === 'number') port = event.port
      if (typeof event.uploaded === 'number') uploaded = Math.max(uploaded, event.uploaded)
    } catch { /* not an event */ }
  })
  const deadline = Date.now() + 60_000
  while (port === 0) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the seeder did not start')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    port,
    uploaded: () => uploaded,
    stop: async () => { child.kill('SIGINT'); await exited(child) }
  }
}

type LeecherKind = 'zentorrent' | 'libtorrent'

/** One leecher process; `started` resolves when it begins to download (after its own check of what it has). */
function startLeecher (kind: LeecherKind, torrent: string, out: string, port: number, rate: number): { child: ChildProcess, started: Promise<void> } {
  if (kind === 'zentorrent') {
    const child = spawn(ZENTORRENT_BIN, [torrent, '-o', out, '--peer', `127.0.0.1:${port}`, '--no-trackers', '--no-dht', '--port', '0',
      '--download-limit', String(rate), '--json'], { env: ENV, stdio: ['ignore', 'pipe', 'inherit'] })
    const started = new Promise<void>((resolve) => onLines(child, (line) => { if (line.includes('"event":"started"')) resolve() }))
    return { child, started }
  }
  const child = spawn(PYTHON, [PEER_SCRIPT, 'resume-leech', torrent, out, String(port), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const started = new Promise<void>((resolve) => onLines(child, (line) => { if (line === 'started') resolve() }))
  return { child, started }
}

interface Outcome { client: LeecherKind, pieceLength: number, rep: number, kills: number, runs: number, refetchedMiB: number, perKillMiB: number, wallS: number, identical: boolean }

async function killedDownload (kind: LeecherKind, opts: { torrent: string, source: string, out: string, kills: number, rate: number, seed: number, size: number, pieceLength: number, rep: number }): Promise<Outcome> {
  const seeder = await startSeeder(opts.torrent, opts.source)
  const random = prng(opts.seed)
  const t0 = Date.now()
  let runs = 0
  let killed = 0
  try {
    await rm(opts.out, { recursive: true, force: true })
    await mkdir(opts.out, { recursive: true })
    for (;;) {
      runs++
      if (runs > opts.kills + 50) throw new Error(`${kind}: still not done after ${runs - 1} runs`)
      const { child, started } = startLeecher(kind, opts.torrent, opts.out, seeder.port, opts.rate)
      const exit = exited(child)
      const outcome = await Promise.race([started.then(() => 'started' as const), exit.then(() => 'exited' as const),
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 120_000))])
      if (outcome === 'timeout') { child.kill('SIGKILL'); throw new Error(`${kind}: did not start`) }
      if (outcome === 'exited') {
        if ((await exit) !== 0) throw new Error(`${kind}: exited with ${String(child.exitCode)} before starting`)
        break
      }
      if (killed < opts.kills) {
        const wait = 1000 + random() * 1500
        const timer = new Promise<'kill'>((resolve) => setTimeout(() => resolve('kill'), wait))
        if (await Promise.race([exit.then(() => 'exit' as const), timer]) === 'kill') {
          child.kill('SIGKILL')
          await exit
          killed++
          continue
        }
      }
      const code = await Promise.race([exit, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 600_000))])
      if (code === 'timeout') { child.kill('SIGKILL'); throw new Error(`${kind}: did not finish`) }
      if (code !== 0) throw new Error(`${kind}: exited with ${String(code)}`)
      break
    }
    const wallS = (Date.now() - t0) / 1000
    await new Promise((resolve) => setTimeout(resolve, 1500)) // the seeder's next report counts the last blocks
    const refetched = Math.max(0, seeder.uploaded() - opts.size)
    const identical = spawnSync('cmp', ['-s', join(opts.source, 'data.bin'), join(opts.out, 'data.bin')]).status === 0
    return { client: kind, pieceLength: opts.pieceLength, rep: opts.rep, kills: killed, runs, refetchedMiB: refetched / MiB, perKillMiB: killed === 0 ? 0 : refetched / killed / MiB, wallS, identical }
  } finally {
    await seeder.stop()
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '256' },
      kills: { type: 'string', default: '10' },
      reps: { type: 'string', default: '3' },
      pieces: { type: 'string', default: `${MiB},${8 * MiB}` },
      rate: { type: 'string', default: '15000000' },
      clients: { type: 'string', default: 'zentorrent,libtorrent' }
    }
  })
  const size = Number(values['size-mib']) * MiB
  const kills = Number(values.kills)
  const reps = Number(values.reps)
  const rate = Number(values.rate)
  const pieces = values.pieces!.split(',').map(Number)
  const clients = values.clients!.split(',') as LeecherKind[]
  for (const c of clients) if (c !== 'zentorrent' && c !== 'libtorrent') throw new Error(`no client "${c}" (zentorrent, libtorrent)`)
  const root = await mkdtemp(join(tmpdir(), 'zentorrent-kill-'))
  const log = (text: string): void => { process.stderr.write(`bench ${new Date().toISOString().slice(11, 19)}: ${text}\n`) }
  const outcomes: Outcome[] = []
  try {
    const source = join(root, 'source')
    await mkdir(source)
    await writeRandomFile(join(source, 'data.bin'), size)
    for (const pieceLength of pieces) {
      const torrent = join(root, `t-${pieceLength}.torrent`)
      // the announce URL is never used: every leecher is given the seeder directly (a closed loopback port)
      const made = spawnSync(PYTHON, [PEER_SCRIPT, 'make-torrent', join(source, 'data.bin'), torrent, String(pieceLength), 'http://127.0.0.1:9/announce'], { encoding: 'utf8' })
      if (made.status !== 0) throw new Error(`make-torrent: ${made.stderr}`)
      for (let rep = 0; rep < reps; rep++) {
        // the same kill schedule for every client in a repetition; the order rotates
        const order = rep % 2 === 0 ? clients : [...clients].reverse()
        for (const client of order) {
          const outcome = await killedDownload(client, { torrent, source, out: join(root, `out-${client}`), kills, rate, seed: 1000 + rep, size, pieceLength, rep })
          log(`${client} ${pieceLength / MiB} MiB pieces, rep ${rep + 1}: ${outcome.perKillMiB.toFixed(2)} MiB per kill, ${outcome.runs} runs, ${outcome.identical ? 'identical' : 'DIFFERENT'}`)
          outcomes.push(outcome)
        }
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
  const lines = [
    `${Number(values['size-mib'])} MiB at ${(rate / 1e6).toFixed(0)} MB/s, ${kills} SIGKILLs 1-2.5 s after each start, medians of ${reps}`,
    '',
    '| piece size | client | fetched again per kill, MiB | fetched again, MiB | wall s | output identical |',
    '|---|---|---|---|---|---|'
  ]
  for (const pieceLength of pieces) {
    for (const client of clients) {
      const mine = outcomes.filter((o) => o.client === client && o.pieceLength === pieceLength)
      if (mine.length === 0) continue
      lines.push(`| ${pieceLength / MiB} MiB | ${client} | ${median(mine.map((o) => o.perKillMiB)).toFixed(2)} | ${median(mine.map((o) => o.refetchedMiB)).toFixed(1)} | ` +
        `${median(mine.map((o) => o.wallS)).toFixed(1)} | ${mine.every((o) => o.identical) ? `yes (${mine.length}/${mine.length})` : 'NO'} |`)
    }
  }
  process.stdout.write(lines.join('\n') + '\n')
  if (outcomes.some((o) => !o.identical)) process.exitCode = 1
}

runMain(main)
