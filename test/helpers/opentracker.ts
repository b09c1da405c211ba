/**
 * Debian's opentracker on loopback, for tests: HTTP and UDP on one port, serving only the given info hashes.
 *
 * opentracker chroots to `-d DIR` and drops root to `nobody` before it reads the whitelist (`-w`), so the
 * whitelist lives inside a fresh world-readable temp directory and is named by its path inside the chroot.
 * A free port is found by trying random high ports (bound and released by us first, then by opentracker;
 * a race with another process is caught by opentracker exiting, and we try again).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, writeFile, chmod, rm, access } from 'node:fs/promises'
import { constants } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import dgram from 'node:dgram'

export const OPENTRACKER = process.env.OPENTRACKER ?? '/usr/bin/opentracker'

export interface Opentracker {
  httpUrl: string
  udpUrl: string
  port: number
  stop (): Promise<void>
}

const ATTEMPTS = 8
const READY_TIMEOUT_MS = 5_000

export async function startOpentracker ({ infoHashes }: { infoHashes: Buffer[] }): Promise<Opentracker> {
  try {
    await access(OPENTRACKER, constants.X_OK)
  } catch {
    throw new Error(`opentracker is not installed at ${OPENTRACKER}: apt-get install opentracker (or set OPENTRACKER)`)
  }
  const dir = await mkdtemp(join(tmpdir(), 'zentorrent-opentracker-'))
  await chmod(dir, 0o755)
  const whitelist = join(dir, 'whitelist')
  await writeFile(whitelist, infoHashes.map((h) => h.toString('hex') + '\n').join(''))
  await chmod(whitelist, 0o644)

  let lastError: Error | undefined
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = await candidatePort()
    if (port === null) continue
    const child = spawn(OPENTRACKER, ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', dir, '-w', '/whitelist'],
      { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    try {
      await waitListening(child, port)
    } catch (err) {
      await kill(child)
      lastError = new Error(`opentracker on port ${port} did not start: ${(err as Error).message}\n${output}`)
      continue
    }
    return {
      httpUrl: `http://127.0.0.1:${port}/announce`,
      udpUrl: `udp://127.0.0.1:${port}`,
      port,
      stop: async () => {
        await kill(child)
        await rm(dir, { recursive: true, force: true })
      }
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError ?? new Error('no free port found for opentracker')
}

/** A random port in 20000-59999 that is free for both TCP and UDP right now, or null. */
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

/** Poll a TCP connect until it succeeds; fail if the process exits or the deadline passes. */
async function waitListening (child: ChildProcess, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode})`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    // The listening socket may be ours-just-released only if opentracker has not bound yet; require it alive.
    if (ok && child.exitCode === null) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`not listening after ${READY_TIMEOUT_MS} ms`)
}

async function kill (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
  await exited
  clearTimeout(timer)
}
