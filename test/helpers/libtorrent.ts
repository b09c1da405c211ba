/**
 * Real libtorrent peers for loopback tests, driven through test/helpers/libtorrent-seeder.py with the system
 * python3 (Debian's python3-libtorrent). Reusable: the download-engine tests start one or several seeders.
 *
 * A missing libtorrent is an error with a clear message, never a skip: CI installs it (.ci/run).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const PYTHON = '/usr/bin/python3'
export const SCRIPT = fileURLToPath(new URL('./libtorrent-seeder.py', import.meta.url))
/** How long a peer may take to start listening. */
const READY_TIMEOUT = 15_000
/** How long `stop()` waits for a clean exit before SIGKILL. */
const STOP_TIMEOUT = 5_000

const MISSING = 'libtorrent is not available to /usr/bin/python3: install it with `apt-get install -y python3-libtorrent` ' +
  '(scripts/install-peers.sh does this in CI)'

export interface LibtorrentPeer {
  /** The port libtorrent listens on (127.0.0.1). */
  readonly port: number
  /** Ask libtorrent to dial a peer (e.g. a zentorrent responder). */
  connect: (host: string, port: number) => void
  /** Resolves when a leech has the whole torrent (never for a seeder). */
  readonly finished: Promise<void>
  /** Everything the peer wrote on stderr (libtorrent alerts), for failure messages. */
  log: () => string
  /** Close stdin, wait for exit (SIGKILL after 5 s). Idempotent. */
  stop: () => Promise<void>
}

export interface LibtorrentPeerOptions {
  torrentPath: string
  /** For a seeder, the directory holding the torrent's data; for a leech, where to download. */
  dataDir: string
  /** 0 (default) for any free port. */
  port?: number
  /** 'forced': MSE/PE both ways with RC4 only; plain connections refused (libtorrent's enc_policy.forced). */
  encryption?: 'forced'
}

function spawnScript (args: string[]): ChildProcessWithoutNullStreams {
  return spawn(PYTHON, [SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
}

/** Run the script to completion; rejects with its stderr (and the install hint when libtorrent is missing). */
async function run (args: string[], timeoutMs = 30_000): Promise<string> {
  const child = spawnScript(args)
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  child.stdin.end()
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  }).finally(() => { clearTimeout(timer) })
  if (code !== 0) throw new Error(err.includes('No module named') ? MISSING : `libtorrent-seeder.py ${args[0]} failed (${code}): ${err}`)
  return out.trim()
}

/** Make a v1-only .torrent with libtorrent's own create_torrent; returns the info hash. */
export async function makeTorrentWithLibtorrent (opts: { dataPath: string, torrentPath: string, pieceLength: number }): Promise<{ infoHash: Buffer }> {
  const hex = await run(['make-torrent', opts.dataPath, opts.torrentPath, String(opts.pieceLength)])
  return { infoHash: Buffer.from(hex, 'hex') }
}

async function startPeer (opts: LibtorrentPeerOptions, leech: boolean): Promise<LibtorrentPeer> {
  const args = ['serve', opts.torrentPath, opts.dataDir, String(opts.port ?? 0)]
  if (leech) args.push('--leech')
  if (opts.encryption === 'forced') args.push('--encryption=forced')
  const child = spawnScript(args)
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const exited = new Promise<void>((resolve) => child.on('close', () => { resolve() }))
  let onFinished: () => void = () => {}
  const finished = new Promise<void>((resolve) => { onFinished = resolve })
  let stopping: Promise<void> | null = null
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end()
        const timer = setTimeout(() => { child.kill('SIGKILL') }, STOP_TIMEOUT)
        await exited
        clearTimeout(timer)
      }
    })()
    await stopping
  }

  const port = await new Promise<number>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`libtorrent did not start listening within ${READY_TIMEOUT} ms: ${stderr}`))
    }, READY_TIMEOUT)
    child.on('error', (err) => { clearTimeout(timer); reject(err) })
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(stderr.includes('No module named') ? MISSING : `libtorrent peer exited before listening: ${stderr}`))
    })
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString()
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (line === 'finished') onFinished()
        else if (/^\d+$/.test(line)) {
          clearTimeout(timer)
          const n = Number(line)
          if (n === 0) reject(new Error(`libtorrent could not listen: ${stderr}`))
          else resolve(n)
        }
      }
    })
  }).catch(async (err: unknown) => {
    await stop()
    throw err
  })

  return {
    port,
    finished,
    log: () => stderr,
    connect: (host, p) => { child.stdin.write(`connect ${host} ${p}\n`) },
    stop
  }
}

/** A libtorrent seeder for `torrentPath` whose data is in `dataDir`. Call `stop()` in t.teardown. */
export async function startLibtorrentSeeder (opts: LibtorrentPeerOptions): Promise<LibtorrentPeer> {
  return await startPeer(opts, false)
}

/** A libtorrent leech downloading into `dataDir`; `finished` resolves when it has every piece. */
export async function startLibtorrentLeecher (opts: LibtorrentPeerOptions): Promise<LibtorrentPeer> {
  return await startPeer(opts, true)
}
