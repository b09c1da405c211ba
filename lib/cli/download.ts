/**
 * `zentorrent [download] FILE.torrent [-o DIR | -o - | --stdout] [options]`: argument parsing and display only;
 * the work is lib/client.ts.
 */
import { parseArgs } from 'node:util'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream'
import type { Metainfo } from '../metainfo.js'
import { loadTorrentFile } from './info.js'
import { startTorrent, type RunningTorrent } from '../client.js'
import { ZentorrentError } from '../errors.js'
import { reportError } from './report.js'
import { TerminalProgress, formatBytes } from './progress.js'
import { createTokenBucket } from '../rate-limit.js'
import type { PeerAddress } from '../peer-address.js'
import { DEFAULT_PORTS } from '../listener.js'
import { HTTP_OPTIONS, startHttp } from './serve.js'
import { streamingFromEnv } from '../streaming/policy.js'
import type { TorrentHttpServer } from '../http/server.js'

export const DOWNLOAD_OPTIONS = {
  output: { type: 'string', short: 'o' },
  stdout: { type: 'boolean' },
  select: { type: 'string' },
  only: { type: 'string' },
  peer: { type: 'string', multiple: true },
  'no-trackers': { type: 'boolean' },
  connections: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  bind: { type: 'string' },
  seed: { type: 'boolean' },
  'seed-ratio': { type: 'string' },
  'seed-time': { type: 'string' },
  'upload-limit': { type: 'string' },
  'download-limit': { type: 'string' },
  availability: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  'stall-timeout': { type: 'string' },
  ...HTTP_OPTIONS,
  help: { type: 'boolean', short: 'h' }
} as const

export function parsePeer (text: string): PeerAddress {
  const match = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:\s]+):(\d+)$/.exec(text)
  const port = match === null ? NaN : Number(match[2])
  if (match === null || !(port > 0 && port < 65536)) {
    throw new ZentorrentError('BAD_ARGUMENT', `--peer wants HOST:PORT (or [IPv6]:PORT), got "${text}"`)
  }
  return { host: match[1]!, port }
}

export function parseSelection (text: string, meta: Metainfo): number[] {
  const out = new Set<number>()
  for (const part of text.split(',')) {
    const range = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part)
    if (range === null) throw new ZentorrentError('BAD_SELECTION', `--select wants indexes like 0,2-4, got "${text}"`)
    const first = Number(range[1])
    const last = range[2] === undefined ? first : Number(range[2])
    for (let i = first; i <= last; i++) {
      if (i >= meta.files.length || meta.files[i]!.pad) {
        throw new ZentorrentError('BAD_SELECTION', `--select: no file ${i} (the torrent has ${meta.files.length}; see \`zentorrent info\`)`)
      }
      out.add(i)
    }
  }
  return [...out].sort((a, b) => a - b)
}

export function parseCount (name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n < 0) throw new ZentorrentError('BAD_ARGUMENT', `--${name} wants a non-negative number, got "${text}"`)
  return n
}

export async function run (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: DOWNLOAD_OPTIONS, allowPositionals: true, strict: true })
  if (values.help === true) {
    const { USAGE } = await import('./usage.js')
    process.stdout.write(USAGE)
    return 0
  }
  if (positionals.length !== 1) throw new ZentorrentError('BAD_ARGUMENT', 'give one .torrent file (see zentorrent --help)')
  const meta = await loadTorrentFile(positionals[0]!)
  const toStdout = values.stdout === true || values.output === '-'
  if (toStdout && process.stdout.isTTY === true) {
    throw new ZentorrentError('STDOUT_IS_TERMINAL', '-o - writes the file\'s bytes to stdout, which is a terminal: pipe it into a player (zentorrent X -o - | mpv -), or use -o DIR or zentorrent serve')
  }
  const selectText = values.select ?? values.only
  const select = selectText === undefined ? undefined : parseSelection(selectText, meta)
  // -o - streams one file: the torrent's only file, or the one --select names
  const streamFile = select?.length === 1 ? select[0]! : meta.files.findIndex((f) => !f.pad)
  if (toStdout && select === undefined && meta.files.filter((f) => !f.pad).length > 1) {
    throw new ZentorrentError('NOT_SINGLE_FILE', `-o - streams one file: a single-file torrent, or the one --select N names; "${meta.name}" has ${meta.files.length} (or use -o DIR)`)
  }
  if (toStdout && select !== undefined && select.length !== 1) {
    throw new ZentorrentError('NOT_SINGLE_FILE', '-o - streams one file: give --select exactly one file index')
  }
  const peers = (values.peer ?? []).map(parsePeer)
  const trackers = values['no-trackers'] !== true
  // Without trackers or --peer, only incoming peers can reach us: fine for seeding, hopeless for a download —
  // but a download whose data is already complete needs no peer at all (checked once the data is verified).
  const noPeerSource = peers.length === 0 && (!trackers || meta.announce.every((t) => t.length === 0))
  const portText = values.port
  const ports = portText === undefined ? DEFAULT_PORTS : [parseCount('port', portText, 0)]
  const uploadLimit = parseCount('upload-limit', values['upload-limit'], 0)
  const downloadLimit = parseCount('download-limit', values['download-limit'], 0)
  const stallTimeout = parseCount('stall-timeout', values['stall-timeout'], 0) * 1000
  const seedRatio = values['seed-ratio'] === undefined ? null : parseCount('seed-ratio', values['seed-ratio'], 0)
  const seedTime = values['seed-time'] === undefined ? null : parseCount('seed-time', values['seed-time'], 0) * 1000
  // --http keeps serving (and seeding) until Ctrl-C, like --seed
  const seed = values.seed === true || seedRatio !== null || seedTime !== null || values.http !== undefined

  let tempDir: string | null = null
  const output = toStdout ? (tempDir = await mkdtemp(join(tmpdir(), 'zentorrent-'))) : (values.output ?? '.')
  const display = toStdout ? process.stderr : process.stderr
  const json = values.json === true
  const quiet = values.quiet === true
  const emit = (event: Record<string, unknown>): void => {
    if (json) (toStdout ? process.stderr : process.stdout).write(JSON.stringify({ time: Date.now(), ...event }) + '\n')
  }
  const progress = !json && !quiet && display.isTTY === true
    ? new TerminalProgress({
      stream: display,
      ...(values.availability === true
        ? { availability: () => running === null ? null : { values: running.torrent.availability(), have: (i: number) => running!.torrent.hasPiece(i) } }
        : {})
    })
    : null

  let running: RunningTorrent | null = null
  let http: TorrentHttpServer | null = null
  let finished = false
  const result = await new Promise<number>((resolve) => {
    const finish = (status: number, message?: string, err?: unknown): void => {
      if (finished) return
      finished = true
      clearInterval(ticker)
      if (stallTimer !== null) clearInterval(stallTimer)
      if (progress !== null && message !== undefined) progress.finish(message)
      else if (message !== undefined && !json && !quiet) display.write(message + '\n')
      if (err !== undefined) {
        emit({ event: 'error', message: err instanceof Error ? err.message : String(err), code: err instanceof ZentorrentError ? err.code : undefined })
        status = reportError(err)
      }
      const stopping = Promise.all([http?.close(), running?.stop()])
      stopping.then(() => resolve(status), () => resolve(status))
    }
    const onSignal = (): void => finish(130, 'interrupted: stopped')
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)

    const ticker = setInterval(() => {
      if (running === null) return
      const stats = running.torrent.stats()
      progress?.draw(stats)
      emit({ event: 'progress', ...stats })
    }, 500)
    let lastProgressAt = Date.now()
    let lastHave = -1
    const stallTimer = stallTimeout > 0
      ? setInterval(() => {
        if (running === null) return
        const stats = running.torrent.stats()
        if (stats.bytesHave !== lastHave) { lastHave = stats.bytesHave; lastProgressAt = Date.now(); return }
        if (!stats.done && Date.now() - lastProgressAt > stallTimeout) {
          finish(1, undefined, new ZentorrentError('NO_PEERS',
            `no progress for ${stallTimeout / 1000} s (${stats.peersConnected} peers connected, ${stats.peersKnown} known)`))
        }
      }, 1000)
      : null

    let lastChecked = 0
    startTorrent(meta, {
      onTorrent: (torrent) => {
        // resume: existing data is hashed first (`checking`), shown like libtorrent's "checking files"
        torrent.on('checking', (p) => {
          const now = Date.now()
          if (p.checked !== p.total && now - lastChecked < 200) return
          lastChecked = now
          progress?.draw(torrent.stats(), `checking existing data: ${p.checked}/${p.total} pieces, ${p.valid} valid`)
          emit({ event: 'checking', ...p })
        })
      },
      output,
      trackers,
      peers,
      listen: { host: values.bind ?? '0.0.0.0', ports },
      ...(select !== undefined ? { select } : {}),
      ...(values.connections !== undefined ? { maxConnections: parseCount('connections', values.connections, 50) } : {}),
      seed,
      uploader: uploadLimit > 0 ? { uploadLimit: createTokenBucket({ rate: uploadLimit }) } : {},
      ...(downloadLimit > 0 ? { scheduler: { downloadLimit: createTokenBucket({ rate: downloadLimit }) } } : {}),
      ...streamingFromEnv()
    }).then(async (started) => {
      running = started // stopped by finish() even if the HTTP server cannot start
      http = await startHttp(started.torrent, values)
      return started
    }).then((started) => {
      running = started
      const torrent = started.torrent
      emit({ event: 'started', infoHash: meta.infoHashHex, name: meta.name, port: started.port, pieceCount: meta.pieceCount })
      if (http !== null) {
        emit({ event: 'http', url: http.url })
        if (!json && !quiet) display.write(`serving ${meta.name} at ${http.url}/ (playlist: ${http.url}/playlist.m3u)\n`)
      }
      torrent.on('piece-written', (index) => emit({ event: 'piece', index }))
      torrent.on('peer-banned', (info) => emit({ event: 'peer-banned', ...info }))
      torrent.on('piece-invalid', (info) => emit({ event: 'piece-invalid', ...info }))
      torrent.on('error', (err) => finish(1, undefined, err))
      started.announcer?.on('tracker-error', (report) => emit({ event: 'tracker-error', url: report.url, message: report.error.message, code: report.error.code }))
      if (toStdout) {
        const reader = torrent.files[streamFile]!.createReadStream()
        // node:stream's pipeline, not pump: Readable.pipe never ends process.stdout, so pump (which waits for the
        // destination to finish) never called back and a complete `-o -` download hung; pipeline knows stdout
        // and calls back once the last byte is written.
        pipeline(reader, process.stdout, (err) => {
          const code = (err as NodeJS.ErrnoException | undefined)?.code
          if (err !== undefined && err !== null && code !== 'EPIPE' && code !== 'ERR_STREAM_PREMATURE_CLOSE') finish(1, undefined, err)
          else finish(0, err === undefined || err === null ? `done: ${meta.name} streamed` : undefined)
        })
      }
      const onDone = (): void => {
        const stats = torrent.stats()
        emit({ event: 'done', ...stats })
        if (toStdout) return // finish when stdout has every byte
        if (!seed) {
          finish(0, `done: ${meta.name} (${formatBytes(stats.bytesWanted)}) verified in ${output}`)
          return
        }
        progress?.draw(stats, `seeding ${meta.name}…`)
        const started = Date.now()
        const seedCheck = setInterval(() => {
          const s = torrent.stats()
          const ratio = s.uploaded / Math.max(1, meta.length)
          if ((seedRatio !== null && ratio >= seedRatio) || (seedTime !== null && Date.now() - started >= seedTime)) {
            clearInterval(seedCheck)
            finish(0, `done seeding: ratio ${ratio.toFixed(2)}`)
          }
        }, 500)
        seedCheck.unref()
      }
      if (torrent.done) onDone()
      else if (noPeerSource && !seed) {
        finish(1, undefined, new ZentorrentError('NO_PEERS', 'no way to find peers: the torrent names no tracker and no --peer was given'))
      } else torrent.once('done', onDone)
    }, (err: unknown) => finish(1, undefined, err))
  })
  process.removeAllListeners('SIGINT')
  process.removeAllListeners('SIGTERM')
  if (tempDir !== null) await rm(tempDir, { recursive: true, force: true })
  return result
}
