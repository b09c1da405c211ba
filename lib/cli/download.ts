/**
 * `zentorrent [download] FILE.torrent [-o DIR | -o - | --stdout] [options]`: argument parsing and display only;
 * the work is lib/client.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream'
import type { Metainfo } from '../metainfo.js'
import { metadataStatus } from './info.js'
import { resolveTorrentInput, withMetadata } from '../torrent-input.js'
import { formatSelectOnly } from '../magnet.js'
import { encodeTorrentFile } from '../torrent-file.js'
import { metadataTimeoutError } from '../metadata/index.js'
import { writeFile } from 'node:fs/promises'
import { parseHostPortList } from '../peers/address.js'
import { startTorrent, type RunningTorrent } from '../client.js'
import { ZentorrentError, fromFsError } from '../errors.js'
import { reportError } from './report.js'
import { TerminalProgress, formatBytes, stoppedEvent, summaryLine, type DisplayFacts, type PeerSource, type RunEnd } from './progress.js'
import { peerFacts, sessionFacts, TrackerWarnings } from './facts.js'
import { createTokenBucket } from '../rate-limit.js'
import type { PeerAddress } from '../peers/address.js'
import { DEFAULT_PORTS } from '../listener.js'
import { parseCommand } from './args.js'
import { DOWNLOAD_COMMAND } from './commands.js'
import { checkOutputDirectory } from './preflight.js'
import { rc4Implementation } from '../wire/mse/rc4.js'
import { safeText } from './safe-text.js'
import type { OptionValues } from './args.js'
import { streamingFromEnv } from '../streaming/policy.js'
import type { TorrentHttpServer } from '../http/server.js'

/** The options, declared in lib/cli/commands.ts (where `--help` is generated from them). */
export const DOWNLOAD_OPTIONS = DOWNLOAD_COMMAND.options
export type DownloadValues = OptionValues<typeof DOWNLOAD_OPTIONS>

/** A peer book source as the display names it (a magnet's x.pe peers are the user's own, like --peer). */
function displaySource (source: string | undefined): PeerSource | undefined {
  if (source === undefined) return undefined
  return source === 'magnet' ? 'manual' : source as PeerSource
}

export const DOWNLOAD_DEFAULTS = {
  /** Seconds a magnet link may take to find a peer that sends the metadata. */
  metadataTimeout: 120
} as const

export function parsePeer (text: string): PeerAddress {
  const match = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:\s]+):(\d+)$/.exec(text)
  const port = match === null ? NaN : Number(match[2])
  if (match === null || !(port > 0 && port < 65536)) {
    throw new ZentorrentError('BAD_ARGUMENT', `--peer wants HOST:PORT (or [IPv6]:PORT), got "${text}"`)
  }
  return { host: match[1]!, port }
}

/** `0,2-4` → [0, 2, 3, 4], checked against the torrent's files when its metadata is known. */
export function parseSelection (text: string, meta?: Metainfo): number[] {
  const out = new Set<number>()
  for (const part of text.split(',')) {
    const range = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part)
    if (range === null) throw new ZentorrentError('BAD_SELECTION', `--select wants indexes like 0,2-4, got "${text}"`)
    const first = Number(range[1])
    const last = range[2] === undefined ? first : Number(range[2])
    if (last - first > 1_000_000) throw new ZentorrentError('BAD_SELECTION', `--select range ${first}-${last} is too large`)
    for (let i = first; i <= last; i++) {
      if (meta !== undefined && (i >= meta.files.length || meta.files[i]!.pad)) {
        throw new ZentorrentError('BAD_SELECTION', `--select: no file ${i} (the torrent has ${meta.files.length}; see \`zentorrent info\`)`)
      }
      out.add(i)
    }
  }
  return [...out].sort((a, b) => a - b)
}

/** An option's number; `text` may already be one (lib/cli/args.ts parses and checks declared options). */
export function parseCount (name: string, text: string | number | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n < 0) throw new ZentorrentError('BAD_ARGUMENT', `--${name} wants a non-negative number, got "${text}"`)
  return n
}

export async function run (argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, DOWNLOAD_COMMAND)
  if (parsed === null) return 0
  return await download(parsed.values, parsed.positionals[0]!)
}

/** The download with its options parsed (`serve` comes here too, with `http` set). */
export async function download (values: DownloadValues, torrentArg: string): Promise<number> {
  const input = await resolveTorrentInput(torrentArg)
  const known = input.kind === 'metainfo' ? input.meta : null
  const toStdout = values.stdout || values.output === '-'
  if (toStdout && process.stdout.isTTY === true) {
    throw new ZentorrentError('STDOUT_IS_TERMINAL', '-o - writes the file\'s bytes to stdout, which is a terminal: pipe it into a player (zentorrent X -o - | mpv -), or use -o DIR or zentorrent serve')
  }
  if (!toStdout) await checkOutputDirectory(values.output ?? '.')
  const selectText = values.select ?? values.only
  const soText = input.selectOnly === undefined ? undefined : formatSelectOnly(input.selectOnly)
  const select = selectText !== undefined ? parseSelection(selectText, known ?? undefined) : soText !== undefined ? parseSelection(soText, known ?? undefined) : undefined
  // -o - streams one file: the torrent's only file, or the one --select names (checked once the files are known)
  const streamFileOf = (meta: Metainfo): number => {
    if (select === undefined && meta.files.filter((f) => !f.pad).length > 1) {
      throw new ZentorrentError('NOT_SINGLE_FILE', `-o - streams one file: a single-file torrent, or the one --select N names; "${meta.name}" has ${meta.files.length} (or use -o DIR)`)
    }
    return select?.[0] ?? meta.files.findIndex((f) => !f.pad)
  }
  if (toStdout && select !== undefined && select.length !== 1) {
    throw new ZentorrentError('NOT_SINGLE_FILE', '-o - streams one file: give --select exactly one file index')
  }
  if (toStdout && known !== null) streamFileOf(known)
  const peers = values.peer.map(parsePeer)
  const trackers = !values['no-trackers']
  // Without trackers, --peer, DHT or LSD, only incoming peers can reach us: fine for seeding, hopeless for a
  // download — but a download whose data is already complete needs no peer at all (checked once it is verified).
  const noStaticSource = peers.length === 0 && input.peers.length === 0 && (!trackers || input.trackers.every((t) => t.length === 0)) && !values.lsd
  const metadataTimeout = values['metadata-timeout'] * 1000
  const saveTorrent = values['save-torrent']
  const encryption = values.encryption
  if (encryption !== 'prefer' && encryption !== 'require' && encryption !== 'disable') {
    throw new ZentorrentError('BAD_ARGUMENT', `--encryption wants prefer, require or disable, got "${encryption}"`)
  }
  const dht = values['no-dht']
    ? false as const
    : {
        ...(values['dht-bootstrap'] !== undefined ? { bootstrap: parseHostPortList(values['dht-bootstrap']) } : {}),
        ...(values['dht-state'] !== undefined ? { statePath: values['dht-state'] } : {})
      }
  // a port asked for must be ours (a busy one is an error, exit 2); `-p 0`: any free port
  const ports = values.port === undefined ? DEFAULT_PORTS : [values.port]
  const uploadLimit = values['upload-limit']
  const downloadLimit = values['download-limit']
  const stallTimeout = (values['stall-timeout'] ?? 0) * 1000
  const seedRatio = values['seed-ratio'] ?? null
  const seedTime = values['seed-time'] === undefined ? null : values['seed-time'] * 1000
  // --http keeps serving (and seeding) until Ctrl-C, like --seed
  const seed = values.seed || seedRatio !== null || seedTime !== null || values.http !== undefined

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
      ...(values.availability
        ? { availability: () => running === null ? null : { values: running.torrent.availability(), have: (i: number) => running!.torrent.hasPiece(i) } }
        : {}),
      ...(values.peers
        ? {
            peers: () => {
              if (running === null) return null
              const torrent = running.torrent
              return peerFacts(torrent.wires(), {
                pieceCount: torrent.hasMetadata ? torrent.meta.pieceCount : 0,
                incoming: (id) => torrent.connection(id)?.outgoing === false,
                encrypted: (id) => torrent.connection(id)?.encryption === 'rc4',
                source: (id) => displaySource(torrent.connection(id)?.sources[0])
              })
            }
          }
        : {})
    })
    : null

  let running: RunningTorrent | null = null
  let http: TorrentHttpServer | null = null
  let finished = false
  const startedAt = Date.now()
  const warnings = new TrackerWarnings()
  /** What the display shows: the torrent's state, per-source peers, warnings; null before it runs. */
  const facts = (): DisplayFacts | null => {
    if (running === null) return null
    const torrent = running.torrent
    const status = torrent.peerStatus()
    const bySource: Partial<Record<PeerSource, number>> = {}
    for (const [source, counts] of Object.entries(status?.bySource ?? {})) {
      const shown = displaySource(source)!
      if (counts.connected > 0) bySource[shown] = (bySource[shown] ?? 0) + counts.connected
    }
    const stats = torrent.stats()
    const stalled = !stats.done && status !== null && status.connected === 0 && status.connecting === 0
    return sessionFacts(torrent, {
      warnings: warnings.list(),
      peers: { connected: stats.peersConnected, known: stats.peersKnown, bySource },
      ...(torrent.hasMetadata ? {} : { state: 'metadata' as const, size: null, name: torrent.name }),
      ...(stalled && torrent.hasMetadata
        ? { state: 'stalled' as const, retryIn: status.nextRetryAt === null ? null : Math.max(0, Math.round((status.nextRetryAt - Date.now()) / 1000)), asking: [...(trackers ? ['trackers'] : []), ...(dht !== false ? ['DHT'] : [])] }
        : {})
    })
  }
  const result = await new Promise<number>((resolve) => {
    const finish = (status: number, message?: string, err?: unknown): void => {
      if (finished) return
      finished = true
      clearInterval(ticker)
      if (stallTimer !== null) clearInterval(stallTimer)
      // on exit or Ctrl-C: elapsed, average rate, uploaded, and how to resume; --json gets the same facts
      const f = facts()
      if (f !== null) {
        const end: RunEnd = { reason: status === 130 ? 'interrupted' : err !== undefined ? 'failed' : f.state === 'seeding' && seed ? 'seeded' : 'done', elapsed: (Date.now() - startedAt) / 1000 }
        emit({ ...stoppedEvent(f, end) })
        if (err === undefined) message = summaryLine(f, end, progress?.width)
      }
      if (progress !== null && message !== undefined) progress.finish(message)
      else if (progress !== null) progress.finish()
      else if (message !== undefined && !json && !quiet) display.write(safeText(message) + '\n')
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
      const torrent = running.torrent
      const fetching = torrent.metadataStats()
      const f = facts()!
      if (fetching !== null) {
        // a magnet link before its metadata: who is asked, how far
        progress?.draw(f, metadataStatus(fetching))
        emit({ event: 'metadata-fetching', infoHash: torrent.infoHash.toString('hex'), peers: fetching.peers, sources: fetching.sources, piecesHave: fetching.piecesHave, pieces: fetching.pieces })
        return
      }
      progress?.draw(f)
      const status = torrent.peerStatus()
      emit({
        event: 'progress',
        ...torrent.stats(),
        state: f.state,
        encrypted: torrent.wires().filter(([id]) => torrent.connection(id)?.encryption === 'rc4').length,
        ...(running.dht !== null ? { dhtNodes: running.dht.nodeCount } : {}),
        ...(status !== null
          ? { sources: status.bySource, noPeers: status.starving, ...(status.nextRetryAt !== null ? { nextRetryIn: Math.max(0, status.nextRetryAt - Date.now()) } : {}) }
          : {})
      })
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
    startTorrent(input, {
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
      listen: { host: values.bind, ports },
      strictPort: values.port !== undefined,
      ...(select !== undefined ? { select } : {}),
      ...(values['replace-links'] ? { replaceLinks: true } : {}),
      encryption,
      dht,
      lsd: values.lsd === true,
      maxConnections: values.connections,
      seed,
      uploader: uploadLimit > 0 ? { uploadLimit: createTokenBucket({ rate: uploadLimit }) } : {},
      ...(downloadLimit > 0 ? { scheduler: { downloadLimit: createTokenBucket({ rate: downloadLimit }) } } : {}),
      ...streamingFromEnv()
    }).then(async (started) => {
      running = started // stopped by finish() even if the HTTP server cannot start
      // the HTTP server's modules (mime, range-parser) are loaded only with --http
      http = values.http === undefined ? null : await (await import('./serve.js')).startHttp(started.torrent, values)
      return started
    }).then((started) => {
      running = started
      const torrent = started.torrent
      emit({
        event: 'started',
        infoHash: torrent.infoHash.toString('hex'),
        name: torrent.name,
        port: started.port,
        ...(torrent.hasMetadata ? { pieceCount: torrent.meta.pieceCount } : { metadata: false }),
        // MSE/PE: the policy, and which RC4 runs (OpenSSL's when Node has it, else our own)
        encryption,
        rc4: rc4Implementation(),
        dht: started.dht !== null
      })
      if (http !== null) {
        emit({ event: 'http', url: http.url })
        if (!json && !quiet) display.write(`serving ${safeText(torrent.name)} at ${http.url}/ (playlist: ${http.url}/playlist.m3u)\n`)
      }
      torrent.on('piece-written', (index) => emit({ event: 'piece', index }))
      torrent.on('peer-banned', (info) => emit({ event: 'peer-banned', ...info }))
      torrent.on('piece-invalid', (info) => emit({ event: 'piece-invalid', ...info }))
      torrent.on('peer-connected', (id, info) => emit({ event: 'peer', id, outgoing: info.outgoing, sources: info.sources, encryption: info.encryption }))
      for (const warning of started.warnings) { warnings.warning(warning.message); emit({ event: 'warning', message: warning.message }) }
      torrent.on('peer-closed', (id, err) => emit({ event: 'peer-closed', id, ...(err instanceof ZentorrentError ? { code: err.code } : {}), ...(err !== null ? { message: err.message } : {}) }))
      torrent.on('error', (err) => finish(1, undefined, err))
      started.announcer?.on('tracker-error', (report) => {
        warnings.error(report.url, report.error.message)
        emit({ event: 'tracker-error', url: report.url, message: report.error.message, code: report.error.code })
      })
      started.announcer?.on('response', (report) => { warnings.response(report.url, report.warning) })
      started.announcer?.on('warning', (text) => { warnings.warning(text); emit({ event: 'warning', message: text }) })
      torrent.on('warning', (err) => { warnings.warning(err.message); emit({ event: 'warning', message: err.message }) })
      const withMeta = (meta: Metainfo): void => {
        if (saveTorrent !== undefined) {
          writeFile(saveTorrent, encodeTorrentFile(withMetadata(input, meta).meta)).catch((err: unknown) => finish(1, undefined, fromFsError(err, saveTorrent)))
        }
        if (toStdout) startStream(meta)
      }
      const startStream = (meta: Metainfo): void => {
        let index: number
        try { index = streamFileOf(meta) } catch (err) { finish(2, undefined, err); return }
        const reader = torrent.files[index]!.createReadStream()
        // node:stream's pipeline, not pump: Readable.pipe never ends process.stdout, so pump (which waits for the
        // destination to finish) never called back and a complete `-o -` download hung; pipeline knows stdout
        // and calls back once the last byte is written.
        pipeline(reader, process.stdout, (err) => {
          const code = (err as NodeJS.ErrnoException | undefined)?.code
          if (err !== undefined && err !== null && code !== 'EPIPE' && code !== 'ERR_STREAM_PREMATURE_CLOSE') finish(1, undefined, err)
          else finish(0, err === undefined || err === null ? `done: ${meta.name} streamed` : undefined)
        })
      }
      if (torrent.hasMetadata) {
        if (toStdout) startStream(torrent.meta)
        if (saveTorrent !== undefined && input.kind === 'metainfo') withMeta(torrent.meta)
      } else {
        const timer = setTimeout(() => {
          const fetching = torrent.metadataStats()
          if (fetching !== null) finish(1, undefined, metadataTimeoutError(metadataTimeout, fetching, torrent.stats().peersKnown))
        }, metadataTimeout)
        torrent.once('metadata', (meta) => {
          clearTimeout(timer)
          emit({ event: 'metadata', infoHash: meta.infoHashHex, name: meta.name, length: meta.length, pieceCount: meta.pieceCount, files: meta.files.length })
          withMeta(meta)
        })
      }
      const onDone = (): void => {
        const meta = torrent.meta
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
      else if (noStaticSource && started.dht === null && !seed) {
        finish(1, undefined, new ZentorrentError('NO_PEERS', 'no way to find peers: the torrent names no tracker, no --peer was given and the DHT is off'))
      } else torrent.once('done', onDone)
    }, (err: unknown) => finish(1, undefined, err))
  })
  process.removeAllListeners('SIGINT')
  process.removeAllListeners('SIGTERM')
  if (tempDir !== null) await rm(tempDir, { recursive: true, force: true })
  return result
}
