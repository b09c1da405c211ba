/**
 * The fair download benchmark's machinery, shared by bench/download.ts, bench/encryption.ts and bench/profile.ts:
 * a real tracker (Debian's opentracker) that every client asks for peers, libtorrent seeders checked in full before
 * any timing, client runs under GNU time, and the checks that make a run count.
 *
 * One scenario (`runScenario`) goes:
 *   1. the data (made once per shape and reused, synced to disk) and a .torrent made by libtorrent, announcing to
 *      an opentracker on a port chosen for it;
 *   2. `seeders` libtorrent seeders (bench/libtorrent-peer.py seed): data checked in full, announced;
 *   3. one uncounted warm-up download by libtorrent (page cache, seeders' disk and hash state, Python's imports);
 *      then each client's optional uncounted probe run (zentorrent's `--json` event times);
 *   4. `runs` rounds; in each, every client once, the order rotated by one each round. Before each client's run:
 *      its output directory gone, the tracker restarted (it knows only the seeders, so no client is told about an
 *      earlier client's dead address), the seeders re-announced, `sync`, the page cache dropped when this machine
 *      allows it (`PREPARE.dropCaches`) and the seeders' data read back in, then the seeders armed to report the
 *      first block request they receive;
 *   5. each run: wall, user and system CPU and peak RSS from GNU time; peak anonymous and file-backed RSS sampled
 *      from /proc every `SAMPLE_MS` (libtorrent maps its files, so its RSS counts cached file pages); the time
 *      from spawn to the first block request any seeder received; every output file's SHA1 against the source.
 *      A run that exits non-zero, times out or writes wrong data is failed: counted as a failure, never a time.
 *
 * Medians (`summarise`) are over the correct runs only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, rm, writeFile, chmod, mkdtemp, open } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { loadavg, tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import net from 'node:net'
import dgram from 'node:dgram'
import { MiB, PYTHON, median, projectRoot, sha1File, writeRandomFile } from './util.js'

export const PEER_SCRIPT = join(projectRoot, 'bench', 'libtorrent-peer.py')
export const OPENTRACKER = process.env.OPENTRACKER ?? '/usr/bin/opentracker'
export const GiB = 1024 * MiB

export const HARNESS_DEFAULTS = {
  /** /proc sampling period for anonymous / file-backed RSS. */
  sampleMs: 50,
  /** A client's run is killed (and failed) after this long. */
  runTimeoutMs: 600_000,
  /** How long a seeder may take to check its data and announce. */
  seederReadyMs: 300_000,
  /** After a run, how long to wait for the seeders' first-request report. */
  firstRequestGraceMs: 2_000,
  /** The load check before a scenario: wait while the 1-minute load is above this … */
  maxLoad: 3,
  /** … checking this often … */
  loadCheckMs: 60_000,
  /** … for at most this long, then run anyway (the load is recorded with the numbers). */
  loadWaitMs: 600_000
} as const

// ---------------------------------------------------------------------------------------------------------------
// data

export interface DataFile { path: string, relative: string, bytes: number, sha1: string }
export interface DataSet { name: string, dir: string, source: string, files: DataFile[], bytes: number }
export interface DataShape { name: string, files: Array<{ relative: string, bytes: number }> }

/** One file of `bytes`. */
export function singleFile (bytes: number): DataShape {
  return { name: `single-${bytes}`, files: [{ relative: 'bench.bin', bytes }] }
}

/**
 * `count` files of `total` bytes in a folder (two subfolders), sizes from 0.2× to 1.8× the mean by a fixed
 * sequence (so every run of the benchmark has the same torrent shape) and never piece-aligned.
 */
export function manyFiles (count: number, total: number): DataShape {
  let x = 12345
  const weights: number[] = []
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    weights.push(0.2 + 1.6 * (x / 2147483648))
  }
  const sum = weights.reduce((a, b) => a + b, 0)
  const sizes = weights.map((w) => Math.floor(w / sum * total) + 1)
  sizes[count - 1]! += total - sizes.reduce((a, b) => a + b, 0)
  const files = sizes.map((bytes, i) => ({
    relative: join('bench-files', i < count / 2 ? 'part-1' : 'part-2', `file-${String(i).padStart(2, '0')}.bin`),
    bytes
  }))
  return { name: `files-${count}-${total}`, files }
}

/** Write the shape's random data under `root` (once: a shape already written is reused), synced, hashed. */
export async function makeData (root: string, shape: DataShape, cache: Map<string, DataSet>): Promise<DataSet> {
  const known = cache.get(shape.name)
  if (known !== undefined) return known
  const dir = join(root, 'data', shape.name)
  const files: DataFile[] = []
  for (const f of shape.files) {
    const path = join(dir, f.relative)
    await mkdir(dirname(path), { recursive: true })
    await writeRandomFile(path, f.bytes)
    files.push({ path, relative: f.relative, bytes: f.bytes, sha1: '' })
  }
  // flushed now: otherwise the kernel writes the new pages back ~30 s later, in whichever client's run falls then
  spawnSync('sync')
  for (const f of files) f.sha1 = await sha1File(f.path)
  const top = shape.files[0]!.relative.split('/')[0]!
  const set = { name: shape.name, dir, source: join(dir, top), files, bytes: files.reduce((a, f) => a + f.bytes, 0) }
  cache.set(shape.name, set)
  return set
}

/** Every file of the set at the same relative path under `out`, byte for byte (by SHA1). */
export async function verifyOutput (out: string, data: DataSet): Promise<boolean> {
  for (const f of data.files) {
    const got = await sha1File(join(out, f.relative)).catch(() => '')
    if (got !== f.sha1) return false
  }
  return true
}

/** A v1 .torrent of the set made by libtorrent (mktorrent 1.1 refuses pieces under 32 KiB); its info hash. */
export async function makeTorrent (data: DataSet, out: string, pieceLength: number, trackerUrl: string): Promise<string> {
  const made = spawnSync(PYTHON, [PEER_SCRIPT, 'make-torrent', data.source, out, String(pieceLength), trackerUrl], { encoding: 'utf8' })
  if (made.status !== 0) throw new Error(`make-torrent failed: ${made.stderr}`)
  return made.stdout.trim()
}

// ---------------------------------------------------------------------------------------------------------------
// machine state

/** Whether `echo 3 > /proc/sys/vm/drop_caches` works here (root in a VM: yes; in most containers: no). */
export function canDropCaches (): boolean {
  return spawnSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' }).status === 0
}

/**
 * Between runs: dirty pages written back, then (when allowed) the page cache dropped and the seeders' data read
 * back in, so each run starts from the same state: sources cached, nothing else cached, nothing dirty.
 */
export async function settle (data: DataSet, dropCaches: boolean): Promise<void> {
  spawnSync('sync')
  if (!dropCaches) return
  spawnSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches'])
  const buffer = Buffer.allocUnsafe(4 * MiB)
  for (const f of data.files) {
    const handle = await open(f.path, 'r')
    try {
      while ((await handle.read(buffer, 0, buffer.length, null)).bytesRead > 0) { /* read into the cache */ }
    } finally { await handle.close() }
  }
}

export interface LoadReading { load1: number, load5: number, waitedS: number, quiet: boolean }

/** Wait (bounded) for the 1-minute load to fall to `maxLoad`; what it was when we started. */
export async function waitForQuiet (log: (text: string) => void, opts: { maxLoad?: number, checkMs?: number, waitMs?: number } = {}): Promise<LoadReading> {
  const maxLoad = opts.maxLoad ?? HARNESS_DEFAULTS.maxLoad
  const checkMs = opts.checkMs ?? HARNESS_DEFAULTS.loadCheckMs
  const waitMs = opts.waitMs ?? HARNESS_DEFAULTS.loadWaitMs
  const start = Date.now()
  for (;;) {
    const [load1, load5] = loadavg() as [number, number, number]
    const waitedS = (Date.now() - start) / 1000
    if (load1 <= maxLoad) return { load1, load5, waitedS, quiet: true }
    if (Date.now() - start >= waitMs) {
      log(`load ${load1.toFixed(2)} still above ${maxLoad} after ${waitedS.toFixed(0)} s: running anyway`)
      return { load1, load5, waitedS, quiet: false }
    }
    log(`load ${load1.toFixed(2)} above ${maxLoad}: waiting`)
    await new Promise((resolve) => setTimeout(resolve, checkMs))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// tracker

/** A random port in 20000-59999 free for TCP and UDP on 127.0.0.1 right now, or null. */
async function candidatePort (): Promise<number | null> {
  const port = 20000 + Math.floor(Math.random() * 40000)
  const tcp = net.createServer()
  const udp = dgram.createSocket('udp4')
  try {
    await new Promise<void>((resolve, reject) => { tcp.once('error', reject); tcp.listen(port, '127.0.0.1', resolve) })
    await new Promise<void>((resolve, reject) => { udp.once('error', reject); udp.bind(port, '127.0.0.1', resolve) })
    return port
  } catch {
    return null
  } finally {
    tcp.close()
    try { udp.close() } catch {}
  }
}

export async function freePort (): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await candidatePort()
    if (port !== null) return port
  }
  throw new Error('no free port for the tracker')
}

async function stopChild (child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/**
 * Debian's opentracker on 127.0.0.1:`port` (HTTP and UDP), serving only `infoHashes`. It chroots to its directory
 * and drops root to `nobody` before reading the whitelist, so the whitelist lives in a world-readable temp
 * directory (as test/helpers/opentracker.ts does; this one keeps its port across restarts, which the torrent names).
 */
export class Opentracker {
  readonly port: number
  readonly url: string
  #dir: string
  #child: ChildProcess | null = null

  private constructor (port: number, dir: string) {
    this.port = port
    this.url = `http://127.0.0.1:${port}/announce`
    this.#dir = dir
  }

  static async start (port: number, infoHashes: string[]): Promise<Opentracker> {
    const dir = await mkdtemp(join(tmpdir(), 'zentorrent-bench-tracker-'))
    await chmod(dir, 0o755)
    await writeFile(join(dir, 'whitelist'), infoHashes.map((h) => h + '\n').join(''))
    await chmod(join(dir, 'whitelist'), 0o644)
    const tracker = new Opentracker(port, dir)
    await tracker.restart()
    return tracker
  }

  /** A fresh tracker on the same port: it knows no peer. */
  async restart (): Promise<void> {
    if (this.#child !== null) await stopChild(this.#child)
    let output = ''
    for (let attempt = 0; attempt < 20; attempt++) {
      const child = spawn(OPENTRACKER, ['-i', '127.0.0.1', '-p', String(this.port), '-P', String(this.port), '-d', this.#dir, '-w', '/whitelist'],
        { stdio: ['ignore', 'pipe', 'pipe'] })
      child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
      child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
      if (await listening(child, this.port)) { this.#child = child; return }
      await stopChild(child)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`opentracker did not start on ${this.port}: ${output.slice(-400)}`)
  }

  async stop (): Promise<void> {
    if (this.#child !== null) await stopChild(this.#child)
    this.#child = null
    await rm(this.#dir, { recursive: true, force: true })
  }
}

async function listening (child: ChildProcess, port: number): Promise<boolean> {
  const deadline = Date.now() + 3000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok && child.exitCode === null) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return false
}

// ---------------------------------------------------------------------------------------------------------------
// seeders

type SeederEvent =
  | { event: 'ready', port: number }
  | { event: 'announced' }
  | { event: 'first-request', id: string, time: number }
  | { event: 'stats', uploaded: number }

/** One libtorrent seeder process (bench/libtorrent-peer.py seed): checked in full, then announced. */
export class Seeder {
  readonly child: ChildProcess
  port = 0
  #waiters: Array<{ match: (e: SeederEvent) => boolean, resolve: (e: SeederEvent) => void }> = []
  #firstRequests = new Map<string, number>()
  #exited: Promise<void>
  #stopping = false

  constructor (torrent: string, dir: string, encryption: boolean) {
    this.child = spawn(PYTHON, [PEER_SCRIPT, 'seed', torrent, dir, ...(encryption ? ['--encryption=forced'] : [])],
      { stdio: ['pipe', 'pipe', 'inherit'] })
    this.#exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      if (!this.#stopping) process.stderr.write(`bench: libtorrent seeder on port ${this.port} exited unexpectedly (${String(code ?? signal)})\n`)
      resolve()
    }))
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let event: SeederEvent
      try { event = JSON.parse(line) as SeederEvent } catch { process.stderr.write(`bench: seeder: ${line}\n`); return }
      if (event.event === 'first-request') this.#firstRequests.set(event.id, event.time)
      const i = this.#waiters.findIndex((w) => w.match(event))
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(event)
    })
  }

  async #wait (match: (e: SeederEvent) => boolean, timeoutMs: number, what: string): Promise<SeederEvent> {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`libtorrent seeder: no ${what} within ${timeoutMs} ms`)), timeoutMs)
      const onExit = (): void => { clearTimeout(timer); reject(new Error(`libtorrent seeder exited before ${what}`)) }
      this.child.once('exit', onExit)
      this.#waiters.push({
        match,
        resolve: (e) => { clearTimeout(timer); this.child.off('exit', onExit); resolve(e) }
      })
    })
  }

  async ready (): Promise<void> {
    const e = await this.#wait((x) => x.event === 'ready', HARNESS_DEFAULTS.seederReadyMs, 'ready')
    if (e.event === 'ready') this.port = e.port
  }

  /** Announce again (to a restarted tracker) and wait for its answer. */
  async announce (): Promise<void> {
    const answered = this.#wait((x) => x.event === 'announced', 20_000, 'tracker reply')
    this.child.stdin!.write('announce\n')
    await answered
  }

  /** Report the first block request from now on, under `id`. */
  arm (id: string): void { this.child.stdin!.write(`arm ${id}\n`) }

  /** The epoch second of the first request since `arm(id)`, waiting up to `graceMs` for the report. */
  async firstRequest (id: string, graceMs: number): Promise<number | null> {
    const known = this.#firstRequests.get(id)
    if (known !== undefined) return known
    try {
      const e = await this.#wait((x) => x.event === 'first-request' && x.id === id, graceMs, 'first request')
      return e.event === 'first-request' ? e.time : null
    } catch { return null }
  }

  async stop (): Promise<void> {
    this.#stopping = true
    this.child.stdin?.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await this.#exited
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// one timed run

export interface Command { command: string, args: string[], env?: Record<string, string> }

export interface Measure {
  ok: boolean
  exit: number | string | null
  /** epoch ms just before the spawn */
  spawnedAt: number
  wall: number
  user: number
  system: number
  cpu: number
  maxRssKiB: number
  /** sampled peaks (/proc/PID/status) */
  peakAnonKiB: number
  peakFileKiB: number
  /** seconds from spawn to the first block request a seeder received; null when none was seen */
  firstRequest: number | null
  stdout: string
  stderrTail: string
}

async function childOf (pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')
    const first = text.trim().split(/\s+/)[0]
    return first === undefined || first === '' ? null : Number(first)
  } catch { return null }
}

async function rssOf (pid: number): Promise<{ anon: number, file: number } | null> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8')
    const anon = /RssAnon:\s+(\d+)/.exec(text)
    const file = /RssFile:\s+(\d+)/.exec(text)
    return anon === null || file === null ? null : { anon: Number(anon[1]), file: Number(file[1]) }
  } catch { return null }
}

/** Run a command under GNU time: wall, CPU, peak RSS, and sampled anonymous / file-backed RSS peaks. */
export async function timed (cmd: Command, opts: { timeoutMs?: number, captureStdout?: boolean } = {}): Promise<Measure> {
  const spawnedAt = Date.now()
  const child = spawn('/usr/bin/time', ['-f', 'BENCH %e %M %U %S', cmd.command, ...cmd.args], {
    stdio: ['ignore', opts.captureStdout === true ? 'pipe' : 'ignore', 'pipe'],
    env: { ...process.env, ...cmd.env }
  })
  let stderr = ''
  let stdout = ''
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000) })
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  let peakAnon = 0
  let peakFile = 0
  let target: number | null = null
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      if (target === null && child.pid !== undefined) target = await childOf(child.pid)
      if (target !== null) {
        const rss = await rssOf(target)
        if (rss !== null) { peakAnon = Math.max(peakAnon, rss.anon); peakFile = Math.max(peakFile, rss.file) }
      }
      await new Promise((resolve) => setTimeout(resolve, HARNESS_DEFAULTS.sampleMs))
    }
  })()
  const timer = setTimeout(() => { if (target !== null) process.kill(target, 'SIGKILL'); child.kill('SIGKILL') }, opts.timeoutMs ?? HARNESS_DEFAULTS.runTimeoutMs)
  const exit = await new Promise<number | string | null>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)))
  clearTimeout(timer)
  sampling = false
  await sampler
  const m = /BENCH ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(stderr)
  const user = Number(m?.[3] ?? NaN)
  const system = Number(m?.[4] ?? NaN)
  return {
    ok: exit === 0 && m !== null,
    exit,
    spawnedAt,
    wall: Number(m?.[1] ?? NaN),
    user,
    system,
    cpu: user + system,
    maxRssKiB: Number(m?.[2] ?? NaN),
    peakAnonKiB: peakAnon,
    peakFileKiB: peakFile,
    firstRequest: null,
    stdout,
    stderrTail: stderr.replace(/BENCH [\d. ]+\n?$/, '').slice(-600)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// a scenario

export interface Client {
  name: string
  /** The command that downloads `torrent` into `out` as the client's users run it. */
  command: (torrent: string, out: string) => Command
  /** An uncounted run before the timed ones whose stdout is kept (zentorrent `--json`): its events' times. */
  probe?: (torrent: string, out: string) => Command
}

/** libtorrent's reference leecher (bench/libtorrent-peer.py leech). */
export function libtorrentLeecher (torrent: string, out: string, encryption: boolean): Command {
  return { command: PYTHON, args: [PEER_SCRIPT, 'leech', torrent, out, ...(encryption ? ['--encryption=forced'] : [])] }
}

/**
 * The built CLI, run as a user runs it: executed directly, its shebang setting Node's flags. BENCH_ZENTORRENT_BIN
 * names another build's (to profile it with bench/profile.ts the same way).
 */
export const ZENTORRENT_BIN = process.env.BENCH_ZENTORRENT_BIN ?? join(projectRoot, 'dist', 'bin', 'zentorrent.js')

/**
 * zentorrent as the benchmarks run it: the built CLI with `--no-dht` (loopback only; ZENTORRENT_NO_PUBLIC_DHT=1 too),
 * any free port, `--quiet` for timed runs or `--json` for a probe; `extra` arguments and environment added.
 */
export function zentorrent (torrent: string, out: string, display: '--quiet' | '--json', extra: { args?: string[], env?: Record<string, string>, prefix?: string[] } = {}): Command {
  const args = [torrent, '-o', out, '--no-dht', '--port', '0', display, ...(extra.args ?? [])]
  const env = { ZENTORRENT_NO_PUBLIC_DHT: '1', ...extra.env }
  // a prefix (a runtime or a tracer) runs the script with the shebang's settings spelled out
  if (extra.prefix !== undefined && extra.prefix.length > 0) {
    return { command: extra.prefix[0]!, args: [...extra.prefix.slice(1), ZENTORRENT_BIN, ...args], env }
  }
  return { command: ZENTORRENT_BIN, args, env }
}

export interface Scenario {
  name: string
  title: string
  data: DataShape
  pieceLength: number
  seeders: number
  encryption: boolean
  clients: Client[]
  runs: number
}

export interface ClientRun extends Measure { run: number, position: number, correct: boolean }

export interface ScenarioResult {
  name: string
  title: string
  bytes: number
  files: number
  pieceLength: number
  seeders: number
  encryption: boolean
  load: { before: LoadReading, after: [number, number, number] }
  dropCaches: boolean
  warmUp: { wall: number, correct: boolean }
  probes: Record<string, { measure: Measure, correct: boolean }>
  runs: Record<string, ClientRun[]>
}

export interface ScenarioContext {
  root: string
  dataCache: Map<string, DataSet>
  dropCaches: boolean
  log: (text: string) => void
  /** Skip the load check (a quick run). */
  noLoadWait?: boolean
  /** Default `HARNESS_DEFAULTS.runTimeoutMs`. */
  runTimeoutMs?: number
}

export async function runScenario (scenario: Scenario, ctx: ScenarioContext): Promise<ScenarioResult> {
  const { log } = ctx
  const before = ctx.noLoadWait === true
    ? { load1: loadavg()[0]!, load5: loadavg()[1]!, waitedS: 0, quiet: loadavg()[0]! <= HARNESS_DEFAULTS.maxLoad }
    : await waitForQuiet(log)
  log(`${scenario.name}: load ${before.load1.toFixed(2)} ${before.load5.toFixed(2)}; preparing data`)
  const data = await makeData(ctx.root, scenario.data, ctx.dataCache)
  const dir = join(ctx.root, 'scenario', scenario.name)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const torrent = join(dir, 'bench.torrent')
  const port = await freePort()
  const infoHash = await makeTorrent(data, torrent, scenario.pieceLength, `http://127.0.0.1:${port}/announce`)
  const tracker = await Opentracker.start(port, [infoHash])
  const seeders: Seeder[] = []
  const outDir = (label: string): string => join(dir, `out-${label}`)
  const oneRun = async (command: (out: string) => Command, label: string, captureStdout: boolean, armId: string | null): Promise<{ measure: Measure, correct: boolean }> => {
    const out = outDir(label)
    await rm(out, { recursive: true, force: true })
    await mkdir(out, { recursive: true })
    await tracker.restart()
    await Promise.all(seeders.map(async (s) => await s.announce()))
    await settle(data, ctx.dropCaches)
    if (armId !== null) for (const s of seeders) s.arm(armId)
    const measure = await timed(command(out), { captureStdout, timeoutMs: ctx.runTimeoutMs ?? HARNESS_DEFAULTS.runTimeoutMs })
    if (armId !== null) {
      const times = await Promise.all(seeders.map(async (s) => await s.firstRequest(armId, HARNESS_DEFAULTS.firstRequestGraceMs)))
      const seen = times.filter((t): t is number => t !== null)
      measure.firstRequest = seen.length === 0 ? null : Math.min(...seen) - measure.spawnedAt / 1000
    }
    const correct = measure.ok && await verifyOutput(out, data)
    if (!measure.ok) log(`  ${label}: exit ${String(measure.exit)}: ${measure.stderrTail.trim().slice(-300)}`)
    else if (!correct) log(`  ${label}: output wrong or missing`)
    await rm(out, { recursive: true, force: true })
    return { measure, correct }
  }
  const result: ScenarioResult = {
    name: scenario.name,
    title: scenario.title,
    bytes: data.bytes,
    files: data.files.length,
    pieceLength: scenario.pieceLength,
    seeders: scenario.seeders,
    encryption: scenario.encryption,
    load: { before, after: [0, 0, 0] },
    dropCaches: ctx.dropCaches,
    warmUp: { wall: NaN, correct: false },
    probes: {},
    runs: Object.fromEntries(scenario.clients.map((c) => [c.name, []]))
  }
  try {
    for (let i = 0; i < scenario.seeders; i++) seeders.push(new Seeder(torrent, data.dir, scenario.encryption))
    await Promise.all(seeders.map(async (s) => await s.ready()))
    log(`${scenario.name}: ${scenario.seeders} seeder(s) ready (ports ${seeders.map((s) => s.port).join(', ')})`)

    const warm = await oneRun((out) => libtorrentLeecher(torrent, out, scenario.encryption), 'warm-up', false, null)
    result.warmUp = { wall: warm.measure.wall, correct: warm.correct }
    log(`${scenario.name}: warm-up (libtorrent, not counted): ${warm.measure.wall.toFixed(2)} s${warm.correct ? '' : ' FAILED'}`)
    if (!warm.correct) throw new Error(`${scenario.name}: the warm-up download failed; the seeders are not serving`)

    for (const client of scenario.clients) {
      if (client.probe === undefined) continue
      const probe = await oneRun((out) => client.probe!(torrent, out), `${client.name}-probe`, true, null)
      result.probes[client.name] = probe
      log(`${scenario.name}: ${client.name} probe (not counted): ${probe.measure.wall.toFixed(2)} s${probe.correct ? '' : ' FAILED'}`)
    }

    for (let run = 0; run < scenario.runs; run++) {
      const order = scenario.clients.map((_, i) => scenario.clients[(i + run) % scenario.clients.length]!)
      for (const [position, client] of order.entries()) {
        const { measure, correct } = await oneRun((out) => client.command(torrent, out), client.name, false, `${client.name}-${run}`)
        result.runs[client.name]!.push({ ...measure, stdout: '', run, position, correct })
        log(`${scenario.name}: ${client.name} run ${run + 1}: ${measure.wall.toFixed(2)} s, CPU ${measure.cpu.toFixed(2)} s ` +
          `(user ${measure.user.toFixed(2)}), RSS ${(measure.maxRssKiB / 1024).toFixed(0)} MiB (anon ${(measure.peakAnonKiB / 1024).toFixed(0)}), ` +
          `first request ${measure.firstRequest === null ? '-' : measure.firstRequest.toFixed(3)} s${correct ? '' : ', FAILED'}`)
      }
    }
  } finally {
    await Promise.all(seeders.map(async (s) => await s.stop()))
    await tracker.stop()
    await rm(dir, { recursive: true, force: true })
    result.load.after = loadavg() as [number, number, number]
  }
  return result
}

// ---------------------------------------------------------------------------------------------------------------
// summaries

export interface Summary {
  runs: number
  correct: number
  wall: number
  cpu: number
  user: number
  system: number
  maxRssMiB: number
  peakAnonMiB: number
  firstRequest: number | null
}

/** Medians over the correct runs (NaN everywhere when none was). */
export function summarise (runs: ClientRun[]): Summary {
  const good = runs.filter((r) => r.correct)
  const med = (f: (r: ClientRun) => number): number => good.length === 0 ? NaN : median(good.map(f))
  const requests = good.map((r) => r.firstRequest).filter((t): t is number => t !== null)
  return {
    runs: runs.length,
    correct: good.length,
    wall: med((r) => r.wall),
    cpu: med((r) => r.cpu),
    user: med((r) => r.user),
    system: med((r) => r.system),
    maxRssMiB: med((r) => r.maxRssKiB / 1024),
    peakAnonMiB: med((r) => r.peakAnonKiB / 1024),
    firstRequest: requests.length === 0 ? null : median(requests)
  }
}

/** A number for a table: `-` for NaN. */
export const f2 = (n: number): string => Number.isNaN(n) ? '-' : n.toFixed(2)
export const f0 = (n: number): string => Number.isNaN(n) ? '-' : n.toFixed(0)

export function formatSize (bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB} GiB`
  return bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${(bytes / 1e6).toFixed(1)} MB`
}

/** zentorrent's `--json` probe: seconds from spawn to its 'started' event, first 'piece' event, 'done' event. */
export function probeTimes (r: ScenarioResult, client = 'zentorrent'): { started: number, firstPiece: number, done: number } | null {
  const probe = r.probes[client]
  if (probe === undefined) return null
  const at: Record<string, number> = {}
  for (const line of probe.measure.stdout.split('\n')) {
    let event: { event?: string, time?: number }
    try { event = JSON.parse(line) as typeof event } catch { continue }
    if (event.event !== undefined && event.time !== undefined && at[event.event] === undefined) at[event.event] = event.time
  }
  const rel = (name: string): number => at[name] === undefined ? NaN : (at[name]! - probe.measure.spawnedAt) / 1000
  return { started: rel('started'), firstPiece: rel('piece'), done: rel('done') }
}

export function table (r: ScenarioResult): string {
  const gib = r.bytes / GiB
  const base = r.runs.libtorrent !== undefined ? summarise(r.runs.libtorrent) : null
  const lines = [
    `### ${r.name}: ${formatSize(r.bytes)}${r.files > 1 ? ` in ${r.files} files` : ''}, ${r.title}${r.encryption ? ', encryption forced (RC4)' : ''}`,
    '',
    `load before ${r.load.before.load1.toFixed(2)} / ${r.load.before.load5.toFixed(2)} (1/5 min)${r.load.before.waitedS > 0 ? `, waited ${r.load.before.waitedS.toFixed(0)} s` : ''}, ` +
      `after ${r.load.after[0].toFixed(2)} / ${r.load.after[1].toFixed(2)}; page cache dropped between runs: ${r.dropCaches ? 'yes' : 'no'}; ` +
      `warm-up ${f2(r.warmUp.wall)} s`,
    '',
    '| client | wall s | wall × lt | CPU s | CPU × lt | CPU s/GiB | peak RSS MiB | peak anon MiB | first request s | correct runs |',
    '|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const [client, runs] of Object.entries(r.runs)) {
    const s = summarise(runs)
    const ratio = (a: number, b: number | undefined): string => b === undefined || Number.isNaN(a) || Number.isNaN(b) ? '-' : `${(a / b).toFixed(2)}×`
    lines.push(`| ${client} | ${f2(s.wall)} | ${ratio(s.wall, base?.wall)} | ${f2(s.cpu)} | ${ratio(s.cpu, base?.cpu)} | ${f2(s.cpu / gib)} | ` +
      `${f0(s.maxRssMiB)} | ${f0(s.peakAnonMiB)} | ${s.firstRequest === null ? '-' : s.firstRequest.toFixed(3)} | ${s.correct}/${s.runs} |`)
  }
  for (const client of Object.keys(r.probes)) {
    const probe = probeTimes(r, client)
    if (probe === null) continue
    lines.push('', `${client} \`--json\` probe (uncounted run): 'started' at ${probe.started.toFixed(3)} s, first 'piece' written at ` +
      `${probe.firstPiece.toFixed(3)} s, 'done' at ${probe.done.toFixed(3)} s after spawn`)
  }
  return lines.join('\n')
}

/** Versions of what ran, for the raw results. */
export function environment (): Record<string, string> {
  const run = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    return (r.stdout + r.stderr).split('\n')[0]!.trim()
  }
  return {
    node: process.version,
    libtorrent: run(PYTHON, ['-c', 'import libtorrent; print(libtorrent.__version__)']),
    aria2: run('aria2c', ['--version']),
    kernel: run('uname', ['-r']),
    cpus: run('nproc', [])
  }
}

/** Write `value` as JSON to bench/out/NAME-TIMESTAMP.json (or over `path`, from an earlier call); the path. */
export async function writeRaw (name: string, value: unknown, path?: string): Promise<string> {
  const dir = join(projectRoot, 'bench', 'out')
  await mkdir(dir, { recursive: true })
  path ??= join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(path, JSON.stringify(value, null, 2) + '\n')
  return path
}
