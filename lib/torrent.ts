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
 * - A torrent may start from its info hash alone (a magnet link): the swarm runs and the BEP 9 exchange
 *   (lib/metadata/) fetches the info dictionary from the peers, SHA1-checked against the info hash; then the ledger,
 *   the store and the pipeline are made and the wires already connected are taught the piece count (`setShape`),
 *   greeted with our bitfield and handed to the scheduler and the uploader — the same process, no restart. Until
 *   then `files` is empty and `meta`, `ledger` and `store` throw NO_METADATA.
 * - One BEP 10 handshake per wire, composed from each extension's part (lib/wire/extensions.ts).
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
import { Swarm, type ConnectionInfo, type SwarmOptions } from './swarm.js'
import { Pex, PEX_FLAGS, type PexOptions } from './discovery/pex.js'
import type { EncryptionPolicy } from './wire/mse/policy.js'
import type { PeerSource } from './peers/peer-book.js'
import { hostOfKey, type PeerAddress } from './peers/address.js'
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
import { oncePerTurn, systemClock, type Clock } from './clock.js'
import { VERSION } from './version.js'
import { MetadataExchange } from './metadata/exchange.js'
import type { MetadataFetchStats } from './metadata/fetcher.js'
import { composeExtendedHandshake } from './wire/extensions.js'
import type { MseMethod } from './wire/mse/handshake.js'

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
  /** Our DHT node's UDP port (BEP 5: the handshake's DHT bit, and a `port` message to peers that run one). */
  dhtPort?: number
  /** MSE/PE for outgoing connections (incoming ones follow the listener's): prefer (default), require, disable. */
  encryption?: EncryptionPolicy
  /** Connection limits and the peer book's tunables. */
  swarm?: Pick<SwarmOptions, 'maxConnecting' | 'maxPerHost' | 'idleGrace' | 'book'>
  /** Peer exchange (BEP 11), default on; never for a private torrent (BEP 27). */
  pex?: boolean | Pick<PexOptions, 'allowLocal'>
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

/** What a torrent started from a magnet link knows before its metadata. */
export interface MetadataLessSource {
  readonly infoHash: Buffer
  /** The magnet's `dn`, for displays. */
  readonly name?: string
}

export interface TorrentEvents {
  /** The info dictionary arrived (only for a torrent started without it). */
  metadata: [meta: Metainfo]
  'metadata-progress': [stats: MetadataFetchStats]
  checking: [progress: CheckProgress]
  ready: [info: { have: number, wanted: number }]
  'piece-written': [index: number]
  'piece-invalid': [info: { index: number, peers: string[] }]
  'peer-connected': [id: string, info: ConnectionInfo]
  /** A peer's BEP 5 `port` message: its DHT node (the client adds it to the routing table). */
  'dht-node': [address: PeerAddress]
  'peer-closed': [id: string, err: Error | null]
  'peer-banned': [info: BanReason]
  done: []
  /** Something a user should know that does not stop the torrent (a DHT that could not start …). */
  warning: [err: Error]
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
  readonly infoHash: Buffer
  readonly peerId: Buffer
  /** The magnet's display name until the metadata says. */
  readonly #displayName: string | undefined
  #meta: Metainfo | null = null
  #ledger: PieceLedger | null = null
  #store: PieceStore | null = null
  #files: readonly TorrentFileHandle[] = []
  readonly #exchange: MetadataExchange
  readonly #opts: TorrentOptions
  readonly #clock: Clock
  readonly #worker: PieceWorker | null
  #filePriority: Uint8Array = new Uint8Array(0)
  /** Readers' windows over each piece (a count per piece). */
  #boost: Uint16Array = new Uint16Array(0)
  /** Pipeline and uploads running (metadata known, resume check done). */
  #serving = false
  /** Readers' deadlines (null: streaming.deadlines false, or no metadata yet). */
  #deadlines: DeadlineBoard | null = null
  #scheduler: Scheduler | null = null
  #verifier: Verifier | null = null
  #sink: Sink | null = null
  #swarm: Swarm | null = null
  #uploader: Uploader | null = null
  #started = false
  /** The resume check is done: 'done' may be emitted. */
  #ready = false
  #closed = false
  /** Pieces written this event-loop turn, announced together at its end (#broadcastHave). */
  readonly #haves: number[] = []
  readonly #announceHaves = oncePerTurn(() => {
    const haves = this.#haves.splice(0)
    if (this.#swarm === null) return
    for (const [, wire] of this.#swarm.wires()) {
      if (wire.destroyed || !wire.handshakeComplete) continue
      for (const i of haves) wire.have(i)
    }
  })
  #pending: Array<[PeerAddress, PeerSource]> = []
  #pex: Pex | null = null
  #unsubscribe: () => void = () => {}

  constructor (source: Metainfo | MetadataLessSource, opts: TorrentOptions) {
    super()
    this.infoHash = source.infoHash
    this.#opts = opts
    this.#clock = opts.clock ?? systemClock
    this.peerId = opts.peerId ?? generatePeerId()
    this.#worker = opts.worker === undefined ? new PieceWorker() : opts.worker
    const meta = isMetainfo(source) ? source : null
    this.#displayName = meta?.name ?? source.name
    this.#exchange = new MetadataExchange({ infoHash: this.infoHash, infoBytes: meta?.infoBytes ?? null, clock: this.#clock })
    this.#exchange.on('progress', (stats) => this.emit('metadata-progress', stats))
    this.#exchange.on('peer-dropped', (peer) => this.#swarm?.ban(peer.label))
    this.#exchange.on('error', (err) => this.emit('error', err))
    this.#exchange.on('metadata', (m) => { this.#onMetadata(m) })
    if (meta !== null) this.#setup(meta)
    else if (opts.store !== undefined) throw new ZentorrentError('BAD_ARGUMENT', 'a store needs the torrent\'s metadata: give a Metainfo')
  }

  /** Ledger, store, files and priorities for the metadata (at construction, or once it arrives). */
  #setup (meta: Metainfo): void {
    const opts = this.#opts
    this.#meta = meta
    this.#ledger = createLedger(meta)
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
      this.#store = opts.store
    } else {
      if (opts.output === undefined) throw new ZentorrentError('BAD_ARGUMENT', 'a torrent needs an output directory or a store')
      this.#store = new FileStore(meta, opts.output, {
        ...(selected !== null ? { selected } : {}),
        ...(this.#worker !== null ? { worker: this.#worker } : {}),
        ...(opts.replaceLinks === true ? { replaceLinks: true } : {})
      })
    }
    if (!meta.private && opts.pex !== false) {
      this.#pex = new Pex({
        private: false,
        clock: this.#clock,
        ...(typeof opts.pex === 'object' ? opts.pex : {}),
        onPeer: (address) => { this.addPeer(address, 'pex') }
      })
    }
    this.#files = Object.freeze(meta.files.map((file, i) => new TorrentFileHandle(this, i, file)))
    this.#updatePriorities(0, meta.pieceCount - 1)
    this.#unsubscribe = this.#ledger.onChange((change) => this.#onLedger(change))
  }

  /** Whether the info dictionary is known (always, unless the torrent started from a magnet link). */
  get hasMetadata (): boolean { return this.#meta !== null }
  get meta (): Metainfo { return this.#need(this.#meta) }
  get ledger (): PieceLedger { return this.#need(this.#ledger) }
  get store (): PieceStore { return this.#need(this.#store) }
  get files (): readonly TorrentFileHandle[] { return this.#files }
  /** The torrent's name: the metadata's, or the magnet's `dn` (or the info hash) until then. */
  get name (): string { return this.#meta?.name ?? this.#displayName ?? this.infoHash.toString('hex') }
  get done (): boolean { return this.#ledger?.complete ?? false }
  get scheduler (): Scheduler | null { return this.#scheduler }
  /** BEP 9 progress while the metadata is fetched (null once known). */
  metadataStats (): MetadataFetchStats | null {
    if (this.#meta !== null) return null
    return this.#exchange.stats() ?? { peers: 0, sources: 0, size: null, pieces: 0, piecesHave: 0, dropped: 0, givenUp: 0, refused: 0 }
  }

  #need<T> (value: T | null): T {
    if (value === null) throw new ZentorrentError('NO_METADATA', 'the torrent\'s metadata is not known yet (it is being fetched from peers)')
    return value
  }

  /** Whether a piece is on disk (verified): what we announce and serve. */
  hasPiece (index: number): boolean { return this.#ledger?.written(index) ?? false }

  /** Open the store, check what is there, then start downloading and serving (a magnet: fetch the metadata first). */
  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    if (this.#meta !== null) await this.#prepare()
    if (this.#closed) return
    this.#swarm = new Swarm({
      wire: { peerId: this.peerId, infoHash: this.infoHash, ...this.#shape(), ...(this.#opts.dhtPort !== undefined ? { dht: true } : {}) },
      clock: this.#clock,
      ...this.#opts.swarm,
      ...(this.#opts.encryption !== undefined ? { encryption: this.#opts.encryption } : {}),
      ...(this.#opts.maxConnections !== undefined ? { maxConnections: this.#opts.maxConnections } : {}),
      ...(this.#opts.connectTimeout !== undefined ? { connectTimeout: this.#opts.connectTimeout } : {})
    })
    this.#swarm.on('wire', (wire, id, info) => this.#onWire(wire, id, info))
    this.#swarm.on('wire-closed', (id, err) => this.emit('peer-closed', id, err))
    if (this.#meta !== null) this.#serve()
    for (const [address, source] of this.#pending.splice(0)) this.#swarm.add(address, source)
  }

  /** Where our peers come from and how they fare (the peer book's counts), for displays. */
  peerStatus (): ReturnType<Swarm['status']> | null { return this.#swarm?.status() ?? null }

  /** How each connection is encrypted, by peer key. */
  connection (id: string): ConnectionInfo | undefined { return this.#swarm?.info(id) }

  /** The geometry a wire is told, when known. */
  #shape (): { pieceCount?: number, pieceLength?: number, lastPieceLength?: number } {
    const meta = this.#meta
    return meta === null ? {} : { pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength }
  }

  /** Open the store and hash what it already holds (resume). */
  async #prepare (): Promise<void> {
    const store = this.store
    await store.open()
    const valid = await checkExisting(store, this.ledger, this.meta, { onProgress: (p) => this.emit('checking', p) })
    this.#ready = true
    this.emit('ready', { have: valid.length, wanted: this.ledger.wantedPieces })
  }

  /** Uploads and the pipeline; then every wire connected so far joins them. */
  #serve (): void {
    if (this.#closed || this.#serving) return
    this.#serving = true
    const ledger = this.ledger
    this.#uploader = new Uploader({
      store: this.store,
      geometry: ledger.geometry,
      get done () { return ledger.complete },
      hasPiece: (i) => ledger.written(i)
    }, { clock: this.#clock, ...this.#opts.uploader })
    this.#startPipeline()
    if (ledger.complete) this.emit('done')
    for (const [id, wire] of this.#swarm?.wires() ?? []) if (!wire.destroyed) this.#join(wire, id, true)
  }

  /** The metadata arrived (BEP 9): set up, teach the wires the piece count, resume, serve. */
  #onMetadata (meta: Metainfo): void {
    if (this.#meta !== null || this.#closed) return
    try {
      this.#setup(meta)
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
      return
    }
    this.#swarm?.setShape(this.#shape())
    for (const [id, wire] of this.#swarm?.wires() ?? []) {
      if (!wire.setShape(meta)) continue // its bitfield did not fit the torrent: dropped
      const info = this.#swarm?.info(id)
      if (this.#pex !== null && info !== undefined) this.#pexAttach(wire, info)
    }
    this.emit('metadata', meta)
    this.#prepare().then(() => this.#serve(), (err: Error) => this.emit('error', err))
  }

  /** A peer to connect to, and where we heard of it (a tracker, the DHT, PEX, LSD, the user). */
  addPeer (address: PeerAddress, source: PeerSource = 'manual'): void {
    if (this.#closed) return
    if (this.#swarm === null) this.#pending.push([address, source])
    else this.#swarm.add(address, source)
  }

  /** An incoming connection whose handshake named our info hash. */
  attachIncoming (wire: Wire, id: string, encryption: MseMethod | null = null): void {
    if (this.#swarm === null || this.#closed) { wire.destroy(); return }
    wire.accept({ infoHash: this.infoHash, ...this.#shape() })
    this.#swarm.attach(wire, id, encryption)
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
    const store = this.store
    if (file.pad) throw new ZentorrentError('BAD_SELECTION', `file ${index} of this torrent is padding, not data`)
    const before = this.#filePriority[index]!
    this.#filePriority[index] = Math.max(1, Math.min(PRIORITY.top, priority))
    if (before === 0 && store instanceof FileStore) {
      // bytes already verified for it move out of the part file before more arrive
      store.store(index, (i) => this.ledger.written(i)).catch((err: Error) => this.emit('error', err))
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
    const file = this.#meta?.files[index]
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
        priority = highestIn(meta.files, start, end, this.#filePriority)
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
    const ledger = this.#ledger
    return {
      pieceCount: ledger?.pieceCount ?? 0,
      piecesHave: ledger?.writtenWantedPieces ?? 0,
      piecesWanted: ledger?.wantedPieces ?? 0,
      bytesHave: ledger?.writtenWantedBytes ?? 0,
      bytesWanted: ledger?.wantedBytes ?? 0,
      downloaded: this.#scheduler?.downloaded ?? 0,
      uploaded: this.#uploader?.uploaded ?? 0,
      wasted: this.#scheduler?.wasted ?? 0,
      downloadRate,
      uploadRate,
      peersConnected: this.#swarm?.connected ?? 0,
      peersKnown: this.#swarm?.known ?? 0,
      endgame: ledger?.endgame ?? false,
      done: ledger?.complete ?? false
    }
  }

  /** The connected peers' wires, by peer key (read-only use: displays, tests, scripts). */
  wires (): Array<[string, Wire]> {
    return this.#swarm === null ? [] : [...this.#swarm.wires()]
  }

  /** How many connected peers have each piece (for the availability map). */
  availability (): Uint16Array {
    const ledger = this.#ledger
    const out = new Uint16Array(ledger?.pieceCount ?? 0)
    for (let i = 0; i < out.length; i++) out[i] = Math.min(65535, ledger!.availability(i))
    return out
  }

  /** Stop everything and close the files. */
  async destroy (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#unsubscribe()
    this.#announceHaves.cancel()
    this.#deadlines?.close()
    this.#swarm?.close()
    this.#uploader?.close()
    this.#scheduler?.destroy()
    this.#verifier?.destroy()
    this.#sink?.destroy()
    this.#exchange.destroy()
    this.#pex?.close()
    await this.#worker?.close()
    await this.#store?.close()
  }

  /** The same as destroy (the name the CLI and older scripts use). */
  async close (): Promise<void> { await this.destroy() }

  // ---- composition ------------------------------------------------------------------------------------------

  #startPipeline (): void {
    // pieces to fetch: the worker that hashes and writes them boots while the first requests go out
    if (!this.ledger.verifiedAll) this.#worker?.warm()
    const router = this.#opts.streaming?.router
    const scheduler = createScheduler(this.ledger, {
      clock: this.#clock,
      ...(this.#deadlines !== null ? { router: (picker) => new DeadlineRouter(this.ledger, picker, router) } : {}),
      ...this.#opts.scheduler,
      ...(this.#opts.streaming?.sequential === true ? { picker: { ...this.#opts.scheduler?.picker, ...sequentialPicker() } } : {}),
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
    // Collected for the rest of this event-loop turn: pieces are reported written one per callback, and each peer
    // gets one socket write for all of them (with 16 KiB pieces, one write per piece per peer was 65536 per GiB).
    this.#haves.push(index)
    this.#announceHaves.soon()
  }

  #onWire (wire: Wire, id: string, info: ConnectionInfo): void {
    this.emit('peer-connected', id, info)
    // BEP 10, one handshake composed from every extension's part: `reqq` (a peer that does not know ours assumes
    // its own, overruns ours and is rejected), `p` where we listen, ut_metadata with our metadata_size, ut_pex
    if (wire.supportsExtended) wire.extendedHandshake(this.#extendedHandshake())
    this.#exchange.attach(wire, id)
    if (this.#pex !== null) this.#pexAttach(wire, info)
    // BEP 10 `p`: an incoming peer's listen port is an address others (and we, later) can dial
    wire.on('extended-handshake', (dict) => {
      if (!info.outgoing && dict.p !== undefined) {
        const listen = { host: info.address.host, port: dict.p }
        this.#swarm?.book.add(listen, 'incoming', this.#clock.now(), wire.peerId !== null ? { peerId: wire.peerId } : {})
        this.#pex?.peerUpdated(wire, { listen })
      }
    })
    // BEP 5: a peer's DHT node, and ours
    wire.on('port', (port: number) => { this.emit('dht-node', { host: info.address.host, port }) })
    const dhtPort = this.#opts.dhtPort
    if (dhtPort !== undefined && dhtPort > 0 && wire.supportsDht) wire.port(dhtPort)
    if (this.#serving) this.#join(wire, id, false)
    else if (wire.supportsFast) wire.haveNone() // BEP 6: nothing yet, said as libtorrent says it
  }

  /** PEX learns of a connected peer: where others can dial it, and its flags. */
  #pexAttach (wire: Wire, info: ConnectionInfo): void {
    const pex = this.#pex!
    pex.attach(wire)
    const flags = (info.outgoing ? PEX_FLAGS.reachable : 0) | (info.encryption !== null ? PEX_FLAGS.encryption : 0)
    pex.peerConnected(wire, { remote: info.address, listen: info.outgoing ? info.address : null, flags })
    wire.once('have-all', () => { pex.peerUpdated(wire, { flags: flags | PEX_FLAGS.seed }) })
  }

  #extendedHandshake (): ReturnType<typeof composeExtendedHandshake> {
    const port = this.#opts.port
    return composeExtendedHandshake([
      { v: `zentorrent ${VERSION}`, ...(port !== undefined && port > 0 ? { p: port } : {}) },
      this.#exchange.handshakePart(),
      this.#pex?.handshakePart() ?? {}
    ])
  }

  /**
   * A wire joins the download and the uploads: what we have, allowed-fast grants, the scheduler and the uploader.
   * `late`: it connected before the metadata, so it has heard have-none (Fast) or nothing, and a BEP 10 handshake
   * without our metadata_size. BEP 3 and 6 allow a bitfield, have-all or have-none only as the first message, so
   * it hears `have` for each piece we hold instead, and a second extended handshake (BEP 10 allows that).
   */
  #join (wire: Wire, id: string, late: boolean): void {
    const meta = this.meta
    const ledger = this.ledger
    const have = ledger.count(PieceState.Written)
    if (late) {
      if (wire.supportsExtended) wire.extendedHandshake(this.#extendedHandshake())
      for (let i = 0; i < meta.pieceCount && have > 0; i++) if (ledger.written(i)) wire.have(i)
    } else if (wire.supportsFast && have === meta.pieceCount) {
      wire.haveAll() // BEP 6: have-all / have-none instead of a bitfield
    } else if (wire.supportsFast && have === 0) {
      wire.haveNone()
    } else if (have > 0) {
      wire.bitfield(this.#bitfield())
    }
    // BEP 6: a newcomer may fetch a few pieces while choked, so it has something to trade soon
    if (wire.supportsFast && have > 0) {
      for (const index of allowedFastSet(hostOfKey(id), meta.infoHash, meta.pieceCount)) {
        if (ledger.written(index)) wire.allowedFast(index)
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

function isMetainfo (source: Metainfo | MetadataLessSource): source is Metainfo {
  return 'pieces' in source && 'files' in source
}

/** The highest of `priorities` over the files with bytes in the torrent range [start, end) (0: none). A loop, not a
 * generator: it runs for every piece when a torrent starts (65,536 times for 16 KiB pieces of a GiB). */
function highestIn (files: readonly TorrentFile[], start: number, end: number, priorities: ArrayLike<number>): number {
  // binary search for the first file ending after `start`
  let lo = 0
  let hi = files.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (files[mid]!.offset + files[mid]!.length <= start) lo = mid + 1
    else hi = mid
  }
  let highest = 0
  for (let i = lo; i < files.length && files[i]!.offset < end; i++) if (files[i]!.length > 0) highest = Math.max(highest, priorities[i]!)
  return highest
}
