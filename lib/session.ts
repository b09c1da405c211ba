/**
 * A session: one torrent, composed from the stages. It owns nothing the stages own; it wires them:
 *
 *   peer sources (trackers, --peer, incoming) → Swarm → wires → Scheduler ──pump──▶ Verifier ──pump──▶ Sink
 *                                                       ▲        (blocks)          (verified pieces)   │
 *                                                       └──── have / interest ◀── 'piece-written' ◀────┘
 *
 * Resume first: existing data is hashed ('checking') and only missing pieces are requested. A piece counts as
 * ours (announced with `have`, served to others, reported as progress) once it is on disk.
 */
import { EventEmitter } from 'node:events'
import pump from 'pump'
import type { Metainfo } from './metainfo.js'
import { Picker } from './scheduler/picker.js'
import { Scheduler, type SchedulerOptions } from './scheduler/scheduler.js'
import { Verifier } from './verify.js'
import { Sink } from './sink.js'
import { Storage } from './storage.js'
import { checkExisting, type CheckProgress } from './resume.js'
import { Swarm, type PeerAddress } from './swarm.js'
import type { Wire } from './wire/wire.js'
import { generatePeerId } from './wire/handshake.js'
import { BitField } from './wire/bitfield.js'
import { allowedFastSet } from './wire/allowed-fast.js'
import { Uploader, type UploaderOptions } from './uploader.js'
import { ZentorrentError } from './errors.js'
import { VERSION } from './version.js'

export interface SessionOptions {
  /** Output directory. */
  output: string
  peerId?: Buffer
  /** Port we accept peers on (announced to trackers); 0 if we do not listen. */
  port?: number
  /** Indexes of the files to download; all when absent. */
  select?: readonly number[]
  maxConnections?: number
  scheduler?: SchedulerOptions
  uploader?: UploaderOptions
  /** Keep running (serving peers) after the download completes. */
  seed?: boolean
  /** Streaming: pieces from `start` on, `length` of them, are preferred (the play position's window). */
  connectTimeout?: number
}

export interface SessionStats {
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

export interface SessionEvents {
  checking: [progress: CheckProgress]
  ready: [info: { have: number, wanted: number }]
  'piece-written': [index: number]
  'piece-invalid': [info: { index: number, peers: string[] }]
  'peer-connected': [id: string]
  'peer-closed': [id: string, err: Error | null]
  'peer-banned': [info: { id: string, strikes: number }]
  done: []
  error: [err: Error]
}

export class Session extends EventEmitter<SessionEvents> {
  readonly meta: Metainfo
  readonly peerId: Buffer
  readonly storage: Storage
  readonly picker: Picker
  readonly #opts: SessionOptions
  readonly #wanted: Uint8Array
  readonly #written: Uint8Array
  #writtenCount = 0
  #wantedCount = 0
  #scheduler: Scheduler | null = null
  #verifier: Verifier | null = null
  #swarm: Swarm | null = null
  #uploader: Uploader | null = null
  #done = false
  #closed = false
  #pending: PeerAddress[] = []

  constructor (meta: Metainfo, opts: SessionOptions) {
    super()
    this.meta = meta
    this.#opts = opts
    this.peerId = opts.peerId ?? generatePeerId()
    const selected = opts.select === undefined ? undefined : new Set(opts.select)
    this.storage = new Storage(meta, opts.output, selected === undefined ? {} : { selected })
    this.picker = new Picker({ pieceCount: meta.pieceCount, pieceLength: meta.pieceLength, lastPieceLength: meta.lastPieceLength })
    this.#wanted = new Uint8Array(meta.pieceCount)
    this.#written = new Uint8Array(meta.pieceCount)
    if (selected === undefined) {
      this.#wanted.fill(1)
    } else {
      for (const fileIndex of selected) {
        const file = meta.files[fileIndex]
        if (file === undefined || file.pad) throw new ZentorrentError('BAD_SELECTION', `no file ${fileIndex} in this torrent`)
        const range = this.storage.fileMap.piecesForFile(fileIndex)
        if (range === null) continue
        for (let i = range.first; i <= range.last; i++) this.#wanted[i] = 1
      }
      this.picker.setWanted((i) => this.#wanted[i] === 1)
    }
    for (let i = 0; i < meta.pieceCount; i++) this.#wantedCount += this.#wanted[i]!
  }

  get done (): boolean { return this.#done }
  get scheduler (): Scheduler | null { return this.#scheduler }

  /** Whether a piece is on disk (verified): what we announce and serve. */
  hasPiece (index: number): boolean { return this.#written[index] === 1 }

  /** Create files, check what is there, then (unless complete) start downloading. */
  async start (): Promise<void> {
    await this.storage.prepare()
    const valid = await checkExisting(this.storage, this.meta, {
      wanted: (i) => this.#wanted[i] === 1,
      onProgress: (p) => this.emit('checking', p)
    })
    for (const index of valid) this.#markWritten(index)
    for (const index of valid) this.picker.markHave(index)
    this.emit('ready', { have: valid.length, wanted: this.#wantedCount })
    if (this.#closed) return
    this.#uploader = new Uploader(this, this.#opts.uploader)
    this.#swarm = new Swarm({
      wire: {
        peerId: this.peerId,
        infoHash: this.meta.infoHash,
        pieceCount: this.meta.pieceCount,
        pieceLength: this.meta.pieceLength,
        lastPieceLength: this.meta.lastPieceLength
      },
      ...(this.#opts.maxConnections !== undefined ? { maxConnections: this.#opts.maxConnections } : {}),
      ...(this.#opts.connectTimeout !== undefined ? { connectTimeout: this.#opts.connectTimeout } : {})
    })
    this.#swarm.on('wire', (wire, id) => this.#onWire(wire, id))
    this.#swarm.on('wire-closed', (id, err) => this.emit('peer-closed', id, err))
    if (this.#writtenCount === this.#wantedCount) {
      this.#complete()
    } else {
      this.#startPipeline()
    }
    for (const address of this.#pending.splice(0)) this.#swarm.add(address)
  }

  /** A peer to connect to (from a tracker or the user). */
  addPeer (address: PeerAddress): void {
    if (this.#closed) return
    if (this.#swarm === null) this.#pending.push(address)
    else if (!this.#done || this.#opts.seed === true) this.#swarm.add(address)
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

  stats (): SessionStats {
    let bytesHave = 0
    let downloadRate = 0
    let uploadRate = 0
    for (let i = 0; i < this.meta.pieceCount; i++) {
      if (this.#written[i] === 1 && this.#wanted[i] === 1) bytesHave += this.picker.pieceSize(i)
    }
    let bytesWanted = 0
    for (let i = 0; i < this.meta.pieceCount; i++) if (this.#wanted[i] === 1) bytesWanted += this.picker.pieceSize(i)
    if (this.#swarm !== null) {
      for (const [, wire] of this.#swarm.wires()) {
        downloadRate += wire.downloadRate()
        uploadRate += wire.uploadRate()
      }
    }
    return {
      pieceCount: this.meta.pieceCount,
      piecesHave: this.#writtenCount,
      piecesWanted: this.#wantedCount,
      bytesHave,
      bytesWanted,
      downloaded: this.#scheduler?.downloaded ?? 0,
      uploaded: this.#uploader?.uploaded ?? 0,
      wasted: this.#scheduler?.wasted ?? 0,
      downloadRate,
      uploadRate,
      peersConnected: this.#swarm?.connected ?? 0,
      peersKnown: this.#swarm?.known ?? 0,
      endgame: this.#scheduler?.inEndgame ?? false,
      done: this.#done
    }
  }

  /** The connected peers' wires, by peer key (read-only use: displays, tests, scripts). */
  wires (): Array<[string, Wire]> {
    return this.#swarm === null ? [] : [...this.#swarm.wires()]
  }

  /** How many connected peers have each piece (for the availability map). */
  availability (): Uint16Array {
    const out = new Uint16Array(this.meta.pieceCount)
    for (let i = 0; i < out.length; i++) out[i] = Math.min(65535, this.picker.availability(i))
    return out
  }

  /** Prefer pieces from `start` on (streaming). */
  setWindow (start: number, length: number): void {
    this.picker.setWindow(start, length)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#swarm?.close()
    this.#uploader?.close()
    this.#scheduler?.destroy()
    this.#verifier?.destroy()
    await this.storage.close()
  }

  #startPipeline (): void {
    const verifier = new Verifier(this.meta)
    this.#verifier = verifier
    const scheduler = new Scheduler(this.picker, {
      ...this.#opts.scheduler,
      // what waits to be released downstream: pieces being hashed, verified pieces not yet written
      downstreamBytes: () => verifier.hashingBytes + verifier.readableLength * this.meta.pieceLength +
        sink.writableLength * this.meta.pieceLength
    })
    this.#scheduler = scheduler
    const sink = new Sink(this.storage)
    verifier.on('piece-verified', (index) => scheduler.pieceVerified(index))
    verifier.on('piece-invalid', (info) => {
      scheduler.pieceInvalid(info.index, info.peers)
      this.emit('piece-invalid', info)
    })
    scheduler.on('peer-banned', (info) => {
      this.#swarm?.ban(info.id)
      this.emit('peer-banned', info)
    })
    sink.on('piece-written', (index) => {
      scheduler.kick()
      this.#markWritten(index)
      this.#broadcastHave(index)
      this.emit('piece-written', index)
    })
    pump(scheduler, verifier, sink, (err) => {
      if (this.#closed) return
      if (err !== undefined && err !== null) {
        this.emit('error', err)
        return
      }
      this.#complete()
    })
  }

  /**
   * Tell every connected peer (the swarm's wires, not the scheduler's: the scheduler ends when the last piece is
   * verified, before that piece is on disk, and its `have` must still go out — or peers never see us complete).
   */
  #broadcastHave (index: number): void {
    if (this.#swarm === null) return
    for (const [, wire] of this.#swarm.wires()) if (!wire.destroyed && wire.handshakeComplete) wire.have(index)
  }

  #markWritten (index: number): void {
    if (this.#written[index] === 1) return
    this.#written[index] = 1
    if (this.#wanted[index] === 1) this.#writtenCount++
  }

  #onWire (wire: Wire, id: string): void {
    this.emit('peer-connected', id)
    // BEP 10: tell the peer how many requests we queue (`reqq`) and where we listen (`p`). A peer that does not
    // know our `reqq` assumes its own (libtorrent: 500+), overruns ours and is rejected, then dropped as a flood.
    if (wire.supportsExtended) {
      wire.extendedHandshake({ v: `zentorrent ${VERSION}`, ...(this.#opts.port !== undefined && this.#opts.port > 0 ? { p: this.#opts.port } : {}) })
    }
    // BEP 6: a peer with the Fast Extension gets have-all / have-none instead of a bitfield
    const have = this.#writtenCount
    if (wire.supportsFast && have === this.meta.pieceCount) wire.haveAll()
    else if (wire.supportsFast && have === 0) wire.haveNone()
    else if (have > 0) wire.bitfield(this.#bitfield())
    // BEP 6: a newcomer may fetch a few pieces while choked, so it has something to trade soon
    if (wire.supportsFast && this.#writtenCount > 0) {
      for (const index of allowedFastSet(hostOf(id), this.meta.infoHash, this.meta.pieceCount)) {
        if (this.#written[index] === 1) wire.allowedFast(index)
      }
    }
    this.#uploader?.addPeer(wire, id)
    this.#scheduler?.addPeer(id, wire)
  }

  #bitfield (): BitField {
    const bits = new BitField(this.meta.pieceCount)
    for (let i = 0; i < this.meta.pieceCount; i++) if (this.#written[i] === 1) bits.set(i)
    return bits
  }

  #complete (): void {
    if (this.#done) return
    this.#done = true
    this.emit('done')
  }
}

/** The host part of a peer key made by `addressKey` (`host:port` or `[v6]:port`). */
function hostOf (id: string): string {
  return id.startsWith('[') ? id.slice(1, id.indexOf(']')) : id.slice(0, id.lastIndexOf(':'))
}
