/**
 * A torrent: one download (and its seeding), composed from the stages. It owns nothing the stages own; it wires
 * them, and it is what library users hold (`torrent.files[i].createReadStream()`, `select`, events, `destroy`):
 *
 *   peer sources (trackers, --peer, incoming) → Swarm → wires → Scheduler ──pump──▶ Verifier ──pump──▶ Sink
 *                                                      │            │ reads          │ reports          │ reports
 *                                                      └──────────▶ PieceLedger ◀────┴──────────────────┘
 *                                                                   │ written pieces → have, uploads, readers
 *
 * - The pipeline is the README's composition (createScheduler / createVerifier / createSink over one ledger and
 *   one store), with the piece worker made here and passed to the verifier and the file store.
 * - Resume first: what the store holds is hashed ('checking') and only missing pieces are requested. A piece
 *   counts as ours (announced with `have`, served, read by file streams, reported as progress) once written.
 * - Priorities: each file has one (0 = not selected); a piece takes the highest of the files it touches. File
 *   streams raise the pieces just ahead of their position to the top while they read, so a range inside an
 *   unselected file is fetched too (its bytes go to the store's part file) and a seek moves the priorities at once.
 * - Deadlines (lib/streaming/deadlines.ts): each reader also gives the pieces just ahead of it deadlines from its
 *   consumption rate, and the scheduler routes those to the peers that deliver them in time (lib/streaming/router.ts).
 *   `streaming` turns either off (the policies of bench/streaming.ts).
 * - The pipeline does not end when every wanted piece is on disk: selecting another file, or a reader, wants more.
 *   'done' is emitted each time every wanted piece is written.
 */
import { EventEmitter } from 'node:events'
import pump from 'pump'
import type { Metainfo, TorrentFile } from './metainfo.js'
import { createLedger, PRIORITY, PieceState, type LedgerChange, type PieceLedger } from './ledger.js'
import { createScheduler, type Scheduler, type SchedulerOptions } from './scheduler/scheduler.js'
import type { BanReason } from './scheduler/blame.js'
import { createVerifier, type Verifier } from './verify.js'
import { createSink, type Sink } from './sink.js'
import { FileStore } from './store/file-store.js'
import type { PieceStore } from './store/piece-store.js'
import { checkExisting, type CheckProgress } from './resume.js'
import { Swarm } from './swarm.js'
import { hostOfKey, type PeerAddress } from './peer-address.js'
import type { Wire } from './wire/wire.js'
import { generatePeerId } from './wire/handshake.js'
import { BitField } from './wire/bitfield.js'
import { allowedFastSet } from './wire/allowed-fast.js'
import { Uploader, type UploaderOptions } from './uploader.js'
import { PieceWorker } from './piece-worker.js'
import { FileReadStream, type FileReadOptions, type Readahead, type ReaderStart } from './file-stream.js'
import { DeadlineBoard } from './streaming/deadlines.js'
import { DeadlineRouter } from './streaming/router.js'
import { sequentialPicker, type StreamingOptions } from './streaming/policy.js'
import { ZentorrentError } from './errors.js'
import { systemClock, type Clock } from './clock.js'
import { VERSION } from './version.js'

export interface TorrentOptions {
  /** Output directory (a FileStore there), unless `store` is given. */
  output?: string
  /** Where pieces go instead of files (e.g. a MemoryStore). */
  store?: PieceStore
  peerId?: Buffer
  /** Port we accept peers on (announced in the BEP 10 handshake); 0 if we do not listen. */
  port?: number
  /** Indexes of the files to download; all when absent. */
  select?: readonly number[]
  maxConnections?: number
  connectTimeout?: number
  scheduler?: SchedulerOptions
  uploader?: UploaderOptions
  /** Replace symbolic links where the torrent's files go instead of refusing them (FileStore). */
  replaceLinks?: boolean
  /** The piece worker (hashing and writes off the main thread); null for none. Default: one made for this torrent. */
  worker?: PieceWorker | null
  clock?: Clock
  /** How readers steer the download: their priority window, their deadlines (both on by default). */
  streaming?: StreamingOptions
}

export interface TorrentStats {
  pieceCount: number
  piecesHave: number
  piecesWanted: number
  bytesHave: number
  bytesWanted: number
  downloaded: number
  uploaded: number
  wasted: number
  downloadRate: number
  uploadRate: number
  peersConnected: number
  peersKnown: number
  endgame: boolean
  done: boolean
}

export interface TorrentEvents {
  checking: [progress: CheckProgress]
  ready: [info: { have: number, wanted: number }]
  'piece-written': [index: number]
  'piece-invalid': [info: { index: number, peers: string[] }]
  'peer-connected': [id: string]
  'peer-closed': [id: string, err: Error | null]
  'peer-banned': [info: BanReason]
  done: []
  error: [err: Error]
}

/** One file of the torrent, as a library user handles it. */
export class TorrentFileHandle {
  readonly index: number
  /** The file's path below the output directory, '/'-separated (the first component is the torrent's name). */
  readonly path: string
  readonly name: string
  readonly length: number
  /** Offset of the file's first byte within the torrent. */
  readonly offset: number
  readonly #torrent: Torrent

  constructor (torrent: Torrent, index: number, file: TorrentFile) {
    this.#torrent = torrent
    this.index = index
    this.path = file.path.join('/')
    this.name = file.path[file.path.length - 1]!
    this.length = file.length
    this.offset = file.offset
  }

  get selected (): boolean { return this.#torrent.filePriority(this.index) > 0 }
  /** Bytes of this file on disk (verified). */
  get downloaded (): number { return this.#torrent.fileBytesWritten(this.index) }
  select (priority: number = PRIORITY.normal): void { this.#torrent.select(this.index, priority) }
  deselect (): void { this.#torrent.deselect(this.index) }
  createReadStream (opts?: FileReadOptions): FileReadStream { return this.#torrent.createReadStream(this.index, opts) }
}

export class Torrent extends EventEmitter<TorrentEvents> {
  readonly meta: Metainfo
  readonly infoHash: Buffer
  readonly peerId: Buffer
  readonly ledger: PieceLedger
  readonly store: PieceStore
  readonly files: readonly TorrentFileHandle[]
  readonly #opts: TorrentOptions
  readonly #clock: Clock
  readonly #worker: PieceWorker | null
  readonly #filePriority: Uint8Array
  /** Readers' windows over each piece (a count per piece). */
  readonly #boost: Uint16Array
  /** Readers' deadlines (null: streaming.deadlines false). */
  readonly #deadlines: DeadlineBoard | null
  #scheduler: Scheduler | null = null
  #verifier: Verifier | null = null
  #sink: Sink | null = null
  #swarm: Swarm | null = null
  #uploader: Uploader | null = null
  #started = false
  /** The resume check is done: 'done' may be emitted. */
  #ready = false
  #closed = false
  #pending: PeerAddress[] = []
  readonly #unsubscribe: () => void

  constructor (meta: Metainfo, opts: TorrentOptions) {
    super()
    this.meta = meta
    this.infoHash = meta.infoHash
    this.#opts = opts
    this.#clock = opts.clock ?? systemClock
    this.peerId = opts.peerId ?? generatePeerId()
    this.ledger = createLedger(meta)
    this.#worker = opts.worker === undefined ? new PieceWorker() : opts.worker
    this.#filePriority = new Uint8Array(meta.files.length)
    this.#boost = new Uint16Array(meta.pieceCount)
    const deadlines = opts.streaming?.deadlines
    this.#deadlines = deadlines === false ? null : new DeadlineBoard(this.ledger, this.#clock, deadlines)
    const selected = opts.select === undefined ? null : new Set(opts.select)
    for (let i = 0; i < meta.files.length; i++) {
      const file = meta.files[i]!
      if (selected !== null && selected.has(i) && (file.pad || i >= meta.files.length)) {
        throw new ZentorrentError('BAD_SELECTION', `file ${i} of this torrent is padding, not data`)
      }
      this.#filePriority[i] = file.pad || (selected !== null && !selected.has(i)) ? PRIORITY.skip : PRIORITY.normal
    }
    for (const i of selected ?? []) {
      if (!Number.isInteger(i) || i < 0 || i >= meta.files.length) throw new ZentorrentError('BAD_SELECTION', `no file ${i} in this torrent`)
    }
    if (opts.store !== undefined) {
      this.store = opts.store
    } else {
      if (opts.output === undefined) throw new ZentorrentError('BAD_ARGUMENT', 'a torrent needs an output directory or a store')
      this.store = new FileStore(meta, opts.output, {
        ...(selected !== null ? { selected } : {}),
        ...(this.#worker !== null ? { worker: this.#worker } : {}),
        ...(opts.replaceLinks === true ? { replaceLinks: true } : {})
      })
    }
    this.files = Object.freeze(meta.files.map((file, i) => new TorrentFileHandle(this, i, file)))
    this.#updatePriorities(0, meta.pieceCount - 1)
    this.#unsubscribe = this.ledger.onChange((change) => this.#onLedger(change))
  }

  get done (): boolean { return this.ledger.complete }
  get scheduler (): Scheduler | null { return this.#scheduler }

  /** Whether a piece is on disk (verified): what we announce and serve. */
  hasPiece (index: number): boolean { return this.ledger.written(index) }

  /** Open the store, check what is there, then start downloading and serving. */
  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.store.open()
    const valid = await checkExisting(this.store, this.ledger, this.meta, { onProgress: (p) => this.emit('checking', p) })
    this.#ready = true
    this.emit('ready', { have: valid.length, wanted: this.ledger.wantedPieces })
    if (this.#closed) return
    const ledger = this.ledger
    this.#uploader = new Uploader({
      store: this.store,
      geometry: this.ledger.geometry,
      get done () { return ledger.complete },
      hasPiece: (i) => this.ledger.written(i)
    }, { clock: this.#clock, ...this.#opts.uploader })
    this.#swarm = new Swarm({
      wire: {
        peerId: this.peerId,
        infoHash: this.meta.infoHash,
        pieceCount: this.meta.pieceCount,
        pieceLength: this.meta.pieceLength,
        lastPieceLength: this.meta.lastPieceLength
      },
      clock: this.#clock,
      ...(this.#opts.maxConnections !== undefined ? { maxConnections: this.#opts.maxConnections } : {}),
      ...(this.#opts.connectTimeout !== undefined ? { connectTimeout: this.#opts.connectTimeout } : {})
    })
    this.#swarm.on('wire', (wire, id) => this.#onWire(wire, id))
    this.#swarm.on('wire-closed', (id, err) => this.emit('peer-closed', id, err))
    this.#startPipeline()
    if (this.ledger.complete) this.emit('done')
    for (const address of this.#pending.splice(0)) this.#swarm.add(address)
  }

  /** A peer to connect to (from a tracker, the DHT, the user). */
  addPeer (address: PeerAddress): void {
    if (this.#closed) return
    if (this.#swarm === null) this.#pending.push(address)
    else this.#swarm.add(address)
  }

  /** An incoming connection whose handshake named our info hash. */
  attachIncoming (wire: Wire, id: string): void {
    if (this.#swarm === null || this.#closed) { wire.destroy(); return }
    wire.accept({
      infoHash: this.meta.infoHash,
      pieceCount: this.meta.pieceCount,
      pieceLength: this.meta.pieceLength,
      lastPieceLength: this.meta.lastPieceLength
    })
    this.#swarm.attach(wire, id)
  }

  // ---- files and priorities -----------------------------------------------------------------------------

  filePriority (index: number): number { return this.#filePriority[index] ?? 0 }

  fileBytesWritten (index: number): number {
    const file = this.meta.files[index]
    if (file === undefined || file.length === 0) return 0
    const pieceLength = this.meta.pieceLength
    let bytes = 0
    for (let i = Math.floor(file.offset / pieceLength); i <= Math.floor((file.offset + file.length - 1) / pieceLength); i++) {
      if (!this.ledger.written(i)) continue
      const start = Math.max(file.offset, i * pieceLength)
      const end = Math.min(file.offset + file.length, i * pieceLength + this.ledger.geometry.pieceSize(i))
      bytes += end - start
    }
    return bytes
  }

  /** Download a file (again), at a priority (1 normal … 7 top). */
  select (index: number, priority: number = PRIORITY.normal): void {
    const file = this.#file(index)
    if (file.pad) throw new ZentorrentError('BAD_SELECTION', `file ${index} of this torrent is padding, not data`)
    const before = this.#filePriority[index]!
    this.#filePriority[index] = Math.max(1, Math.min(PRIORITY.top, priority))
    if (before === 0 && this.store instanceof FileStore) {
      // bytes already verified for it move out of the part file before more arrive
      this.store.store(index, (i) => this.ledger.written(i)).catch((err: Error) => this.emit('error', err))
    }
    this.#updateFile(file)
  }

  /** Stop downloading a file (pieces it shares with selected files still come). */
  deselect (index: number): void {
    const file = this.#file(index)
    this.#filePriority[index] = PRIORITY.skip
    this.#updateFile(file)
  }

  /** A read stream of a file's verified bytes (`start`/`end` within the file, `end` inclusive). */
  createReadStream (index: number, opts?: FileReadOptions): FileReadStream {
    const file = this.#file(index)
    const readahead = this.#opts.streaming?.readaheadBytes
    return new FileReadStream({ ledger: this.ledger, store: this.store, readahead: (first, last, reader) => this.#readahead(first, last, reader) }, file,
      readahead !== undefined && opts?.readahead === undefined ? { ...opts, readahead } : opts)
  }

  #file (index: number): TorrentFile {
    const file = this.meta.files[index]
    if (file === undefined) throw new ZentorrentError('BAD_SELECTION', `no file ${index} in this torrent`)
    return file
  }

  #updateFile (file: TorrentFile): void {
    if (file.length === 0) return
    const pieceLength = this.meta.pieceLength
    this.#updatePriorities(Math.floor(file.offset / pieceLength), Math.floor((file.offset + file.length - 1) / pieceLength))
  }

  /** Recompute the ledger's priorities of pieces first..last: the files' highest, or top inside a reader's window. */
  #updatePriorities (first: number, last: number): void {
    const meta = this.meta
    const pieceLength = meta.pieceLength
    for (let i = first; i <= last; i++) {
      let priority = 0
      if (this.#boost[i]! > 0) {
        priority = PRIORITY.top
      } else {
        const start = i * pieceLength
        const end = start + this.ledger.geometry.pieceSize(i)
        for (const span of fileIndexesIn(meta.files, start, end)) priority = Math.max(priority, this.#filePriority[span]!)
      }
      if (this.ledger.priority(i) !== priority) this.ledger.setPriority(i, i, priority)
    }
  }

  #readahead (first: number, last: number, reader: ReaderStart): Readahead {
    const deadlines = this.#deadlines?.reader(reader.start, reader.end, reader.deadline) ?? null
    if (this.#opts.streaming?.readahead === false) {
      return { move: () => {}, release: () => deadlines?.release(), progress: (p, w) => deadlines?.progress(p, w) }
    }
    let window: [number, number] | null = null
    const apply = (range: [number, number] | null, d: number): void => {
      if (range === null) return
      for (let i = range[0]; i <= range[1]; i++) this.#boost[i] = Math.max(0, this.#boost[i]! + d)
      this.#updatePriorities(range[0], range[1])
    }
    const move = (f: number, l: number): void => {
      if (window !== null && window[0] === f && window[1] === l) return
      const old = window
      window = [f, l]
      apply(window, 1)
      apply(old, -1)
    }
    move(first, last)
    return {
      move,
      release: () => { const old = window; window = null; apply(old, -1); deadlines?.release() },
      progress: (position, waiting) => deadlines?.progress(position, waiting)
    }
  }

  // ---- state ------------------------------------------------------------------------------------------------

  stats (): TorrentStats {
    let downloadRate = 0
    let uploadRate = 0
    if (this.#swarm !== null) {
      for (const [, wire] of this.#swarm.wires()) {
        downloadRate += wire.downloadRate()
        uploadRate += wire.uploadRate()
      }
    }
    return {
      pieceCount: this.meta.pieceCount,
      piecesHave: this.ledger.writtenWantedPieces,
      piecesWanted: this.ledger.wantedPieces,
      bytesHave: this.ledger.writtenWantedBytes,
      bytesWanted: this.ledger.wantedBytes,
      downloaded: this.#scheduler?.downloaded ?? 0,
      uploaded: this.#uploader?.uploaded ?? 0,
      wasted: this.#scheduler?.wasted ?? 0,
      downloadRate,
      uploadRate,
      peersConnected: this.#swarm?.connected ?? 0,
      peersKnown: this.#swarm?.known ?? 0,
      endgame: this.ledger.endgame,
      done: this.ledger.complete
    }
  }

  /** The connected peers' wires, by peer key (read-only use: displays, tests, scripts). */
  wires (): Array<[string, Wire]> {
    return this.#swarm === null ? [] : [...this.#swarm.wires()]
  }

  /** How many connected peers have each piece (for the availability map). */
  availability (): Uint16Array {
    const out = new Uint16Array(this.meta.pieceCount)
    for (let i = 0; i < out.length; i++) out[i] = Math.min(65535, this.ledger.availability(i))
    return out
  }

  /** Stop everything and close the files. */
  async destroy (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#unsubscribe()
    this.#deadlines?.close()
    this.#swarm?.close()
    this.#uploader?.close()
    this.#scheduler?.destroy()
    this.#verifier?.destroy()
    this.#sink?.destroy()
    await this.#worker?.close()
    await this.store.close()
  }

  /** The same as destroy (the name the CLI and older scripts use). */
  async close (): Promise<void> { await this.destroy() }

  // ---- composition ------------------------------------------------------------------------------------------

  #startPipeline (): void {
    const router = this.#opts.streaming?.router
    const scheduler = createScheduler(this.ledger, {
      clock: this.#clock,
      ...(this.#deadlines !== null ? { router: (picker) => new DeadlineRouter(this.ledger, picker, router) } : {}),
      ...this.#opts.scheduler,
      ...(this.#opts.streaming?.sequential === true ? { picker: { ...this.#opts.scheduler?.picker, ...sequentialPicker(this.meta.pieceCount) } } : {}),
      endWhenVerified: false
    })
    const verifier = createVerifier(this.meta, { ledger: this.ledger, ...(this.#worker !== null ? { hasher: this.#worker } : {}) })
    const sink = createSink(this.store, { ledger: this.ledger })
    this.#scheduler = scheduler
    this.#verifier = verifier
    this.#sink = sink
    verifier.on('piece-invalid', (info) => this.emit('piece-invalid', info))
    scheduler.on('peer-banned', (info) => {
      this.#swarm?.ban(info.id)
      this.emit('peer-banned', info)
    })
    pump(scheduler, verifier, sink, (err) => {
      if (this.#closed) return
      this.emit('error', err ?? new ZentorrentError('IO_ERROR', 'the download pipeline ended unexpectedly'))
    })
  }

  #onLedger (change: LedgerChange): void {
    if (change.type === 'state' && change.state === PieceState.Written) {
      this.#broadcastHave(change.index)
      if (this.#ready) this.emit('piece-written', change.index)
    }
    if (change.type === 'complete' && change.written && this.#ready && !this.#closed) this.emit('done')
  }

  /**
   * Tell every connected peer (the swarm's wires: a piece written after the last verified one must still be
   * announced, or peers never see us complete).
   */
  #broadcastHave (index: number): void {
    if (this.#swarm === null) return
    for (const [, wire] of this.#swarm.wires()) if (!wire.destroyed && wire.handshakeComplete) wire.have(index)
  }

  #onWire (wire: Wire, id: string): void {
    this.emit('peer-connected', id)
    // BEP 10: tell the peer how many requests we queue (`reqq`) and where we listen (`p`). A peer that does not
    // know our `reqq` assumes its own (libtorrent: 500+), overruns ours and is rejected, then dropped as a flood.
    if (wire.supportsExtended) {
      wire.extendedHandshake({ v: `zentorrent ${VERSION}`, ...(this.#opts.port !== undefined && this.#opts.port > 0 ? { p: this.#opts.port } : {}) })
    }
    const have = this.ledger.count(PieceState.Written)
    // BEP 6: a peer with the Fast Extension gets have-all / have-none instead of a bitfield
    if (wire.supportsFast && have === this.meta.pieceCount) wire.haveAll()
    else if (wire.supportsFast && have === 0) wire.haveNone()
    else if (have > 0) wire.bitfield(this.#bitfield())
    // BEP 6: a newcomer may fetch a few pieces while choked, so it has something to trade soon
    if (wire.supportsFast && have > 0) {
      for (const index of allowedFastSet(hostOfKey(id), this.meta.infoHash, this.meta.pieceCount)) {
        if (this.ledger.written(index)) wire.allowedFast(index)
      }
    }
    this.#uploader?.addPeer(wire, id)
    this.#scheduler?.addPeer(id, wire)
  }

  #bitfield (): BitField {
    const bits = new BitField(this.meta.pieceCount)
    for (let i = 0; i < this.meta.pieceCount; i++) if (this.ledger.written(i)) bits.set(i)
    return bits
  }
}

/** Indexes of the files with bytes in the torrent range [start, end). */
function * fileIndexesIn (files: readonly TorrentFile[], start: number, end: number): Generator<number> {
  // binary search for the first file ending after `start`
  let lo = 0
  let hi = files.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (files[mid]!.offset + files[mid]!.length <= start) lo = mid + 1
    else hi = mid
  }
  for (let i = lo; i < files.length && files[i]!.offset < end; i++) if (files[i]!.length > 0) yield i
}
