/**
 * A libtorrent session for the discovery tests (DHT on loopback, PEX), driven through libtorrent-node.py with the
 * system python3. Events come back as JSON lines; `waitFor` resolves on the first that matches (bounded in time).
 * A missing libtorrent is an error with the install hint, never a skip (CI installs it).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { PYTHON } from './libtorrent.js'

const SCRIPT = fileURLToPath(new URL('./libtorrent-node.py', import.meta.url))
const READY_TIMEOUT = 20_000
const STOP_TIMEOUT = 5_000

export interface LibtorrentNodeConfig {
  port?: number
  torrent?: string
  magnet?: string
  save_path: string
  seed?: boolean
  /** Bytes/s for the torrent. */
  download_limit?: number
  upload_limit?: number
  /** DHT on, bootstrapping from `bootstrap` (`127.0.0.1:PORT`, or '' for none); absent: DHT off. */
  dht?: { bootstrap: string }
}

export interface LtPeer { ip: string, port: number, source: number, outgoing: boolean, seed: boolean }
export type LtEvent =
  | { event: 'ready', port: number }
  | { event: 'finished' }
  | { event: 'peers', peers: LtPeer[] }
  | { event: 'dht_peers', info_hash: string, peers: Array<[string, number]> }
  | { event: 'dht_nodes', count: number }
  | { event: 'dht_announced', info_hash: string, ip: string, port: number }

/** libtorrent's peer_info source bits. */
export const LT_SOURCE = { tracker: 1, dht: 2, pex: 4, lsd: 8, resume: 16, incoming: 32 } as const

export interface LibtorrentNode {
  readonly port: number
  command: (line: string) => void
  /** The first event (from now on, or already seen when `past`) matching `pred`, within `ms`. */
  waitFor: <E extends LtEvent>(pred: (e: LtEvent) => e is E, ms: number, what: string) => Promise<E>
  /** Poll `peers` until `pred` holds for the list (every 200 ms), within `ms`. */
  waitForPeers: (pred: (peers: LtPeer[]) => boolean, ms: number, what: string) => Promise<LtPeer[]>
  log: () => string
  stop: () => Promise<void>
}

export async function startLibtorrentNode (config: LibtorrentNodeConfig): Promise<LibtorrentNode> {
  const child = spawn(PYTHON, [SCRIPT, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const events: LtEvent[] = []
  const waiters = new Set<(e: LtEvent) => void>()
  let buf = ''
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString()
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim()
      buf = buf.slice(nl + 1)
      if (line === '') continue
      const event = JSON.parse(line) as LtEvent
      events.push(event)
      for (const w of [...waiters]) w(event)
    }
  })
  const exited = new Promise<void>((resolve) => child.on('close', () => { resolve() }))
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

  const waitFor = async <E extends LtEvent>(pred: (e: LtEvent) => e is E, ms: number, what: string, past = false): Promise<E> => {
    if (past) {
      const seen = events.find(pred)
      if (seen !== undefined) return seen
    }
    return await new Promise<E>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`libtorrent: no ${what} within ${ms} ms\n${stderr.split('\n').slice(-40).join('\n')}`))
      }, ms)
      const check = (e: LtEvent): void => {
        if (!pred(e)) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve(e)
      }
      waiters.add(check)
      void exited.then(() => {
        if (!waiters.has(check)) return
        clearTimeout(timer)
        waiters.delete(check)
        reject(new Error(stderr.includes('No module named')
          ? 'libtorrent is not available to /usr/bin/python3: apt-get install -y python3-libtorrent'
          : `libtorrent exited while waiting for ${what}: ${stderr}`))
      })
    })
  }

  const ready = await waitFor((e): e is Extract<LtEvent, { event: 'ready' }> => e.event === 'ready', READY_TIMEOUT, 'ready', true)
    .catch(async (err: unknown) => { await stop(); throw err })
  if (ready.port === 0) {
    await stop()
    throw new Error(`libtorrent could not listen: ${stderr}`)
  }
  const command = (line: string): void => { child.stdin.write(line + '\n') }

  return {
    port: ready.port,
    command,
    waitFor: async (pred, ms, what) => await waitFor(pred, ms, what),
    async waitForPeers (pred, ms, what) {
      const deadline = Date.now() + ms
      for (;;) {
        const p = waitFor((e): e is Extract<LtEvent, { event: 'peers' }> => e.event === 'peers', 5_000, 'peers')
        command('peers')
        const { peers } = await p
        if (pred(peers)) return peers
        if (Date.now() > deadline) throw new Error(`libtorrent: ${what} not seen within ${ms} ms; peers: ${JSON.stringify(peers)}`)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    },
    log: () => stderr,
    stop
  }
}

export const isEvent = <K extends LtEvent['event']>(kind: K) => (e: LtEvent): e is Extract<LtEvent, { event: K }> => e.event === kind
