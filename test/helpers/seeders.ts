/**
 * Real peers for the download interop tests, and the downloader itself as a child process:
 *
 * - `makeTorrent`: a v1 .torrent made by libtorrent (a third-party tool, not our own `create`), naming a tracker.
 * - `startLibtorrentSeeder`: libtorrent (python3-libtorrent, seeders.py) serving a data directory on loopback,
 *   in seed mode (trusts the data, have-all) or as a partial seeder (hashes the data, advertises what checks).
 * - `startAria2Seeder`: aria2c seeding a data directory on loopback.
 * - `runDownload`: `node dist/bin/zentorrent.js ...` with its `--json` events parsed as they arrive; `explain`
 *   says how a run ended (for assertion messages), `sameFiles` compares what it wrote with the seeder's data.
 *
 * Every process is bounded: seeders exit when their stdin closes (libtorrent) or on SIGTERM with a SIGKILL
 * fallback; `runDownload` SIGKILLs the downloader at its deadline. A missing tool throws with what to install:
 * these tests must fail, not skip, when the reference peer is absent.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { access, readFile, writeFile } from 'node:fs/promises'
import { constants } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import net from 'node:net'
import { createInterface } from 'node:readline'
import tap, { type Test } from 'tap'
import { seededBytes } from './create-fixtures.js'
import { tempDir } from './temp.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const PYTHON = '/usr/bin/python3'
const SEEDERS_PY = join(HERE, 'seeders.py')
export const ZENTORRENT = join(HERE, '..', '..', 'dist', 'bin', 'zentorrent.js')
const ARIA2C = process.env.ARIA2C ?? '/usr/bin/aria2c'

const READY_TIMEOUT_MS = 25_000
const KILL_GRACE_MS = 2_000

/** The built CLI must exist: the tests run it as a user would. */
export async function requireBuiltCli (): Promise<void> {
  try {
    await access(ZENTORRENT, constants.R_OK)
  } catch {
    throw new Error(`${ZENTORRENT} is missing: build first (npx tsc -p tsconfig.build.json)`)
  }
}

async function requirePython (): Promise<void> {
  try {
    await access(PYTHON, constants.X_OK)
  } catch {
    throw new Error(`${PYTHON} is missing: apt-get install python3 python3-libtorrent`)
  }
}

/** Run seeders.py once and return its stdout. */
async function python (command: string, args: unknown): Promise<string> {
  await requirePython()
  const child = spawn(PYTHON, [SEEDERS_PY, command, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`seeders.py ${command} exited ${String(code)}: ${err}`)
  return out
}

/** A v1 .torrent of `source` (file or directory) made by libtorrent, naming `tracker` (none if empty); returns its info hash. */
export async function makeTorrent (source: string, out: string, tracker: string, pieceLength = 16384): Promise<Buffer> {
  const reply = JSON.parse(await python('make-torrent', { source, out, tracker, pieceLength })) as { infoHash: string }
  return Buffer.from(reply.infoHash, 'hex')
}

export interface SingleFileTorrent { dir: string, data: Buffer, torrentPath: string, infoHash: Buffer }

/** A fresh temporary directory holding `data.bin` (`length` seeded bytes) and `data.torrent` made by libtorrent (no tracker). */
export async function singleFileTorrent (t: Test, prefix: string, length: number, seed: number, pieceLength?: number): Promise<SingleFileTorrent> {
  const dir = await tempDir(t, prefix)
  const data = seededBytes(length, seed)
  await writeFile(join(dir, 'data.bin'), data)
  const torrentPath = join(dir, 'data.torrent')
  const infoHash = await makeTorrent(join(dir, 'data.bin'), torrentPath, '', pieceLength)
  return { dir, data, torrentPath, infoHash }
}

export interface Seeder {
  readonly port: number
  /** Pieces the seeder advertises. */
  readonly pieces: number[]
  /** Whether the process is still running. */
  readonly alive: boolean
  /** End the process now (SIGKILL): a peer vanishing mid-download. */
  kill (): void
  stop (): Promise<void>
}

export interface LibtorrentSeederOptions {
  torrentPath: string
  /** The directory holding the torrent's name (libtorrent's save_path). */
  dataDir: string
  port?: number
  /** true (default): trust the data, advertise every piece. false: hash it and advertise only what checks. */
  seedMode?: boolean
  /** Wait until the torrent's tracker has answered an announce (the seeder is then in its peer list). */
  announce?: boolean
  /** 'forced': MSE/PE both ways with RC4 only; plain connections refused (libtorrent's enc_policy.forced). */
  encryption?: 'forced'
}

export async function startLibtorrentSeeder (opts: LibtorrentSeederOptions): Promise<Seeder> {
  await requirePython()
  const child = spawn(PYTHON, [SEEDERS_PY, 'seed', JSON.stringify({
    torrent: opts.torrentPath,
    dir: opts.dataDir,
    port: opts.port ?? 0,
    seedMode: opts.seedMode ?? true,
    announce: opts.announce ?? false,
    encryption: opts.encryption ?? null
  })], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const lines = createInterface({ input: child.stdout })
  try {
    const ready = await new Promise<{ port: number, pieces: number[] }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`libtorrent seeder not ready within ${READY_TIMEOUT_MS} ms: ${stderr}`)), READY_TIMEOUT_MS)
      lines.once('line', (line) => {
        clearTimeout(timer)
        try { resolve(JSON.parse(line) as { port: number, pieces: number[] }) } catch (err) { reject(err) }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(code === 3
          ? 'python3-libtorrent is not installed: apt-get install python3-libtorrent'
          : `libtorrent seeder exited ${String(code)} before it was ready: ${stderr}`))
      })
      child.once('error', (err) => { clearTimeout(timer); reject(err) })
    })
    return handle(child, ready.port, ready.pieces, async () => { child.stdin.end() })
  } catch (err) {
    await stopProcess(child, async () => { child.stdin.end() })
    throw err
  }
}

export interface Aria2SeederOptions {
  torrentPath: string
  /** The directory holding the torrent's name (aria2's --dir). */
  dataDir: string
  /** 'require': MSE/PE with RC4 only (`--bt-require-crypto=true --bt-min-crypto-level=arc4`). */
  encryption?: 'require'
}

/** aria2c's options for `encryption: 'require'`: MSE both ways, RC4 only, no plain connections. */
export const ARIA2_REQUIRE_CRYPTO = ['--bt-require-crypto=true', '--bt-min-crypto-level=arc4'] as const

/** aria2c seeding `dataDir` after checking it (-V), on a free port; ready once it accepts TCP connections. */
export async function startAria2Seeder (opts: Aria2SeederOptions): Promise<Seeder> {
  try {
    await access(ARIA2C, constants.X_OK)
  } catch {
    throw new Error(`aria2c is not installed at ${ARIA2C}: apt-get install aria2 (or set ARIA2C)`)
  }
  const port = await freePort()
  const child = spawn(ARIA2C, [
    '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
    '--seed-ratio=0.0', '--check-integrity=true', '--bt-seed-unverified=false',
    `--listen-port=${port}`, `--dir=${opts.dataDir}`, '--no-conf=true', '--quiet=true',
    '--bt-max-peers=0', '--disable-ipv6=true', '--file-allocation=none',
    ...(opts.encryption === 'require' ? ARIA2_REQUIRE_CRYPTO : []),
    '-V', opts.torrentPath
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  try {
    await waitListening(child, port, () => output)
    return handle(child, port, [], async () => { child.kill('SIGTERM') })
  } catch (err) {
    await stopProcess(child, async () => { child.kill('SIGTERM') })
    throw err
  }
}

function handle (child: ChildProcess, port: number, pieces: number[], politeStop: () => Promise<void>): Seeder {
  return {
    port,
    pieces,
    get alive () { return child.exitCode === null && child.signalCode === null },
    kill: () => { child.kill('SIGKILL') },
    stop: async () => { await stopProcess(child, politeStop) }
  }
}

async function stopProcess (child: ChildProcess, politeStop: () => Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await politeStop().catch(() => {})
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS)
  await exited
  clearTimeout(timer)
}

/** A TCP port free on loopback right now (bound and released; a race is caught by the caller's readiness check). */
export async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitListening (child: ChildProcess, port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`aria2c exited (${String(child.exitCode ?? child.signalCode)}) before listening on ${port}: ${output()}`)
    }
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`aria2c not listening on ${port} after ${READY_TIMEOUT_MS} ms: ${output()}`)
}

// ---- the downloader ---------------------------------------------------------------------------------------

export interface DownloadEvent {
  event: string
  time: number
  [key: string]: unknown
}

export interface DownloadResult {
  /** Exit status; null when killed by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  /** `--json` events in order (from stdout, or stderr with --stdout). */
  events: DownloadEvent[]
  stdout: Buffer
  /** stderr without the JSON event lines. */
  stderr: string
  /** Wall time from spawn to exit, ms. */
  elapsed: number
  timedOut: boolean
}

export interface RunningDownload {
  readonly child: ChildProcess
  readonly events: DownloadEvent[]
  /** Resolves when the first event satisfying `test` arrives (rejects if the process exits first). */
  waitFor: (test: (e: DownloadEvent) => boolean) => Promise<DownloadEvent>
  readonly result: Promise<DownloadResult>
  kill: (signal?: NodeJS.Signals) => void
}

export interface DownloadOptions {
  /** SIGKILL after this long (the result says timedOut). Default 45 s. */
  timeoutMs?: number
  /** Keep stdout as bytes instead of parsing it (for --stdout / -o -). */
  rawStdout?: boolean
}

/** Spawn `node dist/bin/zentorrent.js ...args`; JSON lines from stdout (or stderr) become events as they arrive. */
export function startDownload (args: readonly string[], opts: DownloadOptions = {}): RunningDownload {
  const started = Date.now()
  // loopback only: no DHT unless the test sets one up (and ZENTORRENT_NO_PUBLIC_DHT forbids the public routers)
  const dht = args.some((a) => a === '--no-dht' || a.startsWith('--dht-')) || ['create', 'info', 'announce', 'demo'].includes(args[0] ?? '') ? [] : ['--no-dht']
  const child = spawn(process.execPath, [ZENTORRENT, ...args, ...dht], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ZENTORRENT_NO_PUBLIC_DHT: '1' } })
  const events: DownloadEvent[] = []
  const waiters: Array<{ test: (e: DownloadEvent) => boolean, resolve: (e: DownloadEvent) => void, reject: (err: Error) => void }> = []
  const stdoutChunks: Buffer[] = []
  let stderr = ''
  const onLine = (line: string): boolean => {
    if (!line.startsWith('{')) return false
    let event: DownloadEvent
    try { event = JSON.parse(line) as DownloadEvent } catch { return false }
    if (typeof event.event !== 'string') return false
    events.push(event)
    for (const w of [...waiters]) {
      if (w.test(event)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(event) }
    }
    return true
  }
  if (opts.rawStdout === true) {
    child.stdout.on('data', (chunk: Buffer) => { stdoutChunks.push(chunk) })
  } else {
    createInterface({ input: child.stdout }).on('line', onLine)
  }
  createInterface({ input: child.stderr }).on('line', (line) => { if (!onLine(line)) stderr += line + '\n' })
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, opts.timeoutMs ?? 45_000)
  const result = new Promise<DownloadResult>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      // A warning Node printed (a listener leak, a deprecation) reaches the user's terminal: every run is checked.
      const warning = /^\(node:\d+\) \w*Warning: .*$/m.exec(stderr)
      if (warning !== null) tap.fail(`zentorrent ${args[0] ?? ''} printed a Node warning: ${warning[0]}`)
      for (const w of waiters.splice(0)) w.reject(new Error(`zentorrent exited (${String(code ?? signal)}) first; stderr: ${stderr}`))
      resolve({ code, signal, events, stdout: Buffer.concat(stdoutChunks), stderr, elapsed: Date.now() - started, timedOut })
    })
  })
  return {
    child,
    events,
    result,
    waitFor: async (test) => {
      const seen = events.find(test)
      if (seen !== undefined) return seen
      if (child.exitCode !== null || child.signalCode !== null) throw new Error('zentorrent has exited')
      return await new Promise<DownloadEvent>((resolve, reject) => { waiters.push({ test, resolve, reject }) })
    },
    kill: (signal = 'SIGKILL') => { child.kill(signal) }
  }
}

export async function runDownload (args: readonly string[], opts: DownloadOptions = {}): Promise<DownloadResult> {
  return await startDownload(args, opts).result
}

/** How a run ended, for assertion messages: exit status or signal, stderr and the last three events. */
export function explain (result: DownloadResult): string {
  return `exit ${String(result.code ?? result.signal)}${result.timedOut ? ' (timed out)' : ''}; stderr: ${result.stderr}; last events: ` +
    JSON.stringify(result.events.slice(-3))
}

/** One assertion per file of `files`: its copy under `downloaded` equals the one under `seeded`, byte for byte. */
export async function sameFiles (t: Test, files: Record<string, number>, seeded: string, downloaded: string): Promise<void> {
  for (const path of Object.keys(files)) {
    const want = await readFile(join(seeded, path))
    const got = await readFile(join(downloaded, path)).catch(() => null)
    t.ok(got !== null && got.equals(want), `${path} (${want.length} bytes) is identical`)
  }
}
